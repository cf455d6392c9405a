namespace Synera.Abstractions.Messages;

/// <summary>A verifier's load, published for load-aware offload control.</summary>
/// <param name="QueuedRequests">Requests waiting.</param>
/// <param name="P99VerifyMs">Recent p99 of enqueue-to-verdict time.</param>
/// <param name="MeanStepMs">Recent mean engine step time.</param>
/// <param name="KvCacheBytes">Bytes held by resident KV caches.</param>
/// <param name="LoadFactor">Multiplier in (0, 1] that sessions apply to their budgets (1 = no pressure).</param>
/// <param name="NumSessions">Sessions the engine holds (placement spreads them over verifier silos).</param>
/// <param name="BusyMs">The engine's forward time since it started (ms; with a cost model, the modelled time): the
/// difference of two reports is the cloud's busy time between them.</param>
/// <param name="Steps">Steps since the engine started.</param>
/// <param name="ProcessedTokens">Tokens through the model since the engine started.</param>
/// <param name="Overruns">Cost-modelled steps whose real forward took longer than the modelled time (0 without a model).</param>
[GenerateSerializer, Immutable]
public sealed record VerifierLoad(
    [property: Id(0)] int QueuedRequests,
    [property: Id(1)] double P99VerifyMs,
    [property: Id(2)] double MeanStepMs,
    [property: Id(3)] long KvCacheBytes,
    [property: Id(4)] double LoadFactor,
    [property: Id(5)] int NumSessions = 0,
    [property: Id(6)] double BusyMs = 0,
    [property: Id(7)] long Steps = 0,
    [property: Id(8)] long ProcessedTokens = 0,
    [property: Id(9)] long Overruns = 0);

using Synera.Abstractions.Sampling;

namespace Synera.Abstractions.Messages;

/// <summary>What a verifier needs to (re)build a session: its committed tokens and sampling settings.
/// Sent with the first request after a session opens, and again after a failover.</summary>
/// <param name="History">Committed tokens before the request's start position.</param>
/// <param name="Epoch">The session's epoch.</param>
/// <param name="Sampling">The session's sampling (greedy by default).</param>
/// <param name="LatencyTargetMs">The device's latency target (the scheduler's deadline).</param>
[GenerateSerializer, Immutable]
public sealed record SessionSetup(
    [property: Id(0)] int[] History,
    [property: Id(1)] int Epoch,
    [property: Id(2)] SamplingSettings Sampling,
    [property: Id(3)] double LatencyTargetMs);

using Synera.Abstractions.Sampling;

namespace Synera.Abstractions.Messages;

/// <summary>Per-session settings chosen by the device when it opens a session.</summary>
/// <param name="Budget">The session's offload budget.</param>
/// <param name="LatencyTargetMs">How long the device is willing to wait for a verdict; the scheduler's deadline.</param>
/// <param name="Temperature">0 for greedy verification, &gt; 0 for sampled generation at this temperature.</param>
/// <param name="Seed">The session's sampling seed: it fixes the noise both ends draw with (<see cref="CoupledSampler"/>).</param>
/// <param name="Tier">Fair-share group: sessions of one tier get the same load-driven budget cut; a tier's weight
/// (verifier option <c>TierWeights</c>) sets how hard it is cut relative to the others.</param>
[GenerateSerializer, Immutable]
public sealed record SessionOptions(
    [property: Id(0)] OffloadBudget Budget,
    [property: Id(1)] double LatencyTargetMs = 500,
    [property: Id(2)] float Temperature = 0f,
    [property: Id(3)] int Seed = 0,
    [property: Id(4)] string Tier = SessionOptions.DefaultTier,
    [property: Id(5)] float TopP = 1f,
    [property: Id(6)] int TopK = 0,
    [property: Id(7)] SamplingRule Rule = SamplingRule.Coupled)
{
    public SamplingSettings Sampling => new(Temperature, TopP, TopK, Seed, Rule);

    public const string DefaultTier = "default";
    /// <summary>The latency targets a session may ask for: the scheduler orders by deadline, so a target below the
    /// minimum (or NaN) would jump every queue.</summary>
    public const double MinLatencyTargetMs = 10, MaxLatencyTargetMs = 60_000;
}

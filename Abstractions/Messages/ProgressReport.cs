namespace Synera.Abstractions.Messages;

/// <summary>The device's drafting progress since its last report, and its policy state now.</summary>
/// <param name="NumGenerated">Tokens committed since the last report.</param>
/// <param name="NumOffloaded">Offloads since the last report, net of refused spans (can be negative when a refusal
/// arrives for a span reported before).</param>
/// <param name="BytesSent">Uplink bytes since the last report.</param>
/// <param name="Confidences">Score of each token committed since the last report (its draft's confidence / importance).</param>
/// <param name="Threshold">The device's current threshold.</param>
/// <param name="Credit">The device's account credit now.</param>
/// <param name="TargetRatio">The offload ratio the controller steers to now (the budget after load scaling).</param>
/// <param name="Demand">The controller's long-run demand: the fraction of its remembered tokens below the threshold.</param>
[GenerateSerializer, Immutable]
public sealed record ProgressReport(
    [property: Id(0)] int NumGenerated,
    [property: Id(1)] int NumOffloaded,
    [property: Id(2)] long BytesSent,
    [property: Id(3)] float[] Confidences,
    [property: Id(4)] double Threshold,
    [property: Id(5)] double Credit = 0,
    [property: Id(6)] double TargetRatio = 0,
    [property: Id(7)] double Demand = 0);

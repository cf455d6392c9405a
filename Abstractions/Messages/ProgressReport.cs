namespace Synera.Abstractions.Messages;

/// <summary>The device's drafting progress since its last report.</summary>
/// <param name="NumGenerated">Tokens generated since the last report.</param>
/// <param name="NumOffloaded">Of those, tokens flagged for verification.</param>
/// <param name="BytesSent">Uplink bytes since the last report.</param>
/// <param name="Confidences">Confidence of each generated token (the history the threshold adapts from).</param>
/// <param name="Threshold">The device's current threshold.</param>
[GenerateSerializer, Immutable]
public sealed record ProgressReport(
    [property: Id(0)] int NumGenerated,
    [property: Id(1)] int NumOffloaded,
    [property: Id(2)] long BytesSent,
    [property: Id(3)] float[] Confidences,
    [property: Id(4)] double Threshold);

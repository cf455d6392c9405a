namespace Synera.Grains;

/// <summary>The persisted state of a device: its long-run offload account and policy state (<see cref="DeviceGrain"/>).</summary>
[GenerateSerializer]
public sealed record class DeviceState
{
    [Id(0)] public bool Exists { get; set; }
    [Id(1)] public double Budget { get; set; }
    [Id(2)] public long NumGenerated { get; set; }
    [Id(3)] public long NumOffloaded { get; set; }
    [Id(4)] public double Credit { get; set; }
    [Id(5)] public double TargetRatio { get; set; }
    [Id(6)] public double Demand { get; set; }
    [Id(7)] public double Threshold { get; set; }
    /// <summary>The most recent confidences (at most <see cref="MaxHistory"/>), oldest first.</summary>
    [Id(8)] public List<float> RecentConfidences { get; set; } = [];
    /// <summary>Spans the cloud charged (its own count, which it enforces).</summary>
    [Id(9)] public long NumCharged { get; set; }
    [Id(10)] public long BytesSent { get; set; }
    /// <summary>The budget the cloud's cap is counted at, and the tokens and charges since it took effect: a new budget
    /// starts a new cap (a lowered budget must not condemn the device for what it spent under the old one).</summary>
    [Id(11)] public double CapBudget { get; set; } = -1;
    [Id(12)] public long GeneratedUnderCap { get; set; }
    [Id(13)] public long ChargedUnderCap { get; set; }

    public const int MaxHistory = 2048;   // the device's threshold controller remembers this many committed tokens
}

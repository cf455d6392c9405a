namespace Synera.DeviceClient.Link;

/// <summary>Emulated device↔cloud link and device speed. All zero (off) for real use.</summary>
/// <param name="RttMs">Round-trip time; each direction is delayed by half.</param>
/// <param name="BandwidthBitsPerSecond">Serialisation rate of each message (0 = unlimited).</param>
/// <param name="DeviceMsPerToken">Pace the SLM to this time per drafted token (e.g. 30 ms, like a phone
/// running a ~1B model); our SLM is far faster than a phone's, and latency results would otherwise mislead.</param>
public sealed record LinkOptions(double RttMs = 0, double BandwidthBitsPerSecond = 0, double DeviceMsPerToken = 0)
{
    public static LinkOptions None { get; } = new();
}

namespace Synera.DeviceClient.Link;

/// <summary>Emulated device↔cloud link and device speed. All zero (off) for real use.</summary>
/// <param name="RttMs">Round-trip time; each direction is delayed by half.</param>
/// <param name="BandwidthBitsPerSecond">Serialisation rate of each message (0 = unlimited).</param>
/// <param name="DeviceMsPerToken">Pace the SLM to this time per drafted token (e.g. 30 ms, like a phone
/// running a ~1B model); our SLM is far faster than a phone's, and latency results would otherwise mislead.</param>
/// <param name="JitterMs">Up to this much more delay per message and direction, uniformly (a mobile link's variation).</param>
/// <param name="LossRate">Share of messages whose first transmission is lost: TCP resends after <paramref name="RetransmitMs"/>,
/// and messages behind it wait (in order, as on one TCP connection).</param>
/// <param name="RetransmitMs">The retransmission timeout a loss costs (Linux's minimum, 200 ms).</param>
public sealed record LinkOptions(double RttMs = 0, double BandwidthBitsPerSecond = 0, double DeviceMsPerToken = 0,
    double JitterMs = 0, double LossRate = 0, double RetransmitMs = 200)
{
    public static LinkOptions None { get; } = new();
}

using Synera.Abstractions.Messages;

namespace Synera.DeviceClient.Generation;

/// <summary>What reaches the generation loop from the cloud side.</summary>
public abstract record DeviceEvent;

/// <summary>A verdict from the session's stream (after the emulated downlink delay).</summary>
public sealed record VerdictArrived(Verdict Verdict) : DeviceEvent;

/// <summary>The cloud refused a span (back-pressure): its drafts stay the device's own.</summary>
public sealed record SpanRefused(long Seq) : DeviceEvent;

/// <summary>A span whose call failed in transit (its silo was stopping, or it timed out): the device catches up from
/// its session grain at once rather than wait for a verdict that may never come.</summary>
public sealed record SpanLost(long Seq, string Reason) : DeviceEvent;

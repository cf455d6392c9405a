using System.Diagnostics.Metrics;

namespace Synera.DeviceClient.Generation;

/// <summary>The device's instruments (meter <c>Synera.Device</c>), recorded once per answer from its <see cref="GenerationStats"/>:
/// offload ratio and acceptance rate are the ratios of these counters.</summary>
public static class DeviceMetrics
{
    public const string MeterName = "Synera.Device";
    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Tokens = Meter.CreateCounter<long>("synera.device.tokens", "{token}", "committed output tokens");
    private static readonly Counter<long> Offloaded = Meter.CreateCounter<long>("synera.device.offloaded_tokens", "{token}", "committed tokens verified at the device's request");
    private static readonly Counter<long> Judged = Meter.CreateCounter<long>("synera.device.judged_drafts", "{token}", "drafts the cloud judged");
    private static readonly Counter<long> Accepted = Meter.CreateCounter<long>("synera.device.accepted_drafts", "{token}", "drafts the cloud accepted");
    private static readonly Counter<long> Corrections = Meter.CreateCounter<long>("synera.device.corrections", "{token}", "rollbacks to an LLM correction");
    private static readonly Counter<long> Bytes = Meter.CreateCounter<long>("synera.device.bytes", "By", "bytes on the link (direction = up | down)");
    private static readonly Counter<long> OverBudget = Meter.CreateCounter<long>("synera.device.over_budget", "{token}", "uncertain drafts the long-run account had no credit for");
    private static readonly Histogram<double> Tpot = Meter.CreateHistogram<double>("synera.device.tpot", "ms", "time per output token of an answer");
    private static readonly Histogram<double> Ttft = Meter.CreateHistogram<double>("synera.device.ttft", "ms", "time to first token of an answer");

    /// <summary>Records one finished answer, tagged with its mode.</summary>
    public static void Record(GenerationStats s)
    {
        var mode = new KeyValuePair<string, object?>("mode", s.Mode.ToString().ToLowerInvariant());
        Tokens.Add(s.NumTokens, mode);
        Offloaded.Add(s.NumOffloaded, mode);
        Judged.Add(s.NumJudged, mode);
        Accepted.Add(s.NumAccepted, mode);
        Corrections.Add(s.NumCorrections, mode);
        OverBudget.Add(s.NumOverBudget, mode);
        Bytes.Add(s.BytesUp, mode, new("direction", "up"));
        Bytes.Add(s.BytesDown, mode, new("direction", "down"));
        Ttft.Record(s.TimeToFirstTokenMs, mode);
        if (s.NumTokens > 1) Tpot.Record(s.TimePerOutputTokenMs, mode);
    }
}

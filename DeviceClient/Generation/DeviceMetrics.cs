using System.Diagnostics.Metrics;
using Synera.Abstractions;

namespace Synera.DeviceClient.Generation;

/// <summary>The device's instruments (meter <c>Synera.Device</c>), recorded once per answer from its <see cref="GenerationStats"/>.
/// The counters give the long-run ratios (offloaded / tokens, accepted / judged); the per-answer histograms show the
/// same ratios and the decoding speed answer by answer, as a dashboard lists them.</summary>
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
    private static readonly Histogram<double> Tpot = Histogram("synera.device.tpot", "ms", "time per output token of an answer", HistogramBuckets.Milliseconds);
    private static readonly Histogram<double> Ttft = Histogram("synera.device.ttft", "ms", "time to first token of an answer", HistogramBuckets.Milliseconds);
    private static readonly Histogram<double> OffloadRatio = Histogram("synera.device.offload_ratio", null, "offloaded / committed tokens of an answer", HistogramBuckets.Ratio);
    private static readonly Histogram<double> AcceptanceRate = Histogram("synera.device.acceptance_rate", null, "accepted / judged drafts of an answer", HistogramBuckets.Ratio);
    private static readonly Histogram<double> TokensPerSecond = Histogram("synera.device.tokens_per_second", "{token}/s", "decoding speed of an answer (1000 / TPOT)", HistogramBuckets.Rate);

    /// <summary>A histogram with bucket boundaries sized to its values (<see cref="HistogramBuckets"/>).</summary>
    private static Histogram<double> Histogram(string name, string? unit, string description, double[] buckets) =>
        Meter.CreateHistogram(name, unit, description, null, new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });

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
        if (s.NumTokens > 0) OffloadRatio.Record((double)s.NumOffloaded / s.NumTokens, mode);
        if (s.NumJudged > 0) AcceptanceRate.Record((double)s.NumAccepted / s.NumJudged, mode);
        if (s.NumTokens > 1)
        {
            Tpot.Record(s.TimePerOutputTokenMs, mode);
            if (s.TimePerOutputTokenMs > 0) TokensPerSecond.Record(1000 / s.TimePerOutputTokenMs, mode);
        }
    }
}

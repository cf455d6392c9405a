using System.Diagnostics.Metrics;

namespace Synera.Grains.Verification;

/// <summary>The verifier's instruments (meter <c>Synera.Verifier</c>), OpenTelemetry-ready.</summary>
public sealed class VerifierMetrics : IDisposable
{
    public const string MeterName = "Synera.Verifier";
    private readonly Meter meter;

    public VerifierMetrics(IMeterFactory? factory = null)
    {
        meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        // Bucket boundaries sized to the values (a dashboard reads percentiles off them; OpenTelemetry's defaults start at
        // 5 and put every batch of 1-4 and every step under 5 ms in one bucket).
        BatchSize = meter.CreateHistogram<int>("synera.verifier.batch_size", null, "requests per engine step", null, new InstrumentAdvice<int> { HistogramBucketBoundaries = CountBuckets });
        TokensPerStep = meter.CreateHistogram<int>("synera.verifier.tokens_per_step", "{token}", null, null, new InstrumentAdvice<int> { HistogramBucketBoundaries = CountBuckets });
        StepTime = meter.CreateHistogram<double>("synera.verifier.step_time", "ms", null, null, new InstrumentAdvice<double> { HistogramBucketBoundaries = MillisecondBuckets });
        QueueWait = meter.CreateHistogram<double>("synera.verifier.queue_wait", "ms", null, null, new InstrumentAdvice<double> { HistogramBucketBoundaries = MillisecondBuckets });
        VerifyLatency = meter.CreateHistogram<double>("synera.verifier.verify_latency", "ms", "enqueue to verdict", null, new InstrumentAdvice<double> { HistogramBucketBoundaries = MillisecondBuckets });
        DraftedTokens = meter.CreateCounter<long>("synera.verifier.drafted_tokens", "{token}");
        AcceptedTokens = meter.CreateCounter<long>("synera.verifier.accepted_tokens", "{token}");
        Evictions = meter.CreateCounter<long>("synera.verifier.kv_evictions");
        ReprefillTokens = meter.CreateCounter<long>("synera.verifier.reprefill_tokens", "{token}");
        ComputeTime = meter.CreateCounter<double>("synera.verifier.compute_time", "ms", "forward time, to divide by verified tokens");
    }

    /// <summary>Histogram buckets for milliseconds, from sub-millisecond steps to multi-second waits.</summary>
    public static readonly double[] MillisecondBuckets = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000];

    /// <summary>Histogram buckets for counts per step (requests, tokens).</summary>
    public static readonly int[] CountBuckets = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512, 1024, 2048];

    public Histogram<int> BatchSize { get; }
    public Histogram<int> TokensPerStep { get; }
    public Histogram<double> StepTime { get; }
    public Histogram<double> QueueWait { get; }
    public Histogram<double> VerifyLatency { get; }
    public Counter<long> DraftedTokens { get; }
    public Counter<long> AcceptedTokens { get; }
    public Counter<long> Evictions { get; }
    public Counter<long> ReprefillTokens { get; }
    public Counter<double> ComputeTime { get; }

    public void ObserveKvBytes(Func<long> read) => meter.CreateObservableGauge("synera.verifier.kv_cache_bytes", read, "By");

    public void ObserveLoadFactor(Func<double> read) =>
        meter.CreateObservableGauge("synera.verifier.load_factor", read, description: "multiplier sessions apply to their budgets (1 = no pressure)");

    public void Dispose() => meter.Dispose();
}

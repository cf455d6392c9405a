using System.Diagnostics.Metrics;
using Synera.Abstractions;

namespace Synera.Grains.Verification;

/// <summary>The verifier's instruments (meter <c>Synera.Verifier</c>), OpenTelemetry-ready.</summary>
public sealed class VerifierMetrics : IDisposable
{
    public const string MeterName = "Synera.Verifier";
    private readonly Meter meter;

    public VerifierMetrics(IMeterFactory? factory = null)
    {
        meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        // Bucket boundaries sized to the values (HistogramBuckets): a dashboard reads percentiles off them.
        BatchSize = Histogram("synera.verifier.batch_size", null, "requests per engine step", HistogramBuckets.Count);
        TokensPerStep = Histogram("synera.verifier.tokens_per_step", "{token}", null, HistogramBuckets.Count);
        StepTime = Histogram("synera.verifier.step_time", "ms", null, HistogramBuckets.Milliseconds);
        QueueWait = Histogram("synera.verifier.queue_wait", "ms", null, HistogramBuckets.Milliseconds);
        VerifyLatency = Histogram("synera.verifier.verify_latency", "ms", "enqueue to verdict", HistogramBuckets.Milliseconds);
        DraftedTokens = meter.CreateCounter<long>("synera.verifier.drafted_tokens", "{token}");
        AcceptedTokens = meter.CreateCounter<long>("synera.verifier.accepted_tokens", "{token}");
        Evictions = meter.CreateCounter<long>("synera.verifier.kv_evictions");
        ReprefillTokens = meter.CreateCounter<long>("synera.verifier.reprefill_tokens", "{token}");
        ComputeTime = meter.CreateCounter<double>("synera.verifier.compute_time", "ms", "forward time, to divide by verified tokens");
    }

    private Histogram<T> Histogram<T>(string name, string? unit, string? description, T[] buckets) where T : struct =>
        meter.CreateHistogram(name, unit, description, null, new InstrumentAdvice<T> { HistogramBucketBoundaries = buckets });

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

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
        BatchSize = meter.CreateHistogram<int>("synera.verifier.batch_size", description: "requests per engine step");
        TokensPerStep = meter.CreateHistogram<int>("synera.verifier.tokens_per_step", "{token}");
        StepTime = meter.CreateHistogram<double>("synera.verifier.step_time", "ms");
        QueueWait = meter.CreateHistogram<double>("synera.verifier.queue_wait", "ms");
        VerifyLatency = meter.CreateHistogram<double>("synera.verifier.verify_latency", "ms", "enqueue to verdict");
        DraftedTokens = meter.CreateCounter<long>("synera.verifier.drafted_tokens", "{token}");
        AcceptedTokens = meter.CreateCounter<long>("synera.verifier.accepted_tokens", "{token}");
        Evictions = meter.CreateCounter<long>("synera.verifier.kv_evictions");
        ReprefillTokens = meter.CreateCounter<long>("synera.verifier.reprefill_tokens", "{token}");
        ComputeTime = meter.CreateCounter<double>("synera.verifier.compute_time", "ms", "forward time, to divide by verified tokens");
    }

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

namespace Synera.Abstractions;

/// <summary>
/// Histogram bucket boundaries for Synera's instruments (device and verifier alike), sized to their values: a dashboard
/// reads percentiles off the buckets, and OpenTelemetry's defaults (0, 5, 10, 25, …) would put every ratio, every batch
/// of 1–4 and every step under 5 ms in one bucket and report it as 5.
/// </summary>
public static class HistogramBuckets
{
    /// <summary>Milliseconds, from sub-millisecond engine steps through per-token times to multi-second waits.</summary>
    public static readonly double[] Milliseconds =
        [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000];

    /// <summary>Fractions in [0, 1] (offload ratio, acceptance rate).</summary>
    public static readonly double[] Ratio = [0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];

    /// <summary>Rates per second (tokens/s).</summary>
    public static readonly double[] Rate = [1, 2, 5, 10, 15, 20, 25, 30, 35, 40, 50, 75, 100, 200, 500];

    /// <summary>Counts per engine step (requests, tokens).</summary>
    public static readonly int[] Count = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512, 1024, 2048];
}

using System.Diagnostics;

namespace Synera.Grains.Verification;

/// <summary>
/// Load-aware offload control: every 100 ms, takes the p99 of the verify latencies seen in that window and
/// turns it into a load factor in (0, 1] that session grains multiply their offload budgets by.
/// Multiplicative decrease when p99 exceeds the target, gentle increase when it is well below (or idle),
/// so quality degrades gradually under overload and budgets return when load drops. One factor for the
/// engine; a session applies it through its tier's weight (<see cref="ForTier"/>), so sessions of a tier share alike.
/// </summary>
public sealed class LoadController(double targetP99Ms)
{
    private const double MinFactor = 0.02;
    private readonly Lock gate = new();
    private readonly List<double> window = [];
    private long windowStart = Stopwatch.GetTimestamp();

    public double LoadFactor { get; private set; } = 1.0;
    public double P99Ms { get; private set; }
    public double MeanStepMs { get; private set; }

    /// <summary>
    /// The factor for a tier of weight <paramref name="weight"/>: f^(1/w). Weight 1 takes f as it is, weight 2 its square
    /// root (cut less), weight ½ its square (cut more); at f = 1 every tier keeps its whole budget.
    /// </summary>
    public static double ForTier(double factor, double weight) => Math.Pow(factor, 1 / weight);

    public void RecordLatency(double ms)
    {
        lock (gate) window.Add(ms);
    }

    /// <summary>Called after every engine step (and when idle) to update the factor.</summary>
    public void Update(double stepMs)
    {
        lock (gate)
        {
            if (stepMs > 0) MeanStepMs = MeanStepMs == 0 ? stepMs : 0.9 * MeanStepMs + 0.1 * stepMs;
            if (Stopwatch.GetElapsedTime(windowStart).TotalMilliseconds < 100) return;
            windowStart = Stopwatch.GetTimestamp();
            P99Ms = window.Count == 0 ? 0 : window.Order().ElementAt((int)Math.Floor(0.99 * (window.Count - 1)));
            window.Clear();
            if (P99Ms > targetP99Ms) LoadFactor = Math.Max(MinFactor, LoadFactor * Math.Max(0.5, targetP99Ms / P99Ms));
            else if (P99Ms < 0.7 * targetP99Ms) LoadFactor = Math.Min(1.0, LoadFactor * 1.15 + 0.01);
        }
    }
}

using System.Diagnostics;

namespace Synera.Cli.Soak;

/// <summary>What one minute of a soak measured.</summary>
public sealed record SoakMinute(
    int Minute, double MemoryMb, double ManagedMb, double P50Ms, double P99Ms, int Spans, long TokensCommitted,
    int ActiveDevices, int StalledDevices, SortedDictionary<string, int> ErrorsByKind);

/// <summary>
/// Collects a soak's measurements from every device (any thread) and cuts them into minutes: span round trips (send
/// to verdict), committed tokens, errors by kind, process memory.
/// </summary>
public sealed class SoakMeter
{
    private readonly Lock gate = new();
    private List<double> latencies = [];
    private SortedDictionary<string, int> errors = [];
    private long tokens;
    private readonly List<SoakMinute> minutes = [];

    public IReadOnlyList<SoakMinute> Minutes { get { lock (gate) return [.. minutes]; } }

    public void Span(double milliseconds) { lock (gate) latencies.Add(milliseconds); }
    public void Committed(int n) { lock (gate) tokens += n; }

    public void Error(string kind)
    {
        lock (gate) errors[kind] = errors.GetValueOrDefault(kind) + 1;
    }

    /// <summary>Closes the current minute.</summary>
    public SoakMinute CloseMinute(int activeDevices, int stalledDevices)
    {
        List<double> spans; SortedDictionary<string, int> kinds; long committed;
        lock (gate)
        {
            (spans, latencies) = (latencies, []);
            (kinds, errors) = (errors, []);
            (committed, tokens) = (tokens, 0);
        }
        spans.Sort();
        // Memory as the OS sees the process (silo and devices together), and the managed heap after a full collection.
        var managed = GC.GetTotalMemory(forceFullCollection: true) / 1048576.0;
        using var process = Process.GetCurrentProcess();
        var minute = new SoakMinute(minutes.Count + 1, process.WorkingSet64 / 1048576.0, managed, Percentile(spans, 0.5), Percentile(spans, 0.99),
            spans.Count, committed, activeDevices, stalledDevices, kinds);
        lock (gate) minutes.Add(minute);
        return minute;
    }

    private static double Percentile(List<double> sorted, double q) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Hosting;

namespace Synera.Cli.Telemetry;

/// <summary>
/// Listens to Synera's and Orleans' traces and Synera's meters in this process (<c>generate --telemetry</c>), and prints
/// them as text: one verified span's trace as a tree, and each instrument's total (counters), count and mean
/// (histograms) or last value (gauges). With the embedded cluster, device and cloud run in this process, so the
/// trace shows every hop; the same names reach the Aspire dashboard over OTLP.
/// </summary>
public sealed class TelemetryRecorder : IDisposable
{
    private readonly ActivityListener activities;
    private readonly MeterListener meters = new();
    private readonly ConcurrentQueue<Activity> finished = new();
    private readonly ConcurrentDictionary<(string meter, string name, string unit, string kind), Aggregate> values = new();

    private sealed class Aggregate { public double Sum, Last; public long Count; }

    public TelemetryRecorder()
    {
        activities = new ActivityListener
        {
            ShouldListenTo = s => s.Name.StartsWith("Synera.", StringComparison.Ordinal) || s.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = finished.Enqueue,
        };
        ActivitySource.AddActivityListener(activities);
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (SyneraServiceDefaults.Meters.Contains(instrument.Meter.Name) && instrument.Meter.Name.StartsWith("Synera.", StringComparison.Ordinal))
                listener.EnableMeasurementEvents(instrument);
        };
        meters.SetMeasurementEventCallback<long>((i, v, _, _) => Record(i, v));
        meters.SetMeasurementEventCallback<int>((i, v, _, _) => Record(i, v));
        meters.SetMeasurementEventCallback<double>((i, v, _, _) => Record(i, v));
        meters.Start();
    }

    private void Record(Instrument instrument, double value)
    {
        var kind = instrument.GetType().Name.Split('`')[0];
        var a = values.GetOrAdd((instrument.Meter.Name, instrument.Name, instrument.Unit ?? "", kind), _ => new Aggregate());
        lock (a) { a.Sum += value; a.Last = value; a.Count++; }
    }

    /// <summary>The trace of the first span the cloud verified (a device <c>span</c> with a <c>verify</c> below it), as a tree.</summary>
    public string? SpanTrace()
    {
        var all = finished.ToArray();
        var verified = all.Where(a => a.OperationName == "verify").Select(a => a.TraceId).ToHashSet();
        var root = all.Where(a => a.OperationName == "span" && a.Source.Name == "Synera.Device" && verified.Contains(a.TraceId)).MinBy(a => a.StartTimeUtc);
        if (root is null) return null;
        var trace = all.Where(a => a.TraceId == root.TraceId).ToList();
        var text = new StringBuilder($"trace {root.TraceId}\n");
        void Print(Activity a, int depth)
        {
            var offset = (a.StartTimeUtc - root.StartTimeUtc).TotalMilliseconds;
            var tags = string.Join(" ", a.TagObjects.Where(t => t.Key.StartsWith("synera.", StringComparison.Ordinal) || t.Key.StartsWith("rpc.", StringComparison.Ordinal))
                .Select(t => $"{t.Key}={t.Value}"));
            text.Append($"{new string(' ', 2 * depth)}{a.Source.Name}: {a.DisplayName}  +{offset:F1} ms, {a.Duration.TotalMilliseconds:F1} ms  {tags}\n");
            foreach (var child in trace.Where(c => c.ParentSpanId == a.SpanId).OrderBy(c => c.StartTimeUtc)) Print(child, depth + 1);
        }
        Print(root, 0);
        return text.ToString();
    }

    /// <summary>Every Synera instrument seen, as a table of text.</summary>
    public string Meters()
    {
        meters.RecordObservableInstruments();
        var text = new StringBuilder();
        foreach (var ((meter, name, unit, kind), a) in values.OrderBy(kv => kv.Key.meter).ThenBy(kv => kv.Key.name))
        {
            lock (a)
            {
                var value = kind switch
                {
                    "Counter" or "UpDownCounter" => $"total {a.Sum:G6}",
                    "Histogram" => $"count {a.Count}, mean {a.Sum / Math.Max(1, a.Count):G4}",
                    _ => $"last {a.Last:G6}",
                };
                text.Append($"{meter,-16} {name,-36} {unit,-8} {value}\n");
            }
        }
        return text.ToString();
    }

    public void Dispose()
    {
        activities.Dispose();
        meters.Dispose();
    }
}

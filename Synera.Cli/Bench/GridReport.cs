using System.Globalization;
using System.Text;
using System.Text.Json;
using ScottPlot;

namespace Synera.Cli.Bench;

/// <summary>Writes the grid's results: results.json, results.csv, capacity.json, PNG plots (ScottPlot) and summary.md.</summary>
public static class GridReport
{
    /// <summary>How every result file is written: indented snake_case, NaN allowed (a row with no samples).</summary>
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static void Write(string dir, IReadOnlyList<GridRow> rows, GridCapacity? capacity, string machine, bool quick)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "results.json"), JsonSerializer.Serialize(rows, Json));
        WriteCsv(Path.Combine(dir, "results.csv"), rows);
        if (capacity is not null) File.WriteAllText(Path.Combine(dir, "capacity.json"), JsonSerializer.Serialize(capacity, Json));
        Plots(dir, rows);
        File.WriteAllText(Path.Combine(dir, "summary.md"), Summary(rows, capacity, machine, quick));
    }

    /// <summary>Re-reads a grid's results.json (and capacity.json) from <paramref name="dir"/> and writes the report again.</summary>
    public static void Rewrite(string dir)
    {
        var path = Path.Combine(dir, "results.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"no grid results in {dir} (run `synera bench` first)", path);
        var rows = JsonSerializer.Deserialize<List<GridRow>>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: not grid results");
        var capacityPath = Path.Combine(dir, "capacity.json");
        GridCapacity? capacity = null;
        if (File.Exists(capacityPath))
        {
            var c = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(capacityPath))!;
            capacity = new GridCapacity(c["devices_synera"]!.GetValue<int>(), c["devices_llm"]!.GetValue<int>(), c["ratio"]!.GetValue<double>(),
                c["verifier"]?.GetValue<string>() ?? $"measured, verify p99 ≤ {c["p99_target_ms"]} ms (an older method)", c["service_level"], c["results"] ?? c["steps"]);
        }
        Write(dir, rows, capacity, $"{Environment.ProcessorCount} cores (report re-drawn)", quick: rows.Count < 20);
    }

    private static void WriteCsv(string path, IReadOnlyList<GridRow> rows)
    {
        var props = typeof(GridRow).GetProperties();
        var csv = new StringBuilder(string.Join(",", props.Select(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name)))).Append('\n');
        foreach (var r in rows)
            csv.Append(string.Join(",", props.Select(p => p.GetValue(r) switch
            {
                double d => d.ToString("G6", CultureInfo.InvariantCulture),
                string s => s.Contains(',') ? $"\"{s}\"" : s,
                var v => Convert.ToString(v, CultureInfo.InvariantCulture),
            }))).Append('\n');
        File.WriteAllText(path, csv.ToString());
    }

    private static void Plots(string dir, IReadOnlyList<GridRow> rows)
    {
        // Accuracy against measured offload ratio, one marker per quality row (the oracle included).
        var quality = rows.Where(r => r.Slice == "quality").ToList();
        if (quality.Count > 0)
        {
            var plt = new Plot();
            foreach (var group in quality.GroupBy(r => r.Mode))
            {
                var points = group.OrderBy(r => r.OffloadRatio).ToList();
                var s = plt.Add.Scatter(points.Select(r => r.OffloadRatio * 100).ToArray(), points.Select(r => r.Accuracy * 100).ToArray());
                s.LegendText = group.Key;
                s.MarkerSize = 9;
            }
            plt.Title("Accuracy vs offload ratio");
            plt.XLabel("offload ratio (% of tokens verified at the device's request)");
            plt.YLabel("exact-match accuracy (%)");
            plt.ShowLegend();
            plt.SavePng(Path.Combine(dir, "accuracy_vs_offload.png"), 900, 560);
        }
        // TPOT against RTT per mode (paced device).
        var latency = rows.Where(r => r.Slice == "latency").ToList();
        if (latency.Count > 0)
        {
            var plt = new Plot();
            foreach (var group in latency.GroupBy(r => r.Name))
            {
                var points = group.OrderBy(r => r.RttMs).ToList();
                var s = plt.Add.Scatter(points.Select(r => r.RttMs).ToArray(), points.Select(r => r.TpotMsP50).ToArray());
                s.LegendText = group.Key;
            }
            plt.Title($"TPOT vs RTT (device {latency[0].DeviceMsPerToken} ms/token)");
            plt.XLabel("RTT (ms)");
            plt.YLabel("TPOT p50 (ms)");
            plt.ShowLegend();
            plt.SavePng(Path.Combine(dir, "tpot_vs_rtt.png"), 900, 560);
        }
        // Cloud cost per generated token per mode (quality rows: one device, no contention).
        if (quality.Count > 0)
        {
            var plt = new Plot();
            var bars = quality.Select((r, i) => new Bar { Position = i, Value = r.CloudMsPerToken }).ToArray();
            plt.Add.Bars(bars);
            plt.Axes.Bottom.SetTicks([.. Enumerable.Range(0, quality.Count).Select(i => (double)i)], [.. quality.Select(r => r.Name)]);
            plt.Title("Cloud cost: verifier busy time per generated token");
            plt.YLabel("ms per generated token");
            plt.Axes.Margins(bottom: 0);
            plt.SavePng(Path.Combine(dir, "cloud_cost.png"), 900, 560);
        }
        // Throughput and verify p99 against concurrent devices.
        var scale = rows.Where(r => r.Slice == "scale").ToList();
        if (scale.Count > 0)
        {
            foreach (var (file, title, label, select) in new (string, string, string, Func<GridRow, double>)[]
            {
                ("throughput_vs_devices.png", "Generated tokens/s vs devices", "tokens/s (all devices)", r => r.ThroughputTokS),
                ("p99_vs_devices.png", "Verify latency p99 vs devices", "verify p99 (ms)", r => r.VerifyP99Ms),
            })
            {
                var plt = new Plot();
                foreach (var group in scale.GroupBy(r => r.Name))
                {
                    var points = group.OrderBy(r => r.Devices).ToList();
                    var s = plt.Add.Scatter(points.Select(r => Math.Log2(r.Devices)).ToArray(), points.Select(select).ToArray());
                    s.LegendText = group.Key;
                }
                plt.Axes.Bottom.SetTicks([.. scale.Select(r => (double)r.Devices).Distinct().Order().Select(Math.Log2)], [.. scale.Select(r => r.Devices).Distinct().Order().Select(d => d.ToString())]);
                plt.Title(title);
                plt.XLabel("concurrent devices");
                plt.YLabel(label);
                plt.ShowLegend();
                plt.SavePng(Path.Combine(dir, file), 900, 560);
            }
        }
    }

    private static string Summary(IReadOnlyList<GridRow> rows, GridCapacity? capacity, string machine, bool quick)
    {
        var md = new StringBuilder();
        md.AppendLine($"# Synera benchmark grid{(quick ? " (--quick)" : "")}").AppendLine();
        md.AppendLine($"- date: {DateTime.UtcNow:u}").AppendLine($"- machine: {machine}").AppendLine();
        GridRow? Q(string name) => rows.FirstOrDefault(r => r.Slice == "quality" && r.Name == name);
        GridRow? L(string name, double rtt) => rows.FirstOrDefault(r => r.Slice == "latency" && r.Name == name && r.RttMs == rtt);
        string F(double? x, string format = "F2") => x is double v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";
        string P(double x) => double.IsFinite(x) ? $"{F(x * 100, "F1")} %" : "n/a";
        var (slm, llm, synera) = (Q("slm"), Q("llm"), Q("synera-0.1"));
        md.AppendLine("## Headline ratios").AppendLine();
        md.AppendLine("| measure | value |").AppendLine("|---|---|");
        double? gap = slm is null || llm is null || synera is null || llm.Accuracy == slm.Accuracy ? null : (synera.Accuracy - slm.Accuracy) / (llm.Accuracy - slm.Accuracy);
        md.AppendLine($"| gap recovered at budget 0.10 (synera − slm) / (llm − slm) | {F(gap)} (synera {F(synera?.Accuracy * 100, "F1")} % at offload {F(synera?.OffloadRatio * 100, "F1")} %) |");
        md.AppendLine($"| synera / slm accuracy | {F(synera?.Accuracy / slm?.Accuracy)} |");
        md.AppendLine($"| synera / llm accuracy | {F(synera?.Accuracy / llm?.Accuracy)} |");
        foreach (var rtt in new[] { 50.0, 150.0 })
            md.AppendLine($"| synera TPOT / slm TPOT at {rtt} ms RTT, device 30 ms/token | {F(L("synera-0.1", rtt)?.TpotMsP50 / L("slm", rtt)?.TpotMsP50)} ({F(L("synera-0.1", rtt)?.TpotMsP50, "F1")} vs {F(L("slm", rtt)?.TpotMsP50, "F1")} ms) |");
        md.AppendLine($"| synera cloud cost per token / llm's (verifier ms per generated token) | {F(synera?.CloudMsPerToken / llm?.CloudMsPerToken)} ({F(synera?.CloudMsPerToken, "F3")} vs {F(llm?.CloudMsPerToken, "F3")} ms) |");
        md.AppendLine($"| synera LLM tokens processed per token / llm's | {F(synera?.LlmTokensPerToken / llm?.LlmTokensPerToken)} |");
        if (capacity is not null)
            md.AppendLine($"| devices per verifier silo at the service level ({capacity.Verifier} verifier), synera / llm | {F(capacity.Ratio)} ({capacity.DevicesSynera} vs {capacity.DevicesLlm}) |");
        md.AppendLine().AppendLine("## Rows").AppendLine();
        md.AppendLine("| slice | row | devices | RTT | device ms/tok | accuracy | agreement | offload | TTFT p50 | TPOT p50 | TPOT p99 | B/tok | cloud ms/tok | tok/s | batch | verify p99 |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            md.AppendLine($"| {r.Slice} | {r.Name} | {r.Devices} | {r.RttMs} | {r.DeviceMsPerToken} | {P(r.Accuracy)} | {P(r.Agreement)} | {P(r.OffloadRatio)} | " +
                $"{F(r.TtftMsP50, "F1")} | {F(r.TpotMsP50, "F1")} | {F(r.TpotMsP99, "F1")} | {F(r.BytesPerToken, "F1")} | {F(r.CloudMsPerToken, "F3")} | {F(r.ThroughputTokS, "F0")} | {F(r.MeanBatchSize, "F1")} | {F(r.VerifyP99Ms, "F0")} |");
        md.AppendLine().AppendLine("Plots: accuracy_vs_offload.png, tpot_vs_rtt.png, cloud_cost.png, throughput_vs_devices.png, p99_vs_devices.png.");
        return md.ToString();
    }
}

/// <summary>Devices one verifier silo serves at the service level, synera against llm (capacity.json); <see cref="Verifier"/>
/// says whether its steps were measured or modelled.</summary>
public sealed record GridCapacity(int DevicesSynera, int DevicesLlm, double Ratio, string Verifier, object? ServiceLevel, object? Results);

using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Synera.Cli.Bench;

/// <summary>
/// Writes docs/benchmarks.md from the bench commands' own result files, so the page says what the files say. A manifest
/// (<c>benchmarks.json</c> beside the files) lists each measurement: its file (or files, for repeated runs), the command
/// that wrote it and a title; the page gives, per measurement, the command, the machine and date the file records, and a
/// table read from it. The kind of each file is told by its fields: <c>bench modes</c>, <c>failover</c>, <c>scale</c>,
/// <c>verifier</c>, <c>draft</c>, or the grid's <c>summary.md</c> with its plots.
/// </summary>
public static class BenchmarksPage
{
    public const string ManifestFile = "benchmarks.json";

    /// <summary>The page, numbers formatted the same on every machine (invariant culture).</summary>
    public static string Render(string manifestPath, string pagePath)
    {
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try { return RenderInvariant(manifestPath, pagePath); }
        finally { CultureInfo.CurrentCulture = culture; }
    }

    private static string RenderInvariant(string manifestPath, string pagePath)
    {
        if (!File.Exists(manifestPath)) throw new FileNotFoundException($"no measurement manifest: {manifestPath}", manifestPath);
        var dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var pageDir = Path.GetDirectoryName(Path.GetFullPath(pagePath))!;
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
        var text = new StringBuilder();
        text.Append("# Benchmarks\n\n").Append(manifest["intro"]!.GetValue<string>()).Append("\n\n")
            .Append("This page is written by `./synera bench report --markdown docs/benchmarks.md` from the result files ")
            .Append($"listed in `{Rel(manifestPath, pageDir)}`; a test keeps it equal to what the files say.\n");
        foreach (var entry in manifest["measurements"]!.AsArray())
        {
            var names = entry!["files"] is JsonArray list ? list.Select(f => f!.GetValue<string>()).ToList() : [entry["file"]!.GetValue<string>()];
            var files = names.Select(f => Path.Combine(dir, f)).ToList();
            foreach (var f in files) if (!File.Exists(f)) throw new FileNotFoundException($"{manifestPath}: measurement file missing: {f}", f);
            text.Append("\n## ").Append(entry["title"]!.GetValue<string>()).Append("\n\n");
            if (entry["method"]?.GetValue<string>() is { } method) text.Append(method).Append("\n\n");
            text.Append("```bash\n").Append(entry["command"]!.GetValue<string>()).Append("\n```\n\n");
            var first = files[0].EndsWith(".json") ? JsonNode.Parse(File.ReadAllText(files[0]))!.AsObject() : null;
            var when = first?["date"]?.GetValue<string>() ?? entry["date"]?.GetValue<string>();
            var machine = first?["machine"]?.GetValue<string>() ?? (first?["device"]?.GetValue<string>() is { } d ? $"{d}, {first["threads"]} threads" : null)
                          ?? entry["machine"]?.GetValue<string>();
            text.Append($"Measured {when ?? "(date not recorded)"}, {machine ?? "the project's machine"}; ")
                .Append(string.Join(", ", files.Select(f => $"`{Rel(f, pageDir)}`"))).Append(".\n\n");
            text.Append(Table(files, first, pageDir));
        }
        return text.ToString();
    }

    private static string Table(List<string> files, JsonObject? first, string pageDir)
    {
        if (first is null) return Grid(files[0], pageDir);
        if (first.ContainsKey("service_level")) return Capacity(files, pageDir);
        if (first["fit"] is JsonArray) return CostFit(files);
        if (first["results"] is JsonArray) return Modes(first);
        if (first.ContainsKey("tokens_lost")) return Failover(files);
        if (first["kinds"] is JsonArray) return Faults(files);
        if (first.ContainsKey("tok_s_1") && first.ContainsKey("tok_s_2")) return Scale(files);
        if (first.ContainsKey("prefill_tok_s")) return Verifier(files);
        if (first.ContainsKey("device_tok_s")) return Draft(files);
        if (first.ContainsKey("load_seconds")) return Load(files);
        throw new InvalidDataException($"{files[0]}: not a result file of a bench command this page knows");
    }

    private static string Modes(JsonObject m)
    {
        var rows = m["results"]!.AsArray().Select(r => r!.AsObject()).ToList();
        var llm = rows.FirstOrDefault(r => r["Name"]!.GetValue<string>() == "llm");
        var slm = rows.FirstOrDefault(r => r["Name"]!.GetValue<string>() == "slm");
        var text = new StringBuilder($"{m["examples"]} examples, RTT {m["rtt_ms"]} ms, device {m["device_ms_per_token"]} ms/token.\n\n");
        text.Append("| row | accuracy | offload ratio | gap recovered | TPOT p50 (ms) | verifier ms per generated token |\n|---|---|---|---|---|---|\n");
        foreach (var r in rows)
        {
            double acc = D(r["Accuracy"]);
            string gap = llm is null || slm is null || D(llm["Accuracy"]) == D(slm["Accuracy"]) ? "—" : F((acc - D(slm["Accuracy"])) / (D(llm["Accuracy"]) - D(slm["Accuracy"])), "F2");
            text.Append($"| {r["Name"]} | {acc:P1} | {D(r["OffloadRatio"]):P1} | {gap} | {F(D(r["TpotMsP50"]), "F1")} | {F(D(r["CloudComputeMsPerToken"]), "F2")} |\n");
        }
        return text.ToString();
    }

    /// <summary><c>bench capacity</c>: each mode's capacity and what its devices and the machine showed at it; the modes
    /// of one measurement may come in several files (one run per mode), llm's row is the reference for all.</summary>
    private static string Capacity(List<string> files, string pageDir)
    {
        var text = new StringBuilder("| run | verifier | mode | devices served | vs llm | accuracy unloaded | at capacity: devices within SLO | TPOT p90 / reference | TTFT p90 + (ms) | answers differing | verifier core busy | load generator CPU | verifier busy ms per token | cost per token vs llm | modelled steps overrun |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        var notes = new StringBuilder();
        var runs = files.Select(f => (file: f, json: JsonNode.Parse(File.ReadAllText(f))!)).ToList();
        var all = runs.SelectMany(r => r.json["results"]!.AsArray().Select(x => (r.file, r.json, result: x!.AsObject()))).ToList();
        static JsonNode? AtCapacity(JsonObject r) => r["Probes"]!.AsArray().LastOrDefault(p => p!["Devices"]!.GetValue<int>() == r["Capacity"]!.GetValue<int>());
        var llm = all.Select(a => a.result).FirstOrDefault(r => r["Mode"]!.GetValue<string>() == "llm");
        double llmCapacity = llm is null ? double.NaN : D(llm["Capacity"]);
        double llmCost = llm is null || AtCapacity(llm) is not { } l ? double.NaN : D(l["VerifierBusyMsPerToken"]);
        foreach (var (f, j, r) in all)
        {
            int capacity = r["Capacity"]!.GetValue<int>();
            var at = AtCapacity(r);
            string Cell(Func<JsonNode, string> read) => at is null ? "—" : read(at);
            text.Append($"| {Path.GetFileName(Path.GetDirectoryName(f))} | {j["verifier"]} | {r["Name"]} | {capacity} | {F(capacity / llmCapacity, "F2")}× | {D(r["UnloadedAccuracy"]):P1} | ")
                .Append(Cell(p => $"{D(p["Attainment"]):P0}")).Append(" | ").Append(Cell(p => F(D(p["TpotRatioP90Median"]), "F2"))).Append(" | ")
                .Append(Cell(p => F(D(p["TtftExtraMsP90Median"]), "F0"))).Append(" | ").Append(Cell(p => $"{p["AnswersDiffering"]} of {p["Answers"]}")).Append(" | ")
                .Append(Cell(p => $"{D(p["VerifierCpuPercent"]):F0} %")).Append(" | ").Append(Cell(p => $"{D(p["LoadGeneratorCpuPercent"]):F0} %")).Append(" | ")
                .Append(Cell(p => F(D(p["VerifierBusyMsPerToken"]), "F3"))).Append(" | ").Append(Cell(p => F(D(p["VerifierBusyMsPerToken"]) / llmCost, "F2"))).Append(" | ")
                .Append(Cell(p => $"{p["ModelOverruns"]} of {p["VerifierSteps"]}")).Append(" |\n");
        }
        foreach (var (f, j) in runs)
        {
            var run = Path.GetFileName(Path.GetDirectoryName(f));
            if (j["replay"] is JsonObject replay)
                notes.Append($"- `{run}`: the replayed draft model against the real one on {replay["Examples"]} prompts: {replay["AnswersEqual"]} answers equal, " +
                             $"offload ratio {D(replay["RealOffloadRatio"]):P2} real, {D(replay["ReplayOffloadRatio"]):P2} replayed; spans {replay["RealSpans"]} and {replay["ReplaySpans"]}; " +
                             $"{replay["ReplayMisses"]} forwards run for real of {D(replay["ReplayHits"]) + D(replay["ReplayMisses"]):F0}.\n");
            notes.Append($"- `{run}`: {j["prompts"]} prompts, windows of {j["window_seconds"]} s after {j["warm_up_seconds"]} s of load, time scale {j["time_scale"]}; probes: ")
                .Append(string.Join("; ", j["results"]!.AsArray().SelectMany(r => r!["Probes"]!.AsArray().Select(p =>
                    $"{r["Name"]} × {p!["Devices"]} {D(p["Attainment"]):P0}{(p["Holds"]!.GetValue<bool>() ? "" : " (not served)")}")))).Append(".\n");
            var png = Path.Combine(Path.GetDirectoryName(f)!, "capacity.png");
            if (File.Exists(png)) notes.Append($"\n![SLO attainment against devices, {run}]({Rel(png, pageDir)})\n\n");
        }
        return text.Append('\n').Append(notes).ToString();
    }

    /// <summary>A fitted step cost model (<c>bench cost-fit</c>): its rates and how far its steps are from the measured ones.</summary>
    private static string CostFit(List<string> files)
    {
        var text = new StringBuilder("| model | shapes | fitted compute (GFLOP/s) | bandwidth (GB/s) | overhead (ms a step + a sequence) | error median | p90 | max |\n|---|---|---|---|---|---|---|---|\n");
        foreach (var f in files)
        {
            var j = JsonNode.Parse(File.ReadAllText(f))!;
            var errors = j["fit"]!.AsArray().Select(p => Math.Abs(D(p!["modelledMs"]) - D(p["measuredMs"])) / D(p["measuredMs"])).Order().ToList();
            var h = j["hardware"]!;
            text.Append($"| {j["name"]} | {errors.Count} | {D(h["peakTflops"]) * 1e3:F1} | {D(h["memoryGBps"]):F1} | {D(h["stepOverheadMs"]):F2} + {D(h["perSequenceOverheadMs"]):F3} | " +
                        $"{errors[errors.Count / 2]:P1} | {errors[(int)(0.9 * (errors.Count - 1))]:P1} | {errors[^1]:P1} |\n");
        }
        return text.ToString();
    }

    private static string Failover(List<string> files)
    {
        var text = new StringBuilder("| set | fault | runs | tokens lost | duplicated | answers differing | SLM fallbacks | recovery p50 (s) | recovery max (s) | longest pause p50 (s) | longest pause max (s) |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        foreach (var (f, i) in files.Select((f, i) => (f, i)))
        {
            var j = JsonNode.Parse(File.ReadAllText(f))!;
            text.Append($"| {i + 1} | {j["fault"]?.GetValue<string>() ?? "kill"} | {j["runs"]} | {j["tokens_lost"]} | {j["tokens_duplicated"]} | {j["answers_differing"]} | {j["slm_fallbacks"]} | " +
                        $"{D(j["recovery_ms_p50"]) / 1000:F2} | {D(j["recovery_ms_max"]) / 1000:F2} | {F(D(j["longest_pause_ms_p50"]) / 1000, "F2")} | {F(D(j["longest_pause_ms_max"]) / 1000, "F2")} |\n");
        }
        return text.ToString();
    }

    /// <summary><c>bench faults</c>: one row per fault kind and file.</summary>
    private static string Faults(List<string> files)
    {
        var text = new StringBuilder("| shape | fault | runs | tokens lost | duplicated | answers differing | SLM fallbacks | recovery p50 (s) | recovery max (s) | what the device saw (run 1) |\n|---|---|---|---|---|---|---|---|---|---|\n");
        foreach (var f in files)
        {
            var j = JsonNode.Parse(File.ReadAllText(f))!;
            var shape = $"{j["frontends"]} frontend{(D(j["frontends"]) == 1 ? "" : "s")}, 2 verifiers";
            foreach (var k in j["kinds"]!.AsArray())
            {
                if (k!["error"] is JsonNode error) { text.Append($"| {shape} | {k["kind"]} | could not run: {error.GetValue<string>().Replace("|", "/")} |||||||\n"); continue; }
                var kept = k!["accounts_kept"] is JsonNode a ? $"; accounts kept {a}/{k["runs"]}" : "";
                var saw = k["details"]!.AsArray().FirstOrDefault()?["DeviceSaw"]?.GetValue<string>() ?? "";
                text.Append($"| {shape} | {k["kind"]} | {k["runs"]} | {k["tokens_lost"]} | {k["tokens_duplicated"]} | {k["answers_differing"]} | {k["slm_fallbacks"]}{(k["slm_tokens"] is JsonNode t && t.GetValue<long>() > 0 ? $" ({t} tokens)" : "")} | " +
                            $"{F(D(k["recovery_ms_p50"]) / 1000, "F2")} | {F(D(k["recovery_ms_max"]) / 1000, "F2")} | {saw.Replace("|", "/")}{kept} |\n");
            }
        }
        return text.ToString();
    }

    private static string Scale(List<string> files)
    {
        var text = new StringBuilder("| set | run | 1 silo (verified tok/s) | 2 silos | ratio |\n|---|---|---|---|---|\n");
        foreach (var (f, i) in files.Select((f, i) => (f, i)))
        {
            var j = JsonNode.Parse(File.ReadAllText(f))!;
            var runs = j["runs"] as JsonArray ?? [j];
            foreach (var (r, k) in runs.Select((r, k) => (r!, k)))
                text.Append($"| {i + 1} | {k + 1} | {D(r["tok_s_1"]):F0} | {D(r["tok_s_2"]):F0} | {D(r["tok_s_2"]) / D(r["tok_s_1"]):F2} |\n");
        }
        return text.ToString();
    }

    private static string Verifier(List<string> files)
    {
        var text = new StringBuilder("| file | sessions × span: verified tok/s | prefill tok/s | most / fewest sessions | most sessions / prefill |\n|---|---|---|---|---|\n");
        foreach (var f in files)
        {
            var j = JsonNode.Parse(File.ReadAllText(f))!.AsObject();
            int span = j["span"]?.GetValue<int>() ?? 4;
            // Two layouts: "tok_s": {"1": …, "32": …}, or the older "tok_s_1", "tok_s_8", "tok_s_32".
            var rates = j["tok_s"] is JsonObject o ? o.Select(kv => (int.Parse(kv.Key), D(kv.Value)))
                : j.Where(kv => kv.Key.StartsWith("tok_s_")).Select(kv => (int.Parse(kv.Key["tok_s_".Length..]), D(kv.Value)));
            var list = rates.OrderBy(r => r.Item1).ToList();
            text.Append($"| {Path.GetFileName(f)} | {string.Join(", ", list.Select(r => $"{r.Item1} × {span}: {r.Item2:F0}"))} | {D(j["prefill_tok_s"]):F0} | " +
                        $"{list[^1].Item2 / list[0].Item2:F1}× | {list[^1].Item2 / D(j["prefill_tok_s"]):F2} |\n");
        }
        return text.ToString();
    }

    private static string Draft(List<string> files)
    {
        var text = new StringBuilder("| file | side | raw ONNX Runtime (tok/s) | device runner (tok/s) | device / raw | resident with the model loaded (MB): raw, device |\n|---|---|---|---|---|---|\n");
        foreach (var f in files)
        {
            var j = JsonNode.Parse(File.ReadAllText(f))!;
            string Mb(JsonNode? n) => n is null ? "—" : $"{D(n) / 1e6:F0}";
            text.Append($"| {Path.GetFileName(f)} | {j["side"]} | {F(j["raw_tok_s"] is null ? double.NaN : D(j["raw_tok_s"]), "F1")} | " +
                        $"{F(j["device_tok_s"] is null ? double.NaN : D(j["device_tok_s"]), "F1")} | {F(j["ratio"] is null ? double.NaN : D(j["ratio"]), "F2")} | " +
                        $"{Mb(j["raw_resident_bytes"])}, {Mb(j["device_resident_bytes"])} |\n");
        }
        return text.ToString();
    }

    private static string Load(List<string> files)
    {
        var text = new StringBuilder("| dtype | parameters | weights (MB) | load time (s) | resident after loading (MB) | peak resident (MB) |\n|---|---|---|---|---|---|\n");
        foreach (var f in files)
        {
            var j = JsonNode.Parse(File.ReadAllText(f))!;
            text.Append($"| {j["dtype"]} | {D(j["parameters"]):N0} | {D(j["weight_bytes"]) / 1e6:F0} | {D(j["load_seconds"]):F1} | {D(j["resident_bytes"]) / 1e6:F0} | {D(j["peak_resident_bytes"]) / 1e6:F0} |\n");
        }
        return text.ToString();
    }

    /// <summary>The grid's own summary (its headline ratios), with its plots beside it.</summary>
    private static string Grid(string summaryPath, string pageDir)
    {
        var summary = File.ReadAllLines(summaryPath).SkipWhile(l => l.StartsWith("# ")).ToList();
        var text = new StringBuilder(string.Join("\n", summary).Trim().Replace("\n## ", "\n### ")).Append("\n\n");
        foreach (var png in Directory.GetFiles(Path.GetDirectoryName(summaryPath)!, "*.png").Order(StringComparer.Ordinal))
            text.Append($"![{Path.GetFileNameWithoutExtension(png).Replace('_', ' ')}]({Rel(png, pageDir)})\n");
        return text.ToString();
    }

    private static double D(JsonNode? n) => n is null ? double.NaN : n.GetValue<double>();
    private static string F(double v, string format) => double.IsNaN(v) ? "—" : v.ToString(format, CultureInfo.InvariantCulture);
    private static string Rel(string path, string from) => Path.GetRelativePath(from, path).Replace('\\', '/');
}

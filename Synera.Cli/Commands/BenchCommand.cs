using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Microsoft.Extensions.Logging;
using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;
using Synera.Cli.Bench;
using Synera.Grains.Options;
using Synera.Grains.Verification;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Link;
using Synera.DeviceClient.Offloading;
using Synera.Models;
using Synera.Models.Data;
using Synera.Models.Training;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

namespace Synera.Cli.Commands;

/// <summary><c>synera bench verifier [--out DIR]</c>: benchmarks that write their numbers to files.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks (numbers go to --out as JSON)");
        var output = new Option<string>("--out") { Description = "output folder", DefaultValueFactory = _ => Path.Combine(RepoPaths.Root, "runs", "bench") };
        var model = new Option<string?>("--model") { Description = "target model folder (default: models/target)" };
        var seconds = new Option<double>("--seconds") { Description = "measuring time per configuration", DefaultValueFactory = _ => 6 };
        var device = DeviceOption.Create();
        var answerTokens = new Option<int>("--answer-tokens")
        {
            Description = "tokens a session commits before it ends and a new one starts (default 256: sessions fill the model's window; 96 is a generation's limit)",
            DefaultValueFactory = _ => 256,
        };
        var drafts = new Option<BenchDrafts>("--drafts")
        {
            Description = "random (default): random tokens, rejected at once, so every span also re-runs the correction; target: the LLM's own greedy continuation, accepted whole",
            DefaultValueFactory = _ => BenchDrafts.Random,
        };
        var threads = new Option<int>("--threads") { Description = "torch threads (0 = one per core)", DefaultValueFactory = _ => 0 };
        var sessionCounts = new Option<string>("--sessions") { Description = "session counts to measure, comma-separated", DefaultValueFactory = _ => "1,8,32" };
        var span = new Option<int>("--span") { Description = "drafts per span", DefaultValueFactory = _ => 4 };
        var verifier = new Command("verifier", "Verified tokens/s through the real engine at 1, 8 and 32 sessions (spans of 4, unless told), and the prefill limit")
        {
            output, model, seconds, device, answerTokens, drafts, threads, sessionCounts, span,
        };
        var models = new ModelOptions().AddVerifierSettingsTo(verifier);
        verifier.SetAction(parse =>
        {
            int torchThreads = parse.GetValue(threads) is > 0 and var t ? t : Environment.ProcessorCount;
            TorchSharp.torch.set_num_threads(torchThreads);
            var counts = ParseList(parse.GetValue(sessionCounts)).Select(c => (int)c).Distinct().ToArray();
            if (counts.Length == 0 || counts.Any(c => c < 1)) throw new ArgumentException("--sessions must list session counts of at least 1");
            int spanTokens = parse.GetValue(span);
            if (spanTokens is < 1 or > VerifierOptions.DefaultMaxSpanTokens) throw new ArgumentException($"--span must be in [1, {VerifierOptions.DefaultMaxSpanTokens}]");
            var torchDevice = DeviceOption.Resolve(parse, device);
            AnsiConsole.MarkupLine($"device: {TorchModelRunner.DeviceName(torchDevice)}, {torchThreads} torch threads");
            if (parse.GetValue(answerTokens) < 8) throw new ArgumentException("--answer-tokens must be at least 8");
            var modelDir = parse.GetValue(model) ?? RepoPaths.TargetModel;
            var benchmark = new VerifierBenchmark(modelDir, TimeSpan.FromSeconds(parse.GetValue(seconds)), torchDevice, parse.GetValue(answerTokens), parse.GetValue(drafts),
                models.Verifier(parse, modelDir));
            var rows = new List<VerifierBenchRow>();
            foreach (var sessions in counts)
            {
                var row = benchmark.Measure(sessions, spanTokens);
                rows.Add(row);
                AnsiConsole.MarkupLine($"{row.Name,-8} {row.VerifiedTokensPerSecond,8:F0} verified tok/s  (step {row.MeanStepMs:F2} ms, {row.Steps} steps, {row.AcceptanceRate:P0} of drafts accepted)");
            }
            var prefill = benchmark.PrefillTokensPerSecond(256);
            var table = new Table().AddColumn("configuration").AddColumn("tok/s");
            foreach (var r in rows) table.AddRow(r.Name + " (verified)", $"{r.VerifiedTokensPerSecond:F0}");
            table.AddRow("prefill (1 x 256)", $"{prefill:F0}");
            AnsiConsole.Write(table);
            // The most sessions against the fewest, and against the prefill limit (with the default counts: 32 against 1).
            var (fewest, most) = (rows.MinBy(r => r.Sessions)!, rows.MaxBy(r => r.Sessions)!);
            double rMost = most.VerifiedTokensPerSecond / fewest.VerifiedTokensPerSecond, rPrefill = most.VerifiedTokensPerSecond / prefill;
            AnsiConsole.MarkupLine($"{most.Sessions}-session / {fewest.Sessions}-session = {rMost:F2}x; {most.Sessions}-session / prefill = {rPrefill:F2}");
            var dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var path = Path.Combine(dir, "verifier.json");
            File.WriteAllText(path, JsonSerializer.Serialize(new
            {
                tok_s = rows.ToDictionary(r => r.Sessions.ToString(), r => r.VerifiedTokensPerSecond),
                prefill_tok_s = prefill, ratio_most_over_fewest = rMost, ratio_most_over_prefill = rPrefill,
                span = spanTokens,
                steps = rows.ToDictionary(r => r.Name, r => new { r.Steps, r.MeanStepMs, r.AcceptanceRate }),
                drafts = parse.GetValue(drafts).ToString().ToLowerInvariant(),
                threads = torchThreads,
                device = TorchModelRunner.DeviceName(torchDevice),
                model = Path.GetFullPath(modelDir),
                dtype = parse.GetValue(models.Dtype),
                date = DateTime.UtcNow.ToString("u"), machine = MachineDescription.Current,
                answer_tokens = parse.GetValue(answerTokens),
            }, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            return 0;
        });
        bench.Subcommands.Add(verifier);
        bench.Subcommands.Add(Draft(output));
        bench.Subcommands.Add(Modes(output));
        bench.Subcommands.Add(Failover(output));
        bench.Subcommands.Add(FaultsCommand.Create(output));
        bench.Subcommands.Add(Scale(output));
        bench.Subcommands.Add(Sampling(output));
        bench.Subcommands.Add(CapacityCommands.CostFit());
        bench.Subcommands.Add(CapacityCommands.Capacity(output));
        var markdown = new Option<string?>("--markdown") { Description = "write the benchmarks page (e.g. docs/benchmarks.md) from the result files its manifest lists, instead of re-drawing a grid" };
        var manifest = new Option<string?>("--manifest") { Description = $"the measurements' manifest (default: docs/measurements/{BenchmarksPage.ManifestFile})" };
        var report = new Command("report", "Re-draw the grid's plots, CSV and summary.md from its results.json in --out; or, with --markdown, write the benchmarks page") { output, markdown, manifest };
        report.SetAction(parse =>
        {
            if (parse.GetValue(markdown) is { } page)
            {
                var list = parse.GetValue(manifest) ?? Path.Combine(RepoPaths.Root, "docs", "measurements", BenchmarksPage.ManifestFile);
                File.WriteAllText(page, BenchmarksPage.Render(list, page));
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(page)} from {Markup.Escape(list)}");
                return 0;
            }
            GridReport.Rewrite(parse.GetValue(output)!);
            return 0;
        });
        bench.Subcommands.Add(report);
        // `synera bench` on its own runs the grid (the paper's evaluation side by side).
        var quick = new Option<bool>("--quick") { Description = "a small grid that finishes in under 5 minutes on 2 cores" };
        var cluster = new Option<string?>("--cluster") { Description = "a running cluster's gateway at HOST:PORT (cloud cost and capacity need the in-process cluster)" };
        bench.Options.Add(output);
        bench.Options.Add(quick);
        var slices = new Option<string>("--slices") { Description = "which slices to run, comma-separated: quality, latency, scale, capacity", DefaultValueFactory = _ => "quality,latency,scale,capacity" };
        bench.Options.Add(cluster);
        bench.Options.Add(slices);
        var gridModels = new ModelOptions().AddTo(bench);
        bench.SetAction((parse, cancellation) => GridCommand.RunAsync(parse.GetValue(output)!, parse.GetValue(quick), parse.GetValue(cluster),
            parse.GetValue(slices)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(),
            gridModels.DraftDir(parse), gridModels.Verifier(parse), cancellation));
        return bench;
    }

    /// <summary><c>synera bench draft</c>: the device's draft runner against plain ONNX Runtime on the same file.</summary>
    private static Command Draft(Option<string> output)
    {
        var models = new ModelOptions();
        var tokens = new Option<int>("--tokens") { Description = "tokens decoded after the prompt", DefaultValueFactory = _ => 128 };
        var prompt = new Option<string>("--prompt") { DefaultValueFactory = _ => "Tell me about the history of the printing press." };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (a phone's SLM gets one or two)", DefaultValueFactory = _ => 1 };
        var side = new Option<string>("--side") { Description = "both (the ratio), or device / raw alone (the process's memory is then that side's)", DefaultValueFactory = _ => "both" };
        side.AcceptOnlyFromAmong("both", "device", "raw");
        var command = new Command("draft", "The device's draft runner against plain ONNX Runtime on the same file: decode tokens/s, the same tokens, resident memory")
        {
            models.Draft, tokens, prompt, threads, side, output,
        };
        command.SetAction(parse =>
        {
            var dir = models.DraftDir(parse);
            int n = parse.GetValue(tokens), t = parse.GetValue(threads);
            if (n < 1) throw new ArgumentException("--tokens must be positive");
            var tokenizer = SyneraTokenizer.LoadForModel(dir);
            var ids = tokenizer.EncodeChatPrompt(parse.GetValue(prompt)!);
            // With both sides in one process the raw side runs first; its memory stays in the process, so --side measures one alone.
            var which = parse.GetValue(side)!;
            var raw = which == "device" ? null : DraftBenchmark.RawOnnxRuntime(dir, ids, n, t, tokenizer.VocabSize);
            var device = which == "raw" ? null : DraftBenchmark.Device(dir, ids, n, t);
            var (_, peak) = ProcessMemory.Read();
            if (raw is not null && device is not null && !raw.Ids.SequenceEqual(device.Ids))
                throw new InvalidOperationException("the device runner and plain ONNX Runtime decoded different tokens");
            double? ratio = raw is not null && device is not null ? device.TokensPerSecond / raw.TokensPerSecond : null;
            AnsiConsole.MarkupLine($"prompt {ids.Length} tokens, {n} decoded{(ratio is null ? "" : " (the same ids on both sides)")}, {t} thread(s)");
            foreach (var row in new[] { raw, device }.OfType<DraftBenchRow>())
                AnsiConsole.MarkupLine($"{row.Name,-18} {row.TokensPerSecond,8:F1} tok/s, process resident {row.ResidentBytes / 1e6:F0} MB with the model loaded");
            if (ratio is double r) AnsiConsole.MarkupLine($"device / raw = {r:F2}");
            AnsiConsole.MarkupLine($"process peak resident {peak / 1e6:F0} MB ({which}; loading a graph with external data holds it twice for a moment)");
            var path = Path.Combine(Directory.CreateDirectory(parse.GetValue(output)!).FullName, "draft.json");
            File.WriteAllText(path, JsonSerializer.Serialize(new
            {
                model = Path.GetFullPath(dir), prompt_tokens = ids.Length, tokens = n, threads = t,
                date = DateTime.UtcNow.ToString("u"), machine = MachineDescription.Current,
                side = which, raw_tok_s = raw?.TokensPerSecond, device_tok_s = device?.TokensPerSecond, ratio,
                raw_resident_bytes = raw?.ResidentBytes, device_resident_bytes = device?.ResidentBytes, peak_resident_bytes = peak,
            }, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }

    /// <summary><c>synera bench modes</c>: accuracy, offload, latency and cloud cost of every mode on the held-out suite.</summary>
    private static Command Modes(Option<string> output)
    {
        var suite = new Option<string?>("--suite") { Description = "task suite (default: data/heldout.jsonl)" };
        var limit = new Option<int>("--limit") { Description = "examples per task (0 = all)", DefaultValueFactory = _ => 0 };
        var budgets = new Option<string>("--budgets") { Description = "synera and route budgets, comma-separated", DefaultValueFactory = _ => "0.05,0.1,0.2" };
        var thresholds = new Option<string>("--thresholds") { Description = "threshold sweep: synera at fixed thresholds, no budget (empty = none)", DefaultValueFactory = _ => "0.3,0.5,0.8,0.9" };
        var only = new Option<string?>("--only") { Description = "run only rows whose name starts with one of these, comma-separated (e.g. slm,llm,synera-0.1)" };
        var rtt = new Option<double>("--rtt") { Description = "emulated RTT (ms)" };
        var bandwidth = new Option<double>("--bandwidth") { Description = "emulated link bandwidth (bit/s, 0 = unlimited)" };
        var deviceMs = new Option<double>("--device-ms") { Description = "SLM pacing (ms per token)" };
        var lookahead = new Option<int>("--correction-lookahead")
        {
            Description = "synera rows: the LLM tokens the cloud sends after each correction (0 = the correction alone)",
            DefaultValueFactory = _ => new GenerationOptions().CorrectionLookahead,
        };
        var command = new Command("modes", "Run the held-out suite through slm, llm, spec, oracle, route and synera at several budgets, and a threshold sweep")
        {
            output, suite, limit, budgets, thresholds, only, rtt, bandwidth, deviceMs, lookahead,
        };
        var models = new ModelOptions().AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var examples = TaskGenerator.ReadJsonl(parse.GetValue(suite) ?? RepoPaths.HeldOutSuite);
            var perTask = parse.GetValue(limit);
            if (perTask > 0) examples = examples.GroupBy(e => e.Task).SelectMany(g => g.Take(perTask)).ToList();
            examples = ModesBenchmark.Shuffle(examples);
            var link = new LinkOptions(parse.GetValue(rtt), parse.GetValue(bandwidth), parse.GetValue(deviceMs));
            var look = parse.GetValue(lookahead);
            if (look is < 0 or > VerifyRequest.MaxCorrectionLookahead) throw new ArgumentException($"--correction-lookahead must be in [0, {VerifyRequest.MaxCorrectionLookahead}]");
            var configs = ModeRows(link, ParseList(parse.GetValue(budgets)), ParseList(parse.GetValue(thresholds)))
                .Select(c => (c.name, c.options.Mode == GenerationMode.Synera ? c.options with { CorrectionLookahead = look } : c.options)).ToList();
            if (parse.GetValue(only) is { } filter)
            {
                var prefixes = filter.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                configs = configs.Where(c => prefixes.Any(p => c.name == p || c.name.StartsWith(p + "-") || c.name.StartsWith(p + "@"))).ToList();
                if (configs.Count == 0) throw new ArgumentException($"--only {filter} matches no row");
            }
            var calibration = OffloadCalibration.TryLoadBeside(models.DraftDir(parse));
            if (calibration is null) AnsiConsole.MarkupLine("[yellow]no offload.json beside the draft: thresholds come from each device's own scores (run `synera calibrate`)[/]");
            var (runner, tokenizer) = models.OpenDraft(parse);
            using var _ = runner;
            await using var cluster = await EmbeddedCluster.StartAsync(models.Verifier(parse), LogLevel.Warning, cancellation);
            var benchmark = new ModesBenchmark(cluster.Client, runner, tokenizer, calibration, cluster.SiloServices);
            AnsiConsole.MarkupLine($"{examples.Count} examples (tasks shuffled), RTT {link.RttMs} ms, device {link.DeviceMsPerToken} ms/token, {configs.Count} rows, a fresh device each");
            var results = new List<ModeResult>();
            foreach (var (name, options) in configs)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var r = await benchmark.RunAsync(name, options, examples, new Progress<int>(n =>
                {
                    if (n % 50 == 0) LiveProgress.Show($"  {name}: {n}/{examples.Count} ({clock.Elapsed.TotalSeconds:F0} s)");
                }));
                LiveProgress.Clear();
                results.Add(r);
                AnsiConsole.MarkupLine($"{name,-18} acc {r.Accuracy,6:P1}  offload {r.OffloadRatio,6:P1}  accept {r.AcceptanceRate,6:P1}  " +
                    $"TTFT p50 {r.TtftMsP50,6:F1} ms  TPOT p50 {r.TpotMsP50,6:F1} ms  cloud {r.CloudComputeMsPerToken,6:F3} ms/tok  {r.BytesPerToken,5:F1} B/tok  " +
                    $"corrections {r.Corrections} (+{r.ContinuationTokens} LLM tokens after them; LLM-written {r.LlmWrittenRatio:P1}) (by rank in the draft's distribution {string.Join('/', r.CorrectionRanks ?? [])}; runner-up branch ready {r.RunnerUpHits})  verdict RTT p50/p90 {r.VerdictRttMsP50:F0}/{r.VerdictRttMsP90:F0} ms (in the cloud p50 {r.CloudVerifyMsP50:F1} ms, {r.CloudMsPerStep:F1} ms/step)  ({clock.Elapsed.TotalSeconds:F0} s)");
            }
            double? slm = results.Find(r => r.Name == "slm")?.Accuracy, llm = results.Find(r => r.Name == "llm")?.Accuracy;
            double? Gap(ModeResult r) => slm is null || llm is null || llm == slm ? null : (r.Accuracy - slm) / (llm - slm);
            var table = new Table().AddColumns("row", "accuracy", "gap recovered", "offload", "LLM-written", "TPOT p50 (ms)", "TPOT p99 (ms)", "cloud ms/tok", "B/tok");
            foreach (var r in results)
                table.AddRow(r.Name, $"{r.Accuracy:P1}", Gap(r) is double g ? $"{g:P0}" : "-", $"{r.OffloadRatio:P1}", $"{r.LlmWrittenRatio:P1}", $"{r.TpotMsP50:F1}", $"{r.TpotMsP99:F1}",
                    $"{r.CloudComputeMsPerToken:F3}", $"{r.BytesPerToken:F1}");
            AnsiConsole.Write(table);
            var dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var path = Path.Combine(dir, "modes.json");
            File.WriteAllText(path, JsonSerializer.Serialize(new
            {
                examples = examples.Count, rtt_ms = link.RttMs, device_ms_per_token = link.DeviceMsPerToken, bandwidth_bps = link.BandwidthBitsPerSecond,
                date = DateTime.UtcNow.ToString("u"), machine = MachineDescription.Current,
                results = results.Select(r => new
                {
                    r.Name, r.Mode, r.Budget, r.Accuracy, r.PerTask, r.OffloadRatio, r.AcceptanceRate, r.BytesPerToken,
                    r.TtftMsP50, r.TpotMsP50, r.TpotMsP99, r.CloudComputeMsPerToken, r.CloudTokensPerToken, r.Tokens, r.Threshold, r.OverBudget, r.Wasted, r.Corrections, r.RunnerUpHits, r.CorrectionRanks, r.VerdictRttMsP50, r.VerdictRttMsP90, r.CloudVerifyMsP50, r.CloudMsPerStep,
                    r.ContinuationTokens, llm_written_ratio = r.LlmWrittenRatio, correction_lookahead = r.Mode == "synera" ? look : 0,
                    gap_recovered = Gap(r),
                    answers = r.Answers,
                }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }

    /// <summary><c>synera bench failover</c>: a verifier silo killed mid-answer, five times; writes failover.json.</summary>
    private static Command Failover(Option<string> output)
    {
        var runs = new Option<int>("--runs") { Description = "answers interrupted by a fault", DefaultValueFactory = _ => 5 };
        var fault = new Option<VerifierFault>("--fault")
        {
            Description = "kill (SIGKILL), pause (SIGSTOP until the answer ends) or partition (its host's link down, the process alive; needs root)",
            DefaultValueFactory = _ => VerifierFault.Kill,
        };
        var command = new Command("failover", "Fail the verifier silo serving a device mid-answer (kill, pause or partition); compare with the undisturbed answer") { output, runs, fault };
        command.SetAction(async (parse, cancellation) =>
        {
            if (parse.GetValue(runs) <= 0) throw new ArgumentException("--runs must be positive");
            var dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var tokenizer = SyneraTokenizer.Load(Path.Combine(RepoPaths.DraftModel, "tokenizer.json"));
            using var runner = new OnnxDraftRunner(Path.Combine(RepoPaths.DraftModel, "model.onnx"));
            var prompts = TaskGenerator.ReadJsonl(RepoPaths.HeldOutSuite).Where(e => e.Task == "prose").Take(parse.GetValue(runs)).Select(e => e.Prompt).ToList();
            var kind = parse.GetValue(fault);
            var results = await new FailoverBenchmark(runner, tokenizer, dir, line => AnsiConsole.MarkupLine(Markup.Escape(line)), kind).RunAsync(prompts, cancellation);
            var recoveries = results.Select(r => r.RecoveryMs).Where(double.IsFinite).ToList();
            var pauses = results.Select(r => r.LongestPauseMs).Where(double.IsFinite).ToList();
            var path = Path.Combine(dir, kind == VerifierFault.Kill ? "failover.json" : $"failover-{kind.ToString().ToLowerInvariant()}.json");
            File.WriteAllText(path, JsonSerializer.Serialize(new
            {
                fault = kind.ToString().ToLowerInvariant(),
                runs = results.Count,
                longest_pause_ms_p50 = pauses.Count == 0 ? (double?)null : ModesBenchmark.Percentile(pauses, 0.5),
                longest_pause_ms_max = pauses.Count == 0 ? (double?)null : pauses.Max(),
                tokens_lost = results.Sum(r => r.TokensLost),
                tokens_duplicated = results.Sum(r => r.TokensDuplicated),
                answers_differing = results.Count(r => r.Differs),
                recovery_ms_p50 = recoveries.Count == 0 ? (double?)null : ModesBenchmark.Percentile(recoveries, 0.5),
                recovery_ms_max = recoveries.Count == 0 ? (double?)null : recoveries.Max(),
                slm_fallbacks = results.Count(r => r.SlmFallback),
                date = DateTime.UtcNow.ToString("u"),
                details = results,
            }, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }

    /// <summary><c>synera bench sampling</c>: is sampled synera distributed as the LLM alone? Writes sampling.json.</summary>
    private static Command Sampling(Option<string> output)
    {
        var samples = new Option<int>("--samples") { Description = "answers per configuration", DefaultValueFactory = _ => 3000 };
        var prompt = new Option<string>("--prompt") { Description = "the fixed prompt", DefaultValueFactory = _ => "Tell me about Tom's cat." };
        var tokens = new Option<int>("--tokens") { Description = "opening tokens compared", DefaultValueFactory = _ => 3 };
        var workers = new Option<int>("--workers") { Description = "devices drawing in parallel", DefaultValueFactory = _ => 4 };
        var answers = new Option<int>("--answers") { Description = "held-out prompts for the acceptance and bytes comparison", DefaultValueFactory = _ => 60 };
        var command = new Command("sampling", "Temperature-1 samples through llm, spec and synera (coupled, and the q(x) rule): chi-square against llm; acceptance and uplink bytes")
        {
            output, samples, prompt, tokens, workers, answers,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            int n = parse.GetValue(samples), k = parse.GetValue(tokens);
            if (n < 10 || k < 1 || parse.GetValue(workers) < 1) throw new ArgumentException("--samples must be at least 10, --tokens and --workers at least 1");
            var tokenizer = SyneraTokenizer.Load(Path.Combine(RepoPaths.DraftModel, "tokenizer.json"));
            await using var cluster = await EmbeddedCluster.StartAsync(v => v.ModelPath = RepoPaths.TargetModel, LogLevel.Warning, cancellation);
            var benchmark = new SamplingBenchmark(cluster.Client, Path.Combine(RepoPaths.DraftModel, "model.onnx"), tokenizer, parse.GetValue(workers));
            var sampled = new GenerationOptions { Temperature = 1f, LoadAware = false };
            var configs = new (string name, GenerationOptions options)[]
            {
                ("llm", sampled with { Mode = GenerationMode.Llm }),
                ("spec", sampled with { Mode = GenerationMode.Spec }),
                ("synera@1", sampled with { Mode = GenerationMode.Synera, Budget = 1 }),
                ("synera@0.2", sampled with { Mode = GenerationMode.Synera, Budget = 0.2 }),
                ("spec/q-rule", sampled with { Mode = GenerationMode.Spec, SamplingRule = SamplingRule.DraftProbability }),
                ("synera@1/q-rule", sampled with { Mode = GenerationMode.Synera, Budget = 1, SamplingRule = SamplingRule.DraftProbability }),
            };
            AnsiConsole.MarkupLine($"prompt '{Markup.Escape(parse.GetValue(prompt)!)}', {n} samples per row at temperature 1, first {k} tokens compared, seeds disjoint across rows");
            var rows = new List<SamplingRow>();
            for (int c = 0; c < configs.Length; c++)
            {
                var (name, options) = configs[c];
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var row = await benchmark.RunAsync(name, options, parse.GetValue(prompt)!, c * n, n, k, new Progress<int>(d =>
                {
                    if (d % 250 == 0) LiveProgress.Show($"  {name}: {d}/{n} ({clock.Elapsed.TotalSeconds:F0} s)");
                }));
                LiveProgress.Clear();
                rows.Add(row);
                AnsiConsole.MarkupLine($"{name,-16} {row.Openings.Count,5} distinct openings  accept {row.AcceptanceRate,6:P1}  ({clock.Elapsed.TotalSeconds:F0} s)");
            }
            var llm = rows[0].Openings;
            var tests = rows.Skip(1).ToDictionary(r => r.Name, r => SamplingBenchmark.Homogeneity(r.Openings, llm));
            var distance = rows.Skip(1).ToDictionary(r => r.Name, r => SamplingBenchmark.Distance(r.Openings, llm));
            // Acceptance and uplink bytes per token, side by side, over whole held-out answers in spec mode.
            var prompts = TaskGenerator.ReadJsonl(RepoPaths.HeldOutSuite).Take(parse.GetValue(answers)).Select(e => e.Prompt).ToList();
            var efficiency = new Dictionary<string, object>();
            foreach (var (name, options) in new (string, GenerationOptions)[]
            {
                ("greedy", new GenerationOptions { Mode = GenerationMode.Spec, LoadAware = false }),
                ("coupled", sampled with { Mode = GenerationMode.Spec }),
                ("q-rule", sampled with { Mode = GenerationMode.Spec, SamplingRule = SamplingRule.DraftProbability }),
            })
            {
                var (acceptance, bytesUp, generated) = await benchmark.EfficiencyAsync(options, prompts);
                efficiency[name] = new { acceptance_rate = acceptance, uplink_bytes_per_token = bytesUp, tokens = generated };
                AnsiConsole.MarkupLine($"spec, {name,-8} accept {acceptance,6:P1}  uplink {bytesUp,6:F1} B/token  ({generated} tokens)");
            }
            var table = new Table().AddColumns("row", "vs llm: chi2", "df", "p-value", "distance (TV)", "acceptance");
            foreach (var r in rows.Skip(1))
                table.AddRow(r.Name, $"{tests[r.Name].chi2:F1}", $"{tests[r.Name].df}", $"{tests[r.Name].p:G3}", $"{distance[r.Name]:F3}", $"{r.AcceptanceRate:P1}");
            AnsiConsole.Write(table);
            var dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var path = Path.Combine(dir, "sampling.json");
            File.WriteAllText(path, JsonSerializer.Serialize(new
            {
                samples = n, prompt = parse.GetValue(prompt), opening_tokens = k, temperature = 1,
                // synera below budget 1 keeps SLM tokens by design: its distance is reported, not tested.
                p_value = tests.Where(t => t.Key != "synera@0.2").ToDictionary(t => t.Key, t => t.Value.p),
                chi2 = tests.ToDictionary(t => t.Key, t => new { t.Value.chi2, t.Value.df }),
                distance,
                acceptance = rows.ToDictionary(r => r.Name, r => r.AcceptanceRate),
                efficiency,
                top_openings = rows.ToDictionary(r => r.Name, r => r.Openings.OrderByDescending(o => o.Value).Take(8).ToDictionary(o => benchmark.Describe(o.Key), o => o.Value)),
                date = DateTime.UtcNow.ToString("u"),
                machine = MachineDescription.Current,
            }, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }

    /// <summary><c>synera bench scale</c>: verified tokens/s with one verifier silo, then two; writes scale.json.</summary>
    private static Command Scale(Option<string> output)
    {
        // 384 by default: enough to saturate two silos here (at 192 the two-silo measurement left a quarter of a core idle).
        var devices = new Option<int>("--devices") { Description = "simulated devices (enough to saturate the silos)", DefaultValueFactory = _ => 384 };
        var seconds = new Option<double>("--seconds") { Description = "measuring time per configuration", DefaultValueFactory = _ => 30 };
        var span = new Option<int>("--span")
        {
            Description = "random drafts per span: each span costs the same orchestration (grain calls, persisted state, a verdict), so longer spans put more of the cores on verification",
            DefaultValueFactory = _ => 16,
        };
        var model = new Option<string?>("--model") { Description = "target model folder the verifier silos serve (default: models/target)" };
        var targetHidden = new Option<int?>("--target-hidden")
        {
            Description = "serve an untrained target of this hidden size instead (the shipped target's layers and heads, random weights): " +
                "the drafts are random, so only the model's cost per token matters, and a heavier target shows how the cluster scales when " +
                "verification outweighs the orchestration, as a real LLM's does",
        };
        var repeats = new Option<int>("--runs") { Description = "measure this many times, each from a fresh cluster; scale.json gives the medians and every run", DefaultValueFactory = _ => 3 };
        var command = new Command("scale", "Verified tokens/s through one verifier silo and through two (one torch thread each)") { output, devices, seconds, span, model, targetHidden, repeats };
        command.SetAction(async (parse, cancellation) =>
        {
            var dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var runCount = parse.GetValue(repeats);
            if (runCount is < 1 or > 20) throw new ArgumentException("--runs must be in [1, 20]");
            var spanLength = parse.GetValue(span);
            if (spanLength is < 1 or > VerifierOptions.DefaultMaxSpanTokens) throw new ArgumentException($"--span must be in [1, {VerifierOptions.DefaultMaxSpanTokens}]");
            if (parse.GetValue(model) is not null && parse.GetValue(targetHidden) is not null) throw new ArgumentException("give --model or --target-hidden, not both");
            var modelDir = parse.GetValue(targetHidden) is int hidden ? UntrainedTarget(hidden, dir) : parse.GetValue(model) ?? RepoPaths.TargetModel;
            var tokenizerPath = Path.Combine(modelDir, "tokenizer.json");
            if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"no target model in {modelDir} (tokenizer.json missing)", tokenizerPath);
            var vocab = SyneraTokenizer.Load(tokenizerPath).VocabSize;
            var config = TransformerConfig.Load(Path.Combine(modelDir, "config.json"));
            AnsiConsole.MarkupLine(Markup.Escape($"target {modelDir}: hidden {config.HiddenSize}, {config.NumLayers} layers, {config.ParameterCount() / 1e6:F1}M parameters"));
            // Every session must fit one silo's KV cache: past it, the single silo evicts sessions and re-prefills them (a
            // 512-wide target at 384 devices re-prefilled a third of its tokens), which two silos do not, and the ratio
            // would measure that instead of the second silo's capacity.
            var kvSessions = KvLayout.For(config, Math.Min(config.MaxPositions, TorchModelRunner.DefaultMaxContext), TorchSharp.torch.ScalarType.Float32).SessionsWithin(VerifierOptions.DefaultKvCacheBudgetBytes);
            if (parse.GetValue(devices) > kvSessions)
                throw new ArgumentException($"--devices {parse.GetValue(devices)}: one verifier silo's KV cache ({VerifierOptions.DefaultKvCacheBudgetBytes >> 20} MiB) holds " +
                    $"{kvSessions} sessions of this target; with more, the single silo would re-prefill evicted sessions and the ratio would overstate the scaling. Give --devices {kvSessions} or fewer");
            // Each run starts from nothing (its own store and silo processes): the ratio moves a lot between runs on a shared
            // machine, so several runs and their median say more than one.
            var runs = new List<(ScaleRow one, ScaleRow two)>();
            for (int run = 1; run <= runCount; run++)
            {
                if (runCount > 1) AnsiConsole.MarkupLine($"run {run} of {runCount}");
                var runDir = runCount > 1 ? Path.Combine(dir, $"run-{run}") : dir;
                Directory.CreateDirectory(runDir);
                runs.Add(await new ScaleBenchmark(runDir, vocab, line => AnsiConsole.MarkupLine(Markup.Escape(line)), spanLength, Path.GetFullPath(modelDir))
                    .RunAsync(parse.GetValue(devices), TimeSpan.FromSeconds(parse.GetValue(seconds)), cancellation));
            }
            static double Median(IEnumerable<double> xs) { var v = xs.Order().ToArray(); return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2; }
            var ratios = runs.Select(r => r.two.VerifiedTokensPerSecond / r.one.VerifiedTokensPerSecond).ToList();
            var medianRatio = Median(ratios);
            bool Contended(int run) => runs[run].one.Contended || runs[run].two.Contended;
            var uncontended = ratios.Where((_, i) => !Contended(i)).ToList();
            var (one, two) = runs[ratios.IndexOf(ratios.MinBy(r => Math.Abs(r - medianRatio)))];   // details of the run nearest the median
            var path = Path.Combine(dir, "scale.json");
            File.WriteAllText(path, JsonSerializer.Serialize(new
            {
                tok_s_1 = Median(runs.Select(r => r.one.VerifiedTokensPerSecond)), tok_s_2 = Median(runs.Select(r => r.two.VerifiedTokensPerSecond)),
                ratio = medianRatio, ratio_min = ratios.Min(), ratio_max = ratios.Max(),
                // The same median over the runs the host left alone (null when it left none alone); every run is below.
                ratio_uncontended = uncontended.Count > 0 ? Median(uncontended) : (double?)null, runs_contended = ratios.Count - uncontended.Count,
                sessions_per_silo_1 = one.SessionsPerSilo, sessions_per_silo_2 = two.SessionsPerSilo,
                cpu_percent_1 = one.CpuPercent, cpu_percent_2 = two.CpuPercent,
                runs = runs.Select((r, i) => new
                {
                    tok_s_1 = r.one.VerifiedTokensPerSecond, tok_s_2 = r.two.VerifiedTokensPerSecond, ratio = ratios[i], contended = Contended(i),
                    sessions_per_silo_1 = r.one.SessionsPerSilo, sessions_per_silo_2 = r.two.SessionsPerSilo, cpu_percent_1 = r.one.CpuPercent, cpu_percent_2 = r.two.CpuPercent,
                }),
                devices = parse.GetValue(devices), kv_sessions_per_silo = kvSessions, span = spanLength, target = modelDir, target_hidden = config.HiddenSize, target_parameters = config.ParameterCount(),
                threads_per_silo = 1, cores = Environment.ProcessorCount, date = DateTime.UtcNow.ToString("u"),
            }, new JsonSerializerOptions { WriteIndented = true }));
            if (runs.Count > 1) AnsiConsole.MarkupLine($"ratios {string.Join(", ", ratios.Select((r, i) => r.ToString("F2") + (Contended(i) ? " (contended)" : "")))}; median below");
            if (uncontended.Count < ratios.Count && uncontended.Count > 0) AnsiConsole.MarkupLine($"median of the {uncontended.Count} runs the host left alone: {Median(uncontended):F2}");
            AnsiConsole.MarkupLine($"ratio {medianRatio:F2}; wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }

    /// <summary>An untrained target of the shipped shape but <paramref name="hidden"/> wide (feed-forward widened alike), saved
    /// under the output folder with the shipped tokenizer.</summary>
    private static string UntrainedTarget(int hidden, string outDir)
    {
        var tokenizer = SyneraTokenizer.Load(Path.Combine(RepoPaths.TargetModel, "tokenizer.json"));
        var shipped = ModelPresets.Target(tokenizer.VocabSize);
        if (hidden <= 0 || hidden % (2 * shipped.NumHeads) != 0 || hidden > 4096)
            throw new ArgumentException($"--target-hidden {hidden}: give a multiple of {2 * shipped.NumHeads} (the heads × an even head size) up to 4096");
        var config = shipped with { HiddenSize = hidden, IntermediateSize = (int)Math.Round(hidden * (double)shipped.IntermediateSize / shipped.HiddenSize / 8) * 8 };
        var dir = Path.Combine(outDir, $"untrained-target-{hidden}");
        using var target = new Transformer(config, seed: 1);
        ModelCheckpoint.Save(target, tokenizer, dir, float16: false);
        return dir;
    }

    /// <summary>The rows of <c>bench modes</c>: baselines, the oracle, route and synera per budget (synera also with the importance
    /// rule flipped from its default, to report its effect), and synera at fixed thresholds with no budget.</summary>
    private static List<(string name, GenerationOptions options)> ModeRows(LinkOptions link, IEnumerable<double> budgets, IEnumerable<double> thresholds)
    {
        var rows = new List<(string name, GenerationOptions options)>
        {
            ("slm", new() { Mode = GenerationMode.Slm, Link = link }),
            ("llm", new() { Mode = GenerationMode.Llm, Link = link }),
            ("spec-4", new() { Mode = GenerationMode.Spec, Link = link, SpecSpanLength = 4 }),
            ("oracle", new() { Mode = GenerationMode.Oracle, Link = link }),
        };
        var importanceDefault = new GenerationOptions().UseImportance;
        foreach (var b in budgets)
        {
            rows.Add(($"route-{b:0.##}", new() { Mode = GenerationMode.Route, Budget = b, Link = link, LoadAware = false }));
            rows.Add(($"synera-{b:0.##}", new() { Mode = GenerationMode.Synera, Budget = b, Link = link, LoadAware = false }));
            rows.Add(($"synera-{b:0.##}-{(importanceDefault ? "noimp" : "imp")}",
                new() { Mode = GenerationMode.Synera, Budget = b, Link = link, LoadAware = false, UseImportance = !importanceDefault }));
        }
        foreach (var t in thresholds)
            rows.Add(($"threshold@{t:0.###}", new() { Mode = GenerationMode.Synera, FixedThreshold = t, Link = link, LoadAware = false, UseImportance = false }));
        return rows;
    }

    private static List<double> ParseList(string? text) =>
        (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(x => double.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToList();
}

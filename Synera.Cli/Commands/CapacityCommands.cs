using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Synera.Cli.Bench;
using Synera.Grains.Verification;
using Synera.Models;
using Synera.Models.Data;
using Synera.DeviceClient.Generation;
using ScottPlot;

namespace Synera.Cli.Commands;

/// <summary><c>synera bench capacity</c> and <c>synera bench cost-fit</c>: what one verifier serves, measured and modelled.</summary>
public static class CapacityCommands
{
    /// <summary><c>synera bench cost-fit</c>: fits a step cost model to this machine and a target; writes models/cost/NAME.json.</summary>
    public static Command CostFit()
    {
        var models = new ModelOptions();
        var threads = new Option<int>("--threads") { Description = "torch threads (the capacity benchmark's verifier runs on one core)", DefaultValueFactory = _ => 1 };
        var name = new Option<string?>("--name") { Description = "the model's name and file (default: cpu-<target folder>)" };
        var repeats = new Option<int>("--repeats") { Description = "timed steps per shape (the median counts)", DefaultValueFactory = _ => 5 };
        var command = new Command("cost-fit", "Time the real runner's steps over batch shapes and fit a step cost model (compute rate, bandwidth, overheads) to them; writes models/cost/NAME.json")
        {
            threads, name, repeats,
        };
        models.AddTo(command, draft: false);
        command.Options.Remove(models.MaxContext);
        command.Options.Remove(models.KvBudget);
        command.SetAction(parse =>
        {
            TorchSharp.torch.set_num_threads(Math.Max(1, parse.GetValue(threads)));
            var target = models.TargetDir(parse);
            var configPath = Path.Combine(target, "config.json");
            var shape = TransformerConfig.Load(configPath);
            var device = TorchSharp.torch.CPU;
            var dtype = ModelCheckpoint.ResolveDtype(target, parse.GetValue(models.Dtype)!, device);
            int bytes = (int)dtype.ElementSize();
            var modelName = parse.GetValue(name) ?? $"cpu-{Path.GetFileName(Path.GetFullPath(target).TrimEnd('/'))}";
            AnsiConsole.MarkupLine($"timing {Markup.Escape(target)} ({shape.NumParameters:N0} parameters, {dtype.Name()}) on {parse.GetValue(threads)} torch thread(s):");
            var fit = new StepCostFit(target, device, parse.GetValue(models.Dtype)!, line => AnsiConsole.MarkupLine(Markup.Escape(line)));
            var points = fit.Measure(parse.GetValue(repeats));
            var unfitted = new StepCostModel(modelName, "", new HardwareLimits("", 1, 1, 1, 1, 0, 0), shape, bytes, bytes);
            var hardware = StepCostFit.Fit($"{Environment.ProcessorCount}-core CPU of {MachineDescription.Current}, {parse.GetValue(threads)} torch thread(s)", unfitted, points);
            var model = unfitted with { Hardware = hardware };
            var kept = points.Select(p => new StepCostModel.FitPoint(p.batch.Length, p.batch[0].NewTokens, p.batch[0].CachedTokens, Math.Round(p.ms, 3),
                Math.Round(model.StepTime(p.batch).ms, 3))).ToList();
            var errors = kept.Select(k => Math.Abs(k.ModelledMs - k.MeasuredMs) / k.MeasuredMs).Order().ToList();
            var table = new Table().AddColumns("sequences", "new", "cached", "measured ms", "modelled ms", "error");
            foreach (var k in kept) table.AddRow($"{k.Sequences}", $"{k.NewTokens}", $"{k.CachedTokens}", $"{k.MeasuredMs:F2}", $"{k.ModelledMs:F2}", $"{(k.ModelledMs - k.MeasuredMs) / k.MeasuredMs:+0.0%;-0.0%}");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"fitted: {hardware.PeakTflops * 1e3:F1} GFLOP/s, {hardware.MemoryGBps:F1} GB/s, {hardware.StepOverheadMs:F2} ms a step + {hardware.PerSequenceOverheadMs:F3} ms a sequence");
            AnsiConsole.MarkupLine($"relative error over {kept.Count} shapes: median {errors[errors.Count / 2]:P1}, p90 {errors[(int)(0.9 * (errors.Count - 1))]:P1}, max {errors[^1]:P1}");
            Directory.CreateDirectory(Path.Combine(RepoPaths.Models, "cost"));
            var path = Path.Combine(RepoPaths.Models, "cost", modelName + ".json");
            StepCostModel.Save(path, modelName,
                $"Fitted by `synera bench cost-fit` to {kept.Count} measured step shapes of {Path.GetFileName(Path.GetFullPath(target).TrimEnd('/'))} ({dtype.Name()}) on this machine; rates are what it reached (efficiencies 1). Relative error: median {errors[errors.Count / 2]:P1}, max {errors[^1]:P1}. Measured {DateTime.UtcNow:yyyy-MM-dd}.",
                hardware, configPath, bytes, bytes, kept);
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }

    /// <summary><c>synera bench capacity</c>: devices one verifier silo serves at the service level; writes capacity.json and capacity.png.</summary>
    public static Command Capacity(Option<string> output)
    {
        var models = new ModelOptions();
        var modes = new Option<string>("--modes") { Description = "llm and synera-BUDGET entries, comma-separated", DefaultValueFactory = _ => "llm,synera-0.1" };
        var prompts = new Option<int>("--prompts") { Description = "held-out prompts used (the first N of the suite's order; 0 = all 450)", DefaultValueFactory = _ => 0 };
        var seconds = new Option<double>("--seconds") { Description = "measuring window per load level (real seconds, before the time scale)", DefaultValueFactory = _ => 20 };
        var warmUp = new Option<double>("--warm-up") { Description = "load before the window counts (seconds, before the time scale)", DefaultValueFactory = _ => 5 };
        var maxDevices = new Option<int>("--max-devices") { Description = "the doubling stops here", DefaultValueFactory = _ => 1024 };
        var startDevices = new Option<int>("--start-devices") { Description = "the doubling starts here (a count known to be served)", DefaultValueFactory = _ => 1 };
        var costModel = new Option<string?>("--cost-model") { Description = "time the verifier's steps by this cost model (a name under models/cost or a file): a projection for other hardware" };
        var timeScale = new Option<double>("--time-scale") { Description = "with --cost-model: every clock runs this many times slower, so this CPU's forward fits in a modelled step", DefaultValueFactory = _ => 1 };
        var replayCheck = new Option<bool>("--replay-check") { Description = "answer the prompts a second time with the draft model replayed and compare (answers, offload ratio, spans)" };
        var command = new Command("capacity", "Devices one verifier silo (its own process and core) serves at a service level (TPOT p90 ≤ 1.1× unloaded, TTFT p90 ≤ unloaded + 250 ms, accuracy within 1 point), llm against synera")
        {
            output, modes, prompts, seconds, warmUp, startDevices, maxDevices, costModel, timeScale, replayCheck,
        };
        models.AddTo(command);
        command.Options.Remove(models.Dtype);
        command.Options.Remove(models.MaxContext);
        command.Options.Remove(models.KvBudget);
        command.SetAction(async (parse, cancellation) =>
        {
            var configs = parse.GetValue(modes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseMode).ToList();
            if (configs.Count == 0) throw new ArgumentException("--modes lists no mode");
            var cost = parse.GetValue(costModel) is { } c ? File.Exists(c) ? Path.GetFullPath(c) : Path.Combine(RepoPaths.Models, "cost", c.EndsWith(".json") ? c : c + ".json") : null;
            if (cost is not null) StepCostModel.Load(cost);   // a missing or malformed file fails here, not in the silo
            double scale = parse.GetValue(timeScale);
            if (!(scale >= 1)) throw new ArgumentException("--time-scale must be 1 or more");
            if (cost is null && scale != 1) throw new ArgumentException("--time-scale needs --cost-model (the real verifier runs in real time)");
            // One fixed shuffle: the suite is stored by task, and the devices of a short window ask only its first prompts.
            var examples = TaskGenerator.ReadJsonl(RepoPaths.HeldOutSuite).ToList();
            new Random(7).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(examples));
            if (parse.GetValue(prompts) > 0) examples = [.. examples.Take(parse.GetValue(prompts))];
            var dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var benchmark = new CapacityBenchmark(models.DraftDir(parse), parse.GetValue(models.Target), dir, new ServiceLevel(),
                line => AnsiConsole.MarkupLine(Markup.Escape(line)), cost, scale)
            {
                Window = TimeSpan.FromSeconds(parse.GetValue(seconds)), WarmUp = TimeSpan.FromSeconds(parse.GetValue(warmUp)), MaxDevices = parse.GetValue(maxDevices), StartDevices = Math.Max(1, parse.GetValue(startDevices)),
            };
            var (results, fidelity, setup) = await benchmark.RunAsync(configs, examples, parse.GetValue(replayCheck), cancellation);
            var llm = results.FirstOrDefault(r => r.Mode == "llm");
            var path = Path.Combine(dir, "capacity.json");
            File.WriteAllText(path, JsonSerializer.Serialize(new
            {
                verifier = cost is null ? "measured" : $"modelled by {Path.GetFileNameWithoutExtension(cost)}",
                cost_model = cost is null ? null : StepCostModel.Load(cost).Description,
                time_scale = scale,
                service_level = new ServiceLevel(),
                device_profile = new { ms_per_token = CapacityBenchmark.DeviceMsPerToken, rtt_ms = CapacityBenchmark.RttMs },
                prompts = examples.Count,
                window_seconds = parse.GetValue(seconds), warm_up_seconds = parse.GetValue(warmUp),
                capacity = results.ToDictionary(r => r.Name, r => r.Capacity),
                devices_vs_llm = llm is null || llm.Capacity == 0 ? null : results.ToDictionary(r => r.Name, r => (double)r.Capacity / llm.Capacity),
                // Cloud cost per generated token at each mode's capacity: the verifier's busy time per token, against llm's.
                cost_per_token_vs_llm = llm is null ? null : results.ToDictionary(r => r.Name, r => AtCapacity(r)?.VerifierBusyMsPerToken / AtCapacity(llm)?.VerifierBusyMsPerToken),
                replay = fidelity,
                setup,
                date = DateTime.UtcNow.ToString("u"), machine = MachineDescription.Current,
                results,
            }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
            var plt = new Plot();
            foreach (var r in results)
            {
                var probes = r.Probes.OrderBy(p => p.Devices).ToList();
                var s = plt.Add.Scatter(probes.Select(p => (double)p.Devices).ToArray(), probes.Select(p => p.Attainment * 100).ToArray());
                s.LegendText = $"{r.Name} (capacity {r.Capacity})";
            }
            plt.Add.HorizontalLine(95, pattern: LinePattern.Dashed);
            plt.Axes.Bottom.Label.Text = "devices";
            plt.Axes.Left.Label.Text = "devices within the service level (%)";
            plt.Title(cost is null ? "SLO attainment, one verifier silo on one core (measured)" : $"SLO attainment, verifier modelled by {Path.GetFileNameWithoutExtension(cost)}");
            plt.ShowLegend();
            plt.SavePng(Path.Combine(dir, "capacity.png"), 900, 560);
            foreach (var r in results) AnsiConsole.MarkupLine($"{r.Name}: {r.Capacity} devices");
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)} and capacity.png");
            return 0;
        });
        return command;

        static CapacityProbe? AtCapacity(CapacityResult r) => r.Probes.Where(p => p.Devices == r.Capacity).LastOrDefault();
    }

    private static (GenerationMode, double) ParseMode(string text) => text.ToLowerInvariant() switch
    {
        "llm" => (GenerationMode.Llm, 1),
        var s when s.StartsWith("synera-") && double.TryParse(s["synera-".Length..], System.Globalization.CultureInfo.InvariantCulture, out var b) && b is > 0 and <= 1 => (GenerationMode.Synera, b),
        _ => throw new ArgumentException($"--modes: '{text}' is neither llm nor synera-BUDGET (a budget in (0, 1])"),
    };
}

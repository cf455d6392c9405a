using Microsoft.Extensions.Logging;
using Spectre.Console;
using Synera.Cli.Bench;
using GridRow = Synera.Cli.Bench.GridRow;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;
using Synera.DeviceClient.Offloading;
using Synera.Models.Data;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera bench [--quick] [--out DIR] [--cluster HOST:PORT]</c>: the grid. Four slices, each row on fresh devices:
/// quality (one device, every mode and budget, 10 ms RTT), latency (a phone-paced device at 10/50/150 ms RTT), scale
/// (1–128 concurrent devices, llm against synera) and capacity (devices one verifier silo serves at the service level
/// of <c>bench capacity</c>).
/// </summary>
public static class GridCommand
{
    private const double Bandwidth = 20e6;   // 20 Mbit/s: a phone on a good cellular link

    public static readonly string[] Slices = ["quality", "latency", "scale", "capacity"];

    /// <param name="draftDir">The devices' draft model folder.</param>
    /// <param name="configureVerifier">The embedded verifier's model and settings.</param>
    public static async Task<int> RunAsync(string dir, bool quick, string? cluster, IReadOnlySet<string> slices, string draftDir,
        Action<Grains.Options.VerifierOptions> configureVerifier, CancellationToken cancellation)
    {
        if (slices.Count == 0 || slices.Except(Slices).Any())
            throw new ArgumentException($"--slices takes {string.Join(", ", Slices)}");
        var tokenizer = SyneraTokenizer.LoadForModel(draftDir);
        var calibration = OffloadCalibration.TryLoadBeside(draftDir);
        var all = ModesBenchmark.Shuffle(TaskGenerator.ReadJsonl(RepoPaths.HeldOutSuite));
        List<TaskExample> Take(int perTask) => ModesBenchmark.Shuffle(all.GroupBy(e => e.Task).SelectMany(g => g.Take(perTask)));
        var qualitySet = quick ? Take(2) : all;
        var latencySet = quick ? Take(1) : Take(10);
        var scaleSet = quick ? Take(2) : Take(16);
        var gateway = cluster is null ? ((string, int)?)null : SyneraClientHost.ParseGateway(cluster);
        await using var connection = await ClusterConnection.OpenAsync(gateway, configureVerifier, cancellation);
        var grid = new GridBenchmark(connection.Client, draftDir, tokenizer, calibration, connection.SiloServices);

        var configs = new List<(GridConfig config, IReadOnlyList<TaskExample> set)>();
        GridConfig C(string slice, GenerationMode mode, double budget = 0.1, int devices = 1, double rtt = 10, double deviceMs = 0) =>
            new(slice, mode, budget, devices, rtt, deviceMs, Bandwidth);
        // The llm row comes first: every later row's agreement is measured against its answers.
        foreach (var mode in new[] { GenerationMode.Llm, GenerationMode.Slm, GenerationMode.Spec, GenerationMode.Oracle })
            configs.Add((C("quality", mode), qualitySet));
        foreach (var budget in quick ? new[] { 0.1 } : [0.05, 0.1, 0.2])
        {
            configs.Add((C("quality", GenerationMode.Route, budget), qualitySet));
            configs.Add((C("quality", GenerationMode.Synera, budget), qualitySet));
        }
        foreach (var rtt in quick ? new[] { 50.0, 150 } : [10.0, 50, 150])
            foreach (var (mode, budget) in new[] { (GenerationMode.Slm, 0.1), (GenerationMode.Llm, 0.1), (GenerationMode.Spec, 0.1), (GenerationMode.Route, 0.1), (GenerationMode.Synera, 0.1) })
                if (!(quick && mode is GenerationMode.Llm or GenerationMode.Route))
                    configs.Add((C("latency", mode, budget, rtt: rtt, deviceMs: 30), latencySet));
        foreach (var devices in quick ? new[] { 1, 8, 32 } : [1, 8, 32, 128])
            foreach (var mode in new[] { GenerationMode.Llm, GenerationMode.Synera })
                configs.Add((C("scale", mode, devices: devices, rtt: 50), scaleSet));

        configs = configs.Where(c => slices.Contains(c.config.Slice)).ToList();
        AnsiConsole.MarkupLine($"grid: {configs.Count} rows ({qualitySet.Count} examples for quality, {latencySet.Count} for latency, {scaleSet.Count} for scale), " +
            $"{(gateway is null ? "in-process cluster" : $"cluster {cluster}")}, out {Markup.Escape(dir)}");
        var rows = new List<GridRow>();
        Dictionary<string, string>? llmAnswers = null;
        var total = System.Diagnostics.Stopwatch.StartNew();
        for (int k = 0; k < configs.Count; k++)
        {
            var (config, set) = configs[k];
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var label = $"[{k + 1}/{configs.Count}] {config.Slice} {config.Name} x{config.Devices} rtt {config.RttMs} dev {config.DeviceMsPerToken}";
            int expected = Math.Max(set.Count, config.Devices);
            var (row, answers) = await grid.RunAsync(config, set, llmAnswers, new Progress<int>(n =>
            {
                if (n % 10 == 0 || n == expected) LiveProgress.Show($"  {label}: {n}/{expected} ({clock.Elapsed.TotalSeconds:F0} s, total {total.Elapsed.TotalMinutes:F1} min)");
            }), cancellation);
            LiveProgress.Clear();
            if (config.Slice == "quality" && config.Mode == GenerationMode.Llm) llmAnswers = answers;
            rows.Add(row);
            AnsiConsole.MarkupLine($"{Markup.Escape(label),-48} acc {row.Accuracy,6:P1} agree {row.Agreement,6:P1} offload {row.OffloadRatio,6:P1} TPOT p50 {row.TpotMsP50,6:F1} ms " +
                $"cloud {row.CloudMsPerToken,6:F3} ms/tok {row.ThroughputTokS,6:F0} tok/s batch {row.MeanBatchSize,4:F1} p99 {row.VerifyP99Ms,5:F0} ms ({clock.Elapsed.TotalSeconds:F0} s)");
        }

        GridCapacity? capacity = null;
        if (connection.SiloServices is not null && slices.Contains("capacity"))
        {
            // bench capacity's method: a verifier silo of its own on its own core, replayed devices, the service level.
            var verifier = new Grains.Options.VerifierOptions { ModelPath = RepoPaths.TargetModel };
            configureVerifier(verifier);
            var benchmark = new CapacityBenchmark(draftDir, verifier.ModelPath, dir, new ServiceLevel(), line => AnsiConsole.MarkupLine(Markup.Escape(line)))
            {
                Window = TimeSpan.FromSeconds(quick ? 6 : 15), WarmUp = TimeSpan.FromSeconds(quick ? 2 : 5), MaxDevices = quick ? 32 : 256,
            };
            var prompts = quick ? Take(2) : Take(20);
            var (results, _, _) = await benchmark.RunAsync([(GenerationMode.Llm, 1), (GenerationMode.Synera, 0.1)], prompts, checkReplay: false, cancellation);
            int llm = results[0].Capacity, synera = results[1].Capacity;
            capacity = new GridCapacity(synera, llm, llm == 0 ? double.NaN : (double)synera / llm, "measured", new ServiceLevel(), results);
            AnsiConsole.MarkupLine($"capacity at the service level: synera {synera} devices, llm {llm} devices");
        }
        var machine = $"{Bench.MachineDescription.Current}, CPU verifier";
        GridReport.Write(dir, rows, capacity, machine, quick);
        AnsiConsole.MarkupLine($"wrote results.json, results.csv, {(capacity is null ? "" : "capacity.json, ")}plots and summary.md to {Markup.Escape(dir)} in {total.Elapsed.TotalMinutes:F1} min");
        return 0;
    }
}

using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Link;
using Synera.DeviceClient.Offloading;
using Synera.Grains.Verification;
using Synera.Models.Data;
using Synera.Tokenizer;

namespace Synera.Cli.Bench;

/// <summary>One configuration of the grid: a mode (and budget) for some concurrent devices over one emulated link.</summary>
public sealed record GridConfig(string Slice, GenerationMode Mode, double Budget, int Devices, double RttMs, double DeviceMsPerToken, double BandwidthBps)
{
    public string Name => Mode is GenerationMode.Synera or GenerationMode.Route ? $"{Mode.ToString().ToLowerInvariant()}-{Budget:0.##}" : Mode.ToString().ToLowerInvariant();

    public GenerationOptions Options => new()
    {
        Mode = Mode, Budget = Budget, LoadAware = false,
        Link = new LinkOptions(RttMs, BandwidthBps, DeviceMsPerToken),
    };
}

/// <summary>What one grid row measured (every field from the run, nothing computed from assumptions).</summary>
public sealed record GridRow(
    string Slice, string Name, string Mode, int Devices, double RttMs, double DeviceMsPerToken, double Budget, int Examples,
    double Accuracy, double Agreement, double TtftMsP50, double TtftMsP99, double TpotMsP50, double TpotMsP99,
    double OffloadRatio, double BytesPerToken, double BytesUpPerToken, double BytesDownPerToken,
    double CloudMsPerToken, double LlmTokensPerToken, double ThroughputTokS, double MeanBatchSize, double VerifyP99Ms,
    double DeviceStepsPerToken, long Tokens, double WallSeconds);

/// <summary>
/// Runs grid rows through a live cluster. Each row gets fresh devices (new ids, so fresh accounts and policy state), each a
/// real device client with its own ONNX draft runner; with D devices the examples are dealt round-robin and all devices
/// run at once. Cloud cost comes from the verification engine's running totals (busy time, tokens processed, batch
/// sizes, verify latencies), read before and after the row — so a remote cluster (<c>--cluster</c>) reports device-side
/// numbers only.
/// </summary>
public sealed class GridBenchmark(IClusterClient client, string draftModel, SyneraTokenizer tokenizer, OffloadCalibration? calibration, IServiceProvider? siloServices)
{
    public async Task<(GridRow row, Dictionary<string, string> answers)> RunAsync(GridConfig config, IReadOnlyList<TaskExample> examples,
        IReadOnlyDictionary<string, string>? llmAnswers, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        var engine = siloServices?.GetService<VerificationEngine>();
        var before = engine is null ? default : (engine.Stats.ComputeMs, engine.Stats.ProcessedTokens, engine.Stats.NumSteps, engine.Stats.NumRequests, engine.Stats.NumLatencies);
        var answers = new Dictionary<string, string>();
        var stats = new List<GenerationStats>();
        int correct = 0, agreeing = 0, done = 0;
        var gate = new object();
        // Every device answers at least one example; with more devices than examples they repeat the first ones.
        int perDevice = Math.Max(1, (examples.Count + config.Devices - 1) / config.Devices);
        var runId = Guid.NewGuid().ToString("N")[..8];
        // Devices are made before the clock starts: loading 128 ONNX sessions is not serving time.
        var runners = Enumerable.Range(0, config.Devices).Select(_ => new OnnxDraftRunner(draftModel, vocabSize: tokenizer.VocabSize)).ToArray();
        var generators = runners.Select((r, d) => new DeviceGenerator(client, r, tokenizer, $"grid-{config.Name}-{runId}-{d}", calibration)).ToArray();
        var clock = Stopwatch.StartNew();
        try
        {
        await Task.WhenAll(Enumerable.Range(0, config.Devices).Select(d => Task.Run(async () =>
        {
            var generator = generators[d];
            for (int j = 0; j < perDevice; j++)
            {
                int i = d + j * config.Devices;
                if (i >= examples.Count && j > 0) break;
                var ex = examples[i % examples.Count];
                var result = await generator.GenerateAsync(ex.Prompt, config.Options with { Seed = i }, null, cancellation);
                lock (gate)
                {
                    stats.Add(result.Stats);
                    if (i < examples.Count)
                    {
                        answers[ex.Prompt] = result.Text;
                        if (result.Text.Trim() == ex.Answer.Trim()) correct++;
                        if (llmAnswers?.TryGetValue(ex.Prompt, out var llm) == true && llm == result.Text) agreeing++;
                    }
                    progress?.Report(++done);
                }
            }
        }, cancellation)));
        }
        finally
        {
            foreach (var g in generators) g.Dispose();
            foreach (var r in runners) r.Dispose();
        }
        var wall = clock.Elapsed.TotalSeconds;
        long tokens = stats.Sum(s => (long)s.NumTokens), generated = stats.Sum(s => (long)s.NumGenerated);
        double PerToken(double x) => tokens == 0 ? 0 : x / tokens;
        var ttft = stats.Select(s => s.TimeToFirstTokenMs).ToList();
        var tpot = stats.Where(s => s.NumTokens > 1).Select(s => s.TimePerOutputTokenMs).ToList();
        double cloudMs = 0, llmTokens = 0, batch = 0, verifyP99 = 0;
        if (engine is not null)
        {
            cloudMs = engine.Stats.ComputeMs - before.ComputeMs;
            llmTokens = engine.Stats.ProcessedTokens - before.ProcessedTokens;
            var steps = engine.Stats.NumSteps - before.NumSteps;
            batch = steps == 0 ? 0 : (double)(engine.Stats.NumRequests - before.NumRequests) / steps;
            verifyP99 = ModesBenchmark.Percentile([.. engine.Stats.LatenciesSince(before.NumLatencies)], 0.99);
        }
        int scored = Math.Min(examples.Count, stats.Count);
        var row = new GridRow(config.Slice, config.Name, config.Mode.ToString().ToLowerInvariant(), config.Devices, config.RttMs, config.DeviceMsPerToken,
            config.Mode is GenerationMode.Synera or GenerationMode.Route ? config.Budget : config.Mode is GenerationMode.Slm ? 0 : 1, scored,
            (double)correct / Math.Max(1, scored), llmAnswers is null ? double.NaN : (double)agreeing / Math.Max(1, scored),
            ModesBenchmark.Percentile(ttft, 0.5), ModesBenchmark.Percentile(ttft, 0.99), ModesBenchmark.Percentile(tpot, 0.5), ModesBenchmark.Percentile(tpot, 0.99),
            generated == 0 ? 0 : (double)stats.Sum(s => s.NumOffloaded) / generated,
            PerToken(stats.Sum(s => (double)(s.BytesUp + s.BytesDown))), PerToken(stats.Sum(s => (double)s.BytesUp)), PerToken(stats.Sum(s => (double)s.BytesDown)),
            PerToken(cloudMs), PerToken(llmTokens), wall <= 0 ? 0 : tokens / wall, batch, verifyP99,
            PerToken(stats.Sum(s => (double)(s.NumDrafted + s.NumRunnerUpSteps))), tokens, wall);   // runner-up branch steps count too
        return (row, answers);
    }
}

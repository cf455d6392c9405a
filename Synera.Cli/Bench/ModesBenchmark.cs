using Microsoft.Extensions.DependencyInjection;
using Synera.DeviceClient.Generation;
using Synera.Grains.Verification;
using Synera.Models.Data;

namespace Synera.Cli.Bench;

/// <summary>One mode's results over a task suite.</summary>
public sealed record ModeResult(
    string Name, string Mode, double Budget, int Examples, double Accuracy, Dictionary<string, double> PerTask,
    double OffloadRatio, double AcceptanceRate, double BytesPerToken, double TtftMsP50, double TpotMsP50, double TpotMsP99,
    double CloudComputeMsPerToken, double CloudTokensPerToken, long Tokens);

/// <summary>
/// Runs a task suite through one generation mode on a live cluster and scores it: exact-match accuracy,
/// offload ratio, bytes per token, latency percentiles, and cloud cost (verifier compute and LLM tokens
/// processed per generated token, read from the engine's running totals).
/// </summary>
public sealed class ModesBenchmark(DeviceGenerator generator, IServiceProvider siloServices)
{
    public async Task<ModeResult> RunAsync(string name, GenerationOptions options, IReadOnlyList<TaskExample> suite, IProgress<int>? progress = null)
    {
        var engine = siloServices.GetRequiredService<VerificationEngine>();
        var (computeBefore, processedBefore) = (engine.Stats.ComputeMs, engine.Stats.ProcessedTokens);
        var correct = new Dictionary<string, (int ok, int all)>();
        var ttft = new List<double>();
        var tpot = new List<double>();
        long tokens = 0, generated = 0, offloaded = 0, judged = 0, accepted = 0, bytes = 0;
        for (int i = 0; i < suite.Count; i++)
        {
            var ex = suite[i];
            var result = await generator.GenerateAsync(ex.Prompt, options with { Seed = i });
            var ok = result.Text.Trim() == ex.Answer.Trim();
            var (c, n) = correct.GetValueOrDefault(ex.Task);
            correct[ex.Task] = (c + (ok ? 1 : 0), n + 1);
            var s = result.Stats;
            tokens += s.NumTokens; generated += s.NumGenerated; offloaded += s.NumOffloaded;
            judged += s.NumJudged; accepted += s.NumAccepted; bytes += s.BytesUp + s.BytesDown;
            ttft.Add(s.TimeToFirstTokenMs);
            if (s.NumTokens > 1) tpot.Add(s.TimePerOutputTokenMs);
            progress?.Report(i + 1);
        }
        var perTask = correct.OrderBy(kv => kv.Key).ToDictionary(kv => kv.Key, kv => (double)kv.Value.ok / kv.Value.all);
        return new ModeResult(name, options.Mode.ToString().ToLowerInvariant(), options.Budget, suite.Count,
            (double)correct.Values.Sum(v => v.ok) / Math.Max(1, suite.Count), perTask,
            generated == 0 ? 0 : (double)offloaded / generated, judged == 0 ? 1 : (double)accepted / judged,
            tokens == 0 ? 0 : (double)bytes / tokens, Percentile(ttft, 0.5), Percentile(tpot, 0.5), Percentile(tpot, 0.99),
            tokens == 0 ? 0 : (engine.Stats.ComputeMs - computeBefore) / tokens,
            tokens == 0 ? 0 : (double)(engine.Stats.ProcessedTokens - processedBefore) / tokens, tokens);
    }

    public static double Percentile(List<double> values, double q)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(q * (sorted.Length - 1) + 0.5))];
    }
}

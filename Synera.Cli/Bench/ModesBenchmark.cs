using Microsoft.Extensions.DependencyInjection;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Offloading;
using Synera.Grains.Verification;
using Synera.Models.Data;
using Synera.Tokenizer;

namespace Synera.Cli.Bench;

/// <summary>One mode's results over a task suite.</summary>
public sealed record ModeResult(
    string Name, string Mode, double Budget, int Examples, double Accuracy, Dictionary<string, double> PerTask,
    double OffloadRatio, double AcceptanceRate, double BytesPerToken, double TtftMsP50, double TpotMsP50, double TpotMsP99,
    double CloudComputeMsPerToken, double CloudTokensPerToken, long Tokens, double? Threshold = null, long OverBudget = 0, long Wasted = 0,
    long Corrections = 0, long RunnerUpHits = 0, long[]? CorrectionRanks = null, double VerdictRttMsP50 = 0, double VerdictRttMsP90 = 0, IReadOnlyList<AnswerRecord>? Answers = null,
    double CloudVerifyMsP50 = 0, double CloudMsPerStep = 0, long ContinuationTokens = 0)
{
    /// <summary>The share of the answer tokens the LLM wrote: corrections plus the continuations sent with them (the cloud's
    /// tokens, beside the offload ratio's share of tokens the device asked it to verify).</summary>
    public double LlmWrittenRatio => Tokens == 0 ? 0 : (double)(Corrections + ContinuationTokens) / Tokens;
}

/// <summary>One answer of a row, for looking into where its time and errors went.</summary>
public sealed record AnswerRecord(string Task, bool Correct, int Tokens, double TpotMs, long Offloaded, long Corrections);

/// <summary>
/// Runs a task suite through one generation mode on a live cluster and scores it: exact-match accuracy,
/// offload ratio, bytes per token, latency percentiles, and cloud cost (verifier compute and LLM tokens
/// processed per generated token, read from the engine's running totals). Every configuration runs on a fresh
/// device (a new device id, so a fresh account and policy state): nothing carries from one row to the next.
/// </summary>
public sealed class ModesBenchmark(IClusterClient client, OnnxDraftRunner runner, SyneraTokenizer tokenizer, OffloadCalibration? calibration, IServiceProvider siloServices)
{
    /// <summary>The suite in a seeded shuffle, so tasks are interleaved and no task meets a device without history.</summary>
    public static List<TaskExample> Shuffle(IEnumerable<TaskExample> suite, int seed = 1)
    {
        var list = suite.ToList();
        new Random(seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list));
        return list;
    }

    public async Task<ModeResult> RunAsync(string name, GenerationOptions options, IReadOnlyList<TaskExample> suite, IProgress<int>? progress = null)
    {
        using var generator = new DeviceGenerator(client, runner, tokenizer, $"bench-{name}-{Guid.NewGuid():N}", calibration);
        var engine = siloServices.GetRequiredService<VerificationEngine>();
        var (computeBefore, processedBefore, stepsBefore, latenciesBefore) = (engine.Stats.ComputeMs, engine.Stats.ProcessedTokens, engine.Stats.NumSteps, engine.Stats.NumLatencies);
        var correct = new Dictionary<string, (int ok, int all)>();
        var ttft = new List<double>();
        var tpot = new List<double>();
        var verdictRtt = new List<double>();
        var ranks = new long[GenerationStats.CorrectionRankBuckets];
        var answers = new List<AnswerRecord>();
        long tokens = 0, generated = 0, offloaded = 0, judged = 0, accepted = 0, bytes = 0, overBudget = 0, wasted = 0, corrections = 0, hits = 0, continuation = 0;
        for (int i = 0; i < suite.Count; i++)
        {
            var ex = suite[i];
            var result = await generator.GenerateAsync(ex.Prompt, options with { Seed = i });
            var ok = result.Text.Trim() == ex.Answer.Trim();
            var (c, n) = correct.GetValueOrDefault(ex.Task);
            correct[ex.Task] = (c + (ok ? 1 : 0), n + 1);
            var s = result.Stats;
            corrections += s.NumCorrections; continuation += s.NumContinuationTokens; hits += s.NumRunnerUpHits; for (int k = 0; k < ranks.Length; k++) ranks[k] += s.CorrectionRanks[k];
            verdictRtt.AddRange(s.VerdictRoundTripMs);
            answers.Add(new AnswerRecord(ex.Task, ok, s.NumTokens, Math.Round(s.TimePerOutputTokenMs, 2), s.NumOffloaded, s.NumCorrections));
            tokens += s.NumTokens; generated += s.NumGenerated; offloaded += s.NumOffloaded; overBudget += s.NumOverBudget; wasted += s.NumWastedOffloads;
            judged += s.NumJudged; accepted += s.NumAccepted; bytes += s.BytesUp + s.BytesDown;
            ttft.Add(s.TimeToFirstTokenMs);
            if (s.NumTokens > 1) tpot.Add(s.TimePerOutputTokenMs);
            progress?.Report(i + 1);
        }
        double computeMs = engine.Stats.ComputeMs - computeBefore;
        long steps = engine.Stats.NumSteps - stepsBefore;
        var perTask = correct.OrderBy(kv => kv.Key).ToDictionary(kv => kv.Key, kv => (double)kv.Value.ok / kv.Value.all);
        return new ModeResult(name, options.Mode.ToString().ToLowerInvariant(), options.Budget, suite.Count,
            (double)correct.Values.Sum(v => v.ok) / Math.Max(1, suite.Count), perTask,
            generated == 0 ? 0 : (double)offloaded / generated, judged == 0 ? 1 : (double)accepted / judged,
            tokens == 0 ? 0 : (double)bytes / tokens, Percentile(ttft, 0.5), Percentile(tpot, 0.5), Percentile(tpot, 0.99),
            tokens == 0 ? 0 : computeMs / tokens,
            tokens == 0 ? 0 : (double)(engine.Stats.ProcessedTokens - processedBefore) / tokens, tokens, generator.Policy?.Threshold, overBudget, wasted, corrections, hits,
            ranks, Percentile(verdictRtt, 0.5), Percentile(verdictRtt, 0.9), answers,
            Percentile([.. engine.Stats.LatenciesSince(latenciesBefore)], 0.5),
            steps == 0 ? 0 : computeMs / steps, continuation);
    }

    public static double Percentile(List<double> values, double q)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(q * (sorted.Length - 1) + 0.5))];
    }
}

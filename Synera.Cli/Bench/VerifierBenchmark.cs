using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;
using Synera.Grains.Options;
using Synera.Grains.Verification;
using Synera.Models;
using Synera.Models.Data;
using Synera.Models.Evaluation;
using Synera.Tokenizer;
using static TorchSharp.torch;

namespace Synera.Cli.Bench;

/// <summary>One measured configuration.</summary>
public sealed record VerifierBenchRow(string Name, int Sessions, int SpanTokens, double VerifiedTokensPerSecond, double MeanStepMs, long Steps, double AcceptanceRate);

/// <summary>Where the benchmark's drafts come from.</summary>
public enum BenchDrafts { Target, Random }

/// <summary>
/// Throughput of the real verification engine (scheduler + batched TorchSharp runner + KV cache manager):
/// N sessions each keep one span of k drafts in flight, the engine batches them, and we count the drafts
/// it judges per second. The prefill limit is one long sequence through the model without a cache.
/// </summary>
/// <param name="answerTokens">Tokens a session commits after its prompt before it ends and a new one starts
/// (an answer's length); capped by the model's window.</param>
/// <param name="drafts">What the sessions draft: <see cref="BenchDrafts.Random"/> tokens (rejected at once: the worst
/// case, where every span also re-runs the correction) or <see cref="BenchDrafts.Target"/>, the LLM's own greedy
/// continuation (accepted whole: the best case, where nothing committed is re-run).</param>
/// <param name="configure">The verifier's model settings (dtype, maximum context, KV budget), as a silo's.</param>
public sealed class VerifierBenchmark(string modelDir, TimeSpan duration, Device device, int answerTokens, BenchDrafts drafts = BenchDrafts.Random,
    Action<VerifierOptions>? configure = null) : IVerdictSink
{
    private (Transformer Model, SyneraTokenizer Tokenizer, VerifierOptions Options) Load()
    {
        var options = new VerifierOptions { ModelPath = modelDir };
        configure?.Invoke(options);
        var dtype = ModelCheckpoint.ResolveDtype(modelDir, options.Dtype, device);
        var (model, tokenizer) = ModelCheckpoint.Load(modelDir, device, dtype);
        return (model, tokenizer, options);
    }

    private readonly Dictionary<string, Verdict> last = [];
    private List<int[]>? targetContinuations;

    public Task DeliverAsync(Verdict verdict)
    {
        lock (last) last[verdict.SessionId] = verdict;
        return Task.CompletedTask;
    }

    public VerifierBenchRow Measure(int sessions, int spanTokens)
    {
        var (model, tokenizer, options) = Load();
        var prompts = TaskGenerator.HeldOut(8).Select(e => Prompt(tokenizer, e.Prompt)).ToList();
        // Every session in every step, even the first, which also runs the prompts: the measurement counts whole steps.
        options.MaxTokensPerStep = Math.Max(4096, sessions * (prompts.Max(p => p.Length) + spanTokens + 2));
        using var engine = new VerificationEngine(
            new TorchModelRunner(model, device, options.KvCacheBudgetBytes, "bench", options.MaxSpanTokens, tokenizer, options.MaxContextTokens),
            new ContinuousBatchScheduler(options), options, this, NullLogger.Instance);
        var random = new Random(0);
        // Each prompt's greedy continuation by the LLM itself, long enough for a whole session (computed once).
        var continuations = drafts == BenchDrafts.Random ? null : targetContinuations ??= prompts.Select(p =>
            (int[])[.. p, .. new GreedyGenerator(model, tokenizer.VocabSize).Generate(p, answerTokens, tokenizer.EosIds, pastEos: true)]).ToList();
        long seq = 0;
        void Submit(int s, bool fresh)
        {
            var id = $"s{s}";
            Verdict? v;
            lock (last) last.TryGetValue(id, out v);
            if (v?.Kind == VerdictKind.Failed) throw new InvalidOperationException($"the engine failed session {id}: {v.Message}");
            var prompt = prompts[s % prompts.Count];
            // A correction leaves the LLM's own continuation (numerics of a padded batch can flip a near-tie): start over.
            if (continuations is not null && v?.CorrectionTokenId >= 0) fresh = true;
            int start = fresh || v is null ? prompt.Length : v.CommittedLength;
            int epoch = fresh || v is null ? 0 : v.Epoch;
            int end = continuations is null ? Math.Min(model.Config.MaxPositions, prompt.Length + answerTokens) : continuations[s % prompts.Count].Length;
            if (start + spanTokens + 2 >= end) { fresh = true; start = prompt.Length; epoch = 0; }
            var span = continuations is null
                ? Enumerable.Range(0, spanTokens).Select(_ => random.Next(4, tokenizer.VocabSize)).ToArray()
                : continuations[s % prompts.Count].AsSpan(start, spanTokens).ToArray();
            var request = new VerifyRequest(id, seq++, epoch, start, [], span, span.Select(_ => 0.5f).ToArray());
            var status = engine.Enqueue(request, fresh ? new SessionSetup(prompt, 0, SamplingSettings.Greedy, 1000) : null);
            if (status != EnqueueStatus.Queued) throw new InvalidOperationException($"benchmark request refused: {status}");
        }
        for (int s = 0; s < sessions; s++) Submit(s, true);
        // Warm-up, then measure whole steps: every session has exactly one span in each step.
        void StepAndCollect() { engine.Step(); engine.DeliveriesCompleted().Wait(); }
        for (int i = 0; i < 3; i++) { StepAndCollect(); for (int s = 0; s < sessions; s++) Submit(s, false); }
        var clock = Stopwatch.StartNew();
        long steps = 0, verified = 0;
        long draftedBefore = engine.Stats.DraftedTokens, acceptedBefore = engine.Stats.AcceptedTokens;
        while (clock.Elapsed < duration)
        {
            StepAndCollect();
            steps++;
            verified += (long)sessions * spanTokens;
            for (int s = 0; s < sessions; s++) Submit(s, false);
        }
        var seconds = clock.Elapsed.TotalSeconds;
        double acceptance = (double)(engine.Stats.AcceptedTokens - acceptedBefore) / Math.Max(1, engine.Stats.DraftedTokens - draftedBefore);
        return new VerifierBenchRow($"{sessions} x {spanTokens}", sessions, spanTokens, verified / seconds, seconds * 1000 / steps, steps, acceptance);
    }

    /// <summary>Forward throughput over one long sequence (no cache): the compute-bound limit.</summary>
    public double PrefillTokensPerSecond(int length)
    {
        var (model, _, _) = Load();
        using var __ = model;
        using var _ = no_grad();
        length = Math.Min(length, model.Config.MaxPositions);
        var ids = tensor(Enumerable.Range(0, length).Select(i => (long)(4 + i % 90)).ToArray(), [1, length], device: device);
        // Reading one logit back waits for the queued kernels (CUDA runs asynchronously).
        float Run() { using var r = model.Forward(ids); return r.Logits[0, -1, 0].item<float>(); }
        for (int i = 0; i < 3; i++) Run();
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        while (clock.Elapsed < duration)
        {
            Run();
            tokens += length;
        }
        return tokens / clock.Elapsed.TotalSeconds;
    }

    private static int[] Prompt(SyneraTokenizer tokenizer, string prompt) => tokenizer.EncodeChatPrompt(prompt);
}

using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;
using Synera.Grains.Options;
using Synera.Grains.Verification;
using Synera.Models;
using static TorchSharp.torch;

namespace Synera.Tests;

/// <summary>Continuous batching must not change results: batched = alone, evicted = warm.</summary>
public class BatchingTests
{
    private static int[] Prompt(string text) => [TestModels.Tokenizer.BosId, .. TestModels.Tokenizer.Encode(text)];

    /// <summary>The prompt followed by the model's own greedy continuation of <paramref name="n"/> tokens (the full forward each time).</summary>
    private static List<int> GreedyContinuation(string modelDir, int[] prompt, int n)
    {
        var (model, _) = ModelCheckpoint.Load(modelDir);
        var tokens = new List<int>(prompt);
        using var _ = no_grad();
        for (int i = 0; i < n; i++)
        {
            using var result = model.Forward(tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Count]));
            tokens.Add((int)result.Logits[0, -1].argmax().item<long>());
        }
        return tokens;
    }

    [Fact]
    public void BatchOfDifferentLengthsGivesTheSameLogitsAsEachAlone()
    {
        var (model, _) = ModelCheckpoint.Load(TestModels.TinyTarget);
        using var batched = new TorchModelRunner(model, CPU, 1L << 30, "t", 64);
        var sequences = new[] { Prompt("user: What is 1+2?"), Prompt("Sort 3 1."), Prompt("user: Tell me about Ana's red cat.\nassistant: Ana's") };
        var spans = new[] { TestModels.Tokenizer.Encode("abc"), TestModels.Tokenizer.Encode("x"), TestModels.Tokenizer.Encode("hello w") };
        // Give each session a cached prefix of a different length first (one at a time), then batch the spans.
        for (int i = 0; i < sequences.Length; i++) batched.Execute([new RunnerInput($"s{i}", sequences[i], 0, 0)]);
        var outputs = batched.Execute(sequences.Select((s, i) => new RunnerInput($"s{i}", spans[i], s.Length, 0)).ToList());
        for (int i = 0; i < sequences.Length; i++)
        {
            using var _ = no_grad();
            int[] all = [.. sequences[i], .. spans[i]];
            using var alone = model.Forward(tensor(all.Select(x => (long)x).ToArray(), [1, all.Length]));
            var expected = alone.Logits[0].narrow(0, sequences[i].Length, spans[i].Length).contiguous().data<float>().ToArray();
            Assert.Equal(expected.Length, outputs[i].Logits.Length);
            var maxDiff = expected.Zip(outputs[i].Logits, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxDiff <= 1e-4, $"sequence {i}: max diff {maxDiff}");
            Assert.Equal(all.Length, batched.KvCache.CachedLength($"s{i}"));
        }
    }

    /// <summary>
    /// The KV store reads a batch on consecutive slots through a view and any other batch by gathering; a batch with
    /// a few gaps in its slot range gets filler rows for them and is read as a view too. All must give each sequence
    /// its own logits, and a filler must leave the session whose slot it covers as it was. Five sessions sit on slots
    /// 0–4: {0, 2, 3} has a filler over session 1's slot, {0, 4} is gathered, {2, 3, 4} is consecutive.
    /// </summary>
    [Theory]
    [InlineData(new[] { 0, 2, 3 })]
    [InlineData(new[] { 0, 4 })]
    [InlineData(new[] { 2, 3, 4 })]
    public void BatchOnScatteredOrConsecutiveSlotsGivesEachSequencesOwnLogits(int[] batch)
    {
        var (model, _) = ModelCheckpoint.Load(TestModels.TinyTarget);
        using var runner = new TorchModelRunner(model, CPU, 1L << 30, "t", 64);
        var prompts = Enumerable.Range(0, 5).Select(i => Prompt($"user: Reverse {new string((char)('a' + i), i + 2)}.")).ToArray();
        for (int i = 0; i < prompts.Length; i++) runner.Execute([new RunnerInput($"s{i}", prompts[i], 0, 0)]);
        var span = TestModels.Tokenizer.Encode("ab");
        var outputs = runner.Execute(batch.Select(i => new RunnerInput($"s{i}", span, prompts[i].Length, 0)).ToList());
        void AssertOwnLogits(int session, RunnerOutput output)
        {
            using var _ = no_grad();
            int[] all = [.. prompts[session], .. span];
            using var alone = model.Forward(tensor(all.Select(x => (long)x).ToArray(), [1, all.Length]));
            var expected = alone.Logits[0].narrow(0, prompts[session].Length, span.Length).contiguous().data<float>().ToArray();
            var maxDiff = expected.Zip(output.Logits, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxDiff <= 1e-4, $"session s{session}: max diff {maxDiff}");
        }
        for (int k = 0; k < batch.Length; k++) AssertOwnLogits(batch[k], outputs[k]);
        Assert.Equal(prompts[1].Length, runner.KvCache.CachedLength("s1"));
        AssertOwnLogits(1, runner.Execute([new RunnerInput("s1", span, prompts[1].Length, 0)])[0]);
    }

    [Fact]
    public void BatchBuilderPacksLengthGroupsInSlotOrderWithFillersForGaps()
    {
        // Three 5-token spans on slots 3, 0, 1 and a 40-token prefill on slot 2: the spans form the group of length 8,
        // in slot order, with a filler row over slot 2 (held by the prefill, in the other group); the prefill follows.
        int[] Span(int first, int n) => Enumerable.Range(first, n).ToArray();
        var inputs = new[]
        {
            new RunnerInput("a", Span(10, 5), 100, 0), new RunnerInput("b", Span(20, 5), 50, 0),
            new RunnerInput("p", Span(1, 40), 0, 39), new RunnerInput("c", Span(30, 5), 7, 0),
        };
        var batch = BatchBuilder.Build(inputs, [3, 0, 2, 1]);
        Assert.Equal(2, batch.Groups.Count);
        var spans = batch.Groups[0];
        Assert.Equal([0, 1, 2, 3], spans.Slots);
        Assert.Equal([1, 3, -1, 0], spans.InputOfRow);
        Assert.Equal([50, 7, 0, 100], spans.PastLengths);
        Assert.Equal([5, 5, 0, 5], spans.NewLengths);
        Assert.Equal((0, 5, 20, 105), (spans.Offset, spans.Length, spans.Tokens, spans.AttendLength));
        var prefill = batch.Groups[1];
        Assert.Equal((20, 40, 1, 40), (prefill.Offset, prefill.Length, prefill.Rows, prefill.AttendLength));
        Assert.Equal(60, batch.NumTokens);
        Assert.Equal([20, 21, 22, 23, 24], batch.TokenIds[0..5]);          // b's span at positions 50..54
        Assert.Equal([50, 51, 52, 53, 54], batch.Positions[0..5]);
        Assert.Equal([0, 0, 0, 0, 0], batch.TokenIds[10..15]);             // the filler: no tokens
        Assert.Equal([10, 11, 12, 13, 14], batch.TokenIds[15..20]);        // a's span at 100..104
        Assert.Equal(Span(1, 40).Select(x => (long)x), batch.TokenIds[20..]);
        // Too many gaps for fillers: the group keeps only its own rows (the KV store gathers them).
        Assert.Equal([0, 9], BatchBuilder.RowSlots([0, 9]));
        Assert.Equal([4, 5, 6, 7], BatchBuilder.RowSlots([4, 6, 7]));
    }

    [Fact]
    public void SessionsVerifiedInOneBatchGetTheSameVerdictsAsVerifiedAlone()
    {
        var prompts = Enumerable.Range(0, 6).Select(i => Prompt($"user: What is {i}{i}+{i}?\nassistant: ")).ToArray();
        var drafts = Enumerable.Range(0, 6).Select(i => TestModels.Tokenizer.Encode(new string((char)('1' + i), i + 1))).ToArray();
        List<Verdict> Run(bool together)
        {
            using var h = new EngineHarness(TestModels.TinyTarget);
            for (int i = 0; i < prompts.Length; i++)
            {
                var r = new VerifyRequest($"s{i}", 0, 0, prompts[i].Length, [], drafts[i], drafts[i].Select(_ => 0.5f).ToArray());
                Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(r, EngineHarness.Setup(prompts[i])));
                if (!together) h.RunUntilIdle();
            }
            h.RunUntilIdle();
            Assert.Equal(together ? 1 : prompts.Length, (int)h.Engine.Stats.NumSteps);
            lock (h.Verdicts) return h.Verdicts.OrderBy(v => v.SessionId).ToList();
        }
        var alone = Run(false);
        var batched = Run(true);
        Assert.Equal(prompts.Length, batched.Count);
        Assert.Equal(alone.Select(v => (v.SessionId, v.NumAccepted, v.CorrectionTokenId, v.NextTokenId, v.CommittedLength)),
                     batched.Select(v => (v.SessionId, v.NumAccepted, v.CorrectionTokenId, v.NextTokenId, v.CommittedLength)));
    }

    [Fact]
    public void AfterEvictionReprefillGivesTheSameVerdicts()
    {
        var prompt = Prompt("user: Reverse abcde.\nassistant: ");
        List<Verdict> Run(bool evict)
        {
            using var h = new EngineHarness(TestModels.TinyTarget);
            int start = prompt.Length, epoch = 0;
            for (int seq = 0; seq < 5; seq++)
            {
                var draft = TestModels.Tokenizer.Encode("edc");
                var status = h.Engine.Enqueue(new VerifyRequest("s", seq, epoch, start, [], draft, [0.9f, 0.9f, 0.9f]), seq == 0 ? EngineHarness.Setup(prompt) : null);
                Assert.Equal(EnqueueStatus.Queued, status);
                h.RunUntilIdle();
                var v = h.Verdicts[^1];
                start = v.CommittedLength; epoch = v.Epoch;
                if (evict) h.Runner.KvCache.Evict("s");
            }
            if (evict) Assert.True(h.Engine.Stats.ReprefillTokens > 0);
            return h.Verdicts;
        }
        var warm = Run(false);
        var evicted = Run(true);
        Assert.Equal(warm.Select(v => (v.NumAccepted, v.CorrectionTokenId, v.CommittedLength)), evicted.Select(v => (v.NumAccepted, v.CorrectionTokenId, v.CommittedLength)));
    }

    [Fact]
    public void GreedyVerdictsReproduceTheModelsGreedyChoice()
    {
        var prompt = Prompt("user: What is 2+2?\nassistant: ");
        var (model, _) = ModelCheckpoint.Load(TestModels.TinyTarget);
        int greedy;
        using (no_grad())
        using (var r = model.Forward(tensor(prompt.Select(x => (long)x).ToArray(), [1, prompt.Length])))
            greedy = (int)r.Logits[0, -1].argmax().item<long>();
        using var h = new EngineHarness(TestModels.TinyTarget);
        int wrong = (greedy + 1) % TestModels.Tokenizer.VocabSize;
        h.Engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length, [], [wrong, 5], [0.5f, 0.5f]), EngineHarness.Setup(prompt));
        h.RunUntilIdle();
        var v = Assert.Single(h.Verdicts);
        Assert.Equal((0, greedy, 1), (v.NumAccepted, v.CorrectionTokenId, v.Epoch));
        Assert.Equal(prompt.Length + 1, v.CommittedLength);
        // A request drafted before that rejection is stale now.
        Assert.Equal(EnqueueStatus.Stale, h.Engine.Enqueue(new VerifyRequest("s", 1, 0, prompt.Length + 2, [], [5], [0.5f]), null));
    }

    /// <summary>
    /// A rejection with a correction lookahead of 2: the verdict brings the LLM's correction and its next two greedy tokens,
    /// all committed; a span queued behind the rejected one (built on the rejected draft) is reported stale only after that
    /// verdict, so the session grain mirrors the commit before it hears of the new epoch; and the next span, verified on the
    /// K/V the continuation left, is judged as a clean run judges it.
    /// </summary>
    [Fact]
    public void ACorrectionBringsTheLlmsNextTokensAndItsStaleFollowersWaitBehindIt()
    {
        var prompt = Prompt("user: What is 2+2?\nassistant: ");
        var greedy = GreedyContinuation(TestModels.TinyTarget, prompt, 4);
        var (g1, g2, g3, g4) = (greedy[prompt.Length], greedy[prompt.Length + 1], greedy[prompt.Length + 2], greedy[prompt.Length + 3]);
        int wrong = (g1 + 1) % TestModels.Tokenizer.VocabSize;
        using var h = new EngineHarness(TestModels.TinyTarget);
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length, [], [wrong, 5], [], CorrectionLookahead: 2), EngineHarness.Setup(prompt)));
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", 1, 0, prompt.Length + 2, [], [7], [], CorrectionLookahead: 2), null));
        h.RunUntilIdle();
        Assert.Equal(2, h.Verdicts.Count);
        var (correction, stale) = (h.Verdicts[0], h.Verdicts[1]);
        Assert.Equal((0L, VerdictKind.Verified, 0, g1, 1), (correction.Seq, correction.Kind, correction.NumAccepted, correction.CorrectionTokenId, correction.Epoch));
        Assert.Equal([g2, g3], correction.Continuation);
        Assert.Equal(prompt.Length + 3, correction.CommittedLength);
        Assert.Equal((1L, VerdictKind.Stale), (stale.Seq, stale.Kind));
        Assert.Equal(greedy.Take(prompt.Length + 3), h.Engine.CommittedTokens("s")!);
        // The next span starts after the continuation; the LLM's own next token is accepted, a wrong one corrected.
        h.Engine.Enqueue(new VerifyRequest("s", 2, 1, prompt.Length + 3, [], [g4, wrong], []), null);
        h.RunUntilIdle();
        var next = h.Verdicts[^1];
        using var clean = new EngineHarness(TestModels.TinyTarget);
        clean.Engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length + 3, [], [g4, wrong], []), EngineHarness.Setup([.. greedy.Take(prompt.Length + 3)]));
        clean.RunUntilIdle();
        var expected = clean.Verdicts[^1];
        Assert.Equal((1, expected.CorrectionTokenId), (next.NumAccepted, next.CorrectionTokenId));
        Assert.Equal(prompt.Length + 5, next.CommittedLength);
    }

    [Fact]
    public void ACorrectionLookaheadOutsideItsRangeIsRefused()
    {
        using var h = new EngineHarness(TestModels.TinyTarget);
        var prompt = Prompt("user: hi");
        var e = Assert.Throws<Synera.Abstractions.SyneraRequestException>(() =>
            h.Engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length, [], [5], [], CorrectionLookahead: VerifyRequest.MaxCorrectionLookahead + 1), EngineHarness.Setup(prompt)));
        Assert.Contains("correction lookahead", e.Message);
    }

    /// <summary>
    /// A KV budget of two session slots and three sessions taking turns: every turn evicts the least recently
    /// used session, which re-prefills later; verdicts equal those of a budget that holds all three.
    /// </summary>
    [Fact]
    public void BudgetEvictsLeastRecentlyUsedSessionsWithoutChangingVerdicts()
    {
        var prompts = Enumerable.Range(0, 3).Select(i => Prompt($"user: Sort {i} 4 2.\nassistant: ")).ToArray();
        List<Verdict> Run(long budgetBytes, out long evictions, out long reprefilled)
        {
            using var h = new EngineHarness(TestModels.TinyTarget, new VerifierOptions { KvCacheBudgetBytes = budgetBytes });
            var next = prompts.Select(p => (start: p.Length, epoch: 0)).ToArray();
            for (int round = 0; round < 3; round++)
                for (int i = 0; i < prompts.Length; i++)
                {
                    var draft = TestModels.Tokenizer.Encode("2 4");
                    var request = new VerifyRequest($"s{i}", round, next[i].epoch, next[i].start, [], draft, draft.Select(_ => 0.9f).ToArray());
                    Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(request, round == 0 ? EngineHarness.Setup(prompts[i]) : null));
                    h.RunUntilIdle();
                    var v = h.Verdicts[^1];
                    next[i] = (v.CommittedLength, v.Epoch);
                    Assert.True(h.Runner.KvCache.NumResident <= h.Runner.KvCache.MaxSessions);
                }
            evictions = h.Runner.KvCache.NumEvictions;
            reprefilled = h.Engine.Stats.ReprefillTokens;
            return h.Verdicts;
        }
        var config = TransformerConfig.Load(Path.Combine(TestModels.TinyTarget, "config.json"));
        var slot = KvLayout.For(config, config.MaxPositions, ScalarType.Float32).BytesPerSlot;
        var roomy = Run(8 * slot, out var roomyEvictions, out _);
        var tight = Run(2 * slot, out var tightEvictions, out var reprefilled);
        Assert.Equal(0, roomyEvictions);
        Assert.Equal(7, tightEvictions);          // every turn after the first two needs the slot of the session before last
        Assert.True(reprefilled > 0);
        Assert.Equal(roomy.Select(v => (v.SessionId, v.NumAccepted, v.CorrectionTokenId, v.CommittedLength)),
                     tight.Select(v => (v.SessionId, v.NumAccepted, v.CorrectionTokenId, v.CommittedLength)));
    }

    [Fact]
    public void BudgetBelowOneSessionIsRefusedClearly()
    {
        var layout = new KvLayout(2, 2, 8, 64);
        var e = Assert.Throws<ArgumentException>(() => new KvCacheManager(layout, layout.BytesPerSlot - 1));
        Assert.Contains("holds no session", e.Message);
        Assert.Contains($"{layout.BytesPerSlot:N0} bytes", e.Message);
    }

    [Fact]
    public void KvSlotsAreSizedByTheOperatorsContextInTheModelsDtype()
    {
        // Qwen2.5-7B: 28 layers × 4 KV heads × 128 × 2 (K, V) × 2 bytes (bf16) = 57,344 bytes per token.
        var qwen7b = Synera.Models.ArchitecturePresets.Get("qwen2.5-7b").Config;
        var layout = KvLayout.For(qwen7b, 4096, ScalarType.BFloat16);
        Assert.Equal(57_344, layout.BytesPerPosition);
        Assert.Equal(57_344L * 4096, layout.BytesPerSlot);
        // Sized to max_position_embeddings in float32, as before, one slot was 3.5 GiB: the default budget held none.
        Assert.Equal(0, KvLayout.For(qwen7b, qwen7b.MaxPositions, ScalarType.Float32).SessionsWithin(VerifierOptions.DefaultKvCacheBudgetBytes));
        Assert.Equal(2, layout.SessionsWithin(VerifierOptions.DefaultKvCacheBudgetBytes));
    }

    [Fact]
    public void IdleSessionsAreForgottenAndComeBackWithTheirHistory()
    {
        var prompt = Prompt("user: Sort 3 1 2.\nassistant: ");
        using var h = new EngineHarness(TestModels.TinyTarget, new VerifierOptions { SessionIdleTimeout = TimeSpan.FromMilliseconds(200) });
        var draft = TestModels.Tokenizer.Encode("1 2");
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length, [], draft, [0.9f, 0.9f, 0.9f]), EngineHarness.Setup(prompt)));
        h.RunUntilIdle();
        var v = h.Verdicts[^1];
        Assert.True(h.Runner.KvCache.CachedLength("s") > 0);
        Thread.Sleep(400);
        h.Engine.Step();                                              // an idle step runs the expiry scan
        h.Engine.Step();                                              // and the next frees the KV slot
        Assert.Null(h.Engine.CommittedTokens("s"));
        Assert.Equal(0, h.Runner.KvCache.CachedLength("s"));
        Assert.Equal(1, h.Engine.Stats.ExpiredSessions);
        // The device comes back: the engine asks for the history, and with it the session continues where it was.
        var next = new VerifyRequest("s", 1, v.Epoch, v.CommittedLength, [], draft, [0.9f, 0.9f, 0.9f]);
        Assert.Equal(EnqueueStatus.NeedsHistory, h.Engine.Enqueue(next, null));
        var committed = h.Verdicts.Count;
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(next, new SessionSetup(CommittedHistory(prompt, v, draft), v.Epoch, SamplingSettings.Greedy, 500)));
        h.RunUntilIdle();
        Assert.Equal(committed + 1, h.Verdicts.Count);
        Assert.Equal(VerdictKind.Verified, h.Verdicts[^1].Kind);
    }

    [Fact]
    public void WholeAcceptedSpansLeaveNothingToRerunAndGiveTheSameVerdicts()
    {
        // Drafts that are the LLM's own greedy continuation are accepted whole; the next span is then judged
        // against the logits kept from the previous forward instead of re-running the last committed token.
        var prompt = Prompt("user: What is 123+456?\nassistant: ");
        var continuation = GreedyContinuation(TestModels.ShippedTarget, prompt, 16);
        List<Verdict> Run(EngineHarness h, bool forgetKvBetweenSpans)
        {
            int start = prompt.Length, epoch = 0;
            for (int k = 0; k < 4; k++)
            {
                if (forgetKvBetweenSpans) h.Runner.KvCache.Release("s");
                var drafts = continuation.Skip(start).Take(4).ToArray();
                Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", k, epoch, start, [], drafts, [1f, 1f, 1f, 1f]), k == 0 ? EngineHarness.Setup(prompt) : null));
                h.RunUntilIdle();
                (start, epoch) = (h.Verdicts[^1].CommittedLength, h.Verdicts[^1].Epoch);
            }
            return h.Verdicts;
        }
        using var kept = new EngineHarness(TestModels.ShippedTarget);
        using var recomputed = new EngineHarness(TestModels.ShippedTarget);
        var keptVerdicts = Run(kept, forgetKvBetweenSpans: false);
        var recomputedVerdicts = Run(recomputed, forgetKvBetweenSpans: true);
        Assert.All(keptVerdicts, v => Assert.Equal(4, v.NumAccepted));
        Assert.Equal(recomputedVerdicts.Select(v => (v.NumAccepted, v.CorrectionTokenId, v.NextTokenId, v.CommittedLength)),
                     keptVerdicts.Select(v => (v.NumAccepted, v.CorrectionTokenId, v.NextTokenId, v.CommittedLength)));
        Assert.Equal(continuation.Take(prompt.Length + 16), kept.Engine.CommittedTokens("s")!);
        // The prompt and the first span once, then only the 4 drafts of each later span.
        Assert.Equal(prompt.Length + 4 * 4, kept.Engine.Stats.ProcessedTokens);
    }

    [Fact]
    public void FailedBatchStartsANewEpochAtTheCommittedTokensAndTheSessionGoesOn()
    {
        var prompt = Prompt("user: Sort 3 1 2.\nassistant: ");
        bool failNext = false;   // the next forward fails (an accelerator fault)
        using var h = new EngineHarness(TestModels.TinyTarget, wrapRunner: r => new HookedRunner(r, _ =>
        {
            if (failNext) { failNext = false; throw new InvalidOperationException("injected accelerator fault"); }
        }));
        var draft = TestModels.Tokenizer.Encode("1 2");
        var probs = draft.Select(_ => 0.9f).ToArray();
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length, [], draft, probs), EngineHarness.Setup(prompt)));
        h.RunUntilIdle();
        var first = h.Verdicts[^1];
        // Two spans queued; the batch holding the first fails. The second was built on it and is dropped.
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", 1, first.Epoch, first.CommittedLength, [], draft, probs), null));
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", 2, first.Epoch, first.CommittedLength + draft.Length, [], draft, probs), null));
        failNext = true;
        var before = h.Verdicts.Count;
        h.RunUntilIdle();
        var failed = Assert.Single(h.Verdicts.Skip(before));
        Assert.Equal(VerdictKind.Failed, failed.Kind);
        Assert.Contains("injected accelerator fault", failed.Message);
        Assert.Equal(first.Epoch + 1, failed.Epoch);
        Assert.Equal(first.CommittedLength, failed.CommittedLength);          // nothing committed was lost
        Assert.Equal(first.CommittedLength, h.Engine.CommittedTokens("s")!.Length);
        // Spans of the old epoch are refused; the device resends from the committed length in the new one,
        // and the KV cache is rebuilt from the committed tokens: the verdict is the one a clean run gives.
        Assert.Equal(EnqueueStatus.Stale, h.Engine.Enqueue(new VerifyRequest("s", 3, first.Epoch, first.CommittedLength, [], draft, probs), null));
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", 4, failed.Epoch, failed.CommittedLength, [], draft, probs), null));
        h.RunUntilIdle();
        var retried = h.Verdicts[^1];
        Assert.Equal(VerdictKind.Verified, retried.Kind);

        using var clean = new EngineHarness(TestModels.TinyTarget);
        clean.Engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length, [], draft, probs), EngineHarness.Setup(prompt));
        clean.RunUntilIdle();
        clean.Engine.Enqueue(new VerifyRequest("s", 1, first.Epoch, first.CommittedLength, [], draft, probs), null);
        clean.RunUntilIdle();
        var expected = clean.Verdicts[^1];
        Assert.Equal((expected.NumAccepted, expected.CorrectionTokenId, expected.CommittedLength), (retried.NumAccepted, retried.CorrectionTokenId, retried.CommittedLength));
    }

    private static int[] CommittedHistory(int[] prompt, Verdict v, int[] draft)
    {
        // committed = prompt + accepted drafts (+ the correction, if any)
        var tokens = new List<int>(prompt);
        tokens.AddRange(draft.Take(v.NumAccepted));
        if (v.CorrectionTokenId >= 0) tokens.Add(v.CorrectionTokenId);
        Assert.Equal(v.CommittedLength, tokens.Count);
        return [.. tokens];
    }
}

using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>
/// The device loop end to end (ONNX SLM, real silo, real client): the modes' defining properties.
/// Greedy synera at budget 100% must equal llm; at budget 0 it must equal slm; spec must equal llm.
/// Run on the shipped (trained) pair: their peaked distributions leave no float near-ties for batched and
/// unbatched forwards to break differently.
/// </summary>
[Collection(ShippedClusterCollection.Name)]
public class GenerationTests(ShippedClusterFixture fixture)
{
    private static readonly string[] Prompts = ["What is 123+456?", "Sort 4 1 3 9 2.", "Tell me about Ana's red cat.", "Convert 7 km to m."];

    private async Task<GenerationResult> Generate(string prompt, GenerationOptions options)
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json")));
        return await generator.GenerateAsync(prompt, options);
    }

    private static GenerationOptions Greedy(GenerationMode mode, double budget = 0) =>
        new() { Mode = mode, Budget = budget, MaxNewTokens = 40, LoadAware = false };

    /// <summary>Both configurations give the same committed tokens on every prompt; returns the second's results.</summary>
    private async Task<List<GenerationResult>> AssertSameOutput(GenerationOptions reference, GenerationOptions candidate, IEnumerable<string>? prompts = null)
    {
        var results = new List<GenerationResult>();
        foreach (var prompt in prompts ?? Prompts)
        {
            var expected = await Generate(prompt, reference);
            var actual = await Generate(prompt, candidate);
            Assert.Equal(expected.TokenIds, actual.TokenIds);
            results.Add(actual);
        }
        return results;
    }

    [Fact]
    public async Task SyneraAtFullBudgetEqualsLlm()
    {
        foreach (var synera in await AssertSameOutput(Greedy(GenerationMode.Llm), Greedy(GenerationMode.Synera, 1.0)))
            Assert.True(synera.Stats.NumOffloaded + synera.Stats.NumContinuationTokens >= synera.Stats.NumTokens,
                "at budget 100% every committed token was offloaded or written by the cloud");
    }

    /// <summary>
    /// The LLM's tokens that come with a correction are the LLM's own greedy continuation: with none, one (the default) or
    /// the most a request may ask for, synera at full budget writes exactly what llm writes, and the continuations arrive.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Synera.Abstractions.Messages.VerifyRequest.MaxCorrectionLookahead)]
    public async Task CorrectionLookaheadWritesTheLlmsOwnTokens(int lookahead)
    {
        var results = await AssertSameOutput(Greedy(GenerationMode.Llm), Greedy(GenerationMode.Synera, 1.0) with { CorrectionLookahead = lookahead });
        long corrections = results.Sum(r => r.Stats.NumCorrections), continuation = results.Sum(r => r.Stats.NumContinuationTokens);
        Assert.True(corrections > 0, "no draft was corrected");
        Assert.InRange(continuation, lookahead == 0 ? 0 : 1, lookahead * corrections);
    }

    /// <summary>
    /// A resync mid-answer (the cloud starts a new epoch at its committed tokens; the device drops its drafts past them and
    /// drafts again) leaves the device drafting what its SLM drafts from the tokens it kept: at budget 100 % the answer is
    /// llm's, and the cloud corrects exactly as many drafts as in the same answer without the resync. Drafting from the
    /// logits of a dropped draft (the SLM's cache truncated, its last logits kept) made extra corrections here, and at a
    /// budget below 100 % committed an unflagged end-of-sequence drawn from them.
    /// </summary>
    [Fact]
    public async Task AResyncMidAnswerKeepsTheDeviceDraftingFromTheKeptTokens()
    {
        var options = Greedy(GenerationMode.Synera, 1.0) with { DraftRunnerUp = false };
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json")), deviceId: "resync-mid");
        foreach (var prompt in Prompts)
        {
            var undisturbed = await Generate(prompt, options);
            var conversation = Guid.NewGuid().ToString("N");
            Task<SessionSnapshot>? resync = null;
            // At the first committed token the device has drafts in flight past it: the resync drops them.
            var resynced = await generator.GenerateAsync(prompt, options with { Conversation = conversation },
                _ => resync ??= fixture.Client.GetGrain<ISessionGrain>($"resync-mid/{conversation}").ResyncAsync());
            Assert.NotNull(resync);
            await resync;
            await generator.CloseConversationAsync(conversation);
            Assert.Equal(undisturbed.TokenIds, resynced.TokenIds);
            Assert.Equal(undisturbed.Stats.NumCorrections, resynced.Stats.NumCorrections);
        }
    }

    /// <summary>
    /// The runner-up branch must not change what is written: with it (the default) and without it, synera writes the same
    /// tokens at a partial budget, and on these prompts some corrections find the runner-up's continuation ready.
    /// </summary>
    [Fact]
    public async Task RunnerUpBranchChangesLatencyNotTheAnswer()
    {
        var with = await AssertSameOutput(Greedy(GenerationMode.Synera, 0.2) with { DraftRunnerUp = false }, Greedy(GenerationMode.Synera, 0.2));
        Assert.True(with.Sum(r => r.Stats.NumRunnerUpSteps) > 0, "no branch was opened");
        // A branch is adopted when the correction is its runner-up and the LLM's token after the correction (the correction's
        // continuation) is the branch's first draft: on these sums, with the shipped pair, some are.
        var full = await AssertSameOutput(Greedy(GenerationMode.Llm), Greedy(GenerationMode.Synera, 1.0), [.. Prompts, "What is 459+906?", "What is 801+634?"]);
        Assert.True(full.Sum(r => r.Stats.NumRunnerUpHits) > 0, "no correction was the runner-up (the adoption path never ran)");
    }

    [Fact]
    public async Task SyneraAtZeroBudgetEqualsSlm()
    {
        foreach (var synera in await AssertSameOutput(Greedy(GenerationMode.Slm), Greedy(GenerationMode.Synera, 0.0)))
            Assert.Equal(0, synera.Stats.NumRequests);
    }

    [Fact]
    public async Task SpecEqualsLlm() => await AssertSameOutput(Greedy(GenerationMode.Llm), Greedy(GenerationMode.Spec));

    [Fact]
    public async Task RouteAndPartialBudgetsFinishWithCommittedTokensOnly()
    {
        foreach (var mode in new[] { GenerationMode.Route, GenerationMode.Synera })
        {
            using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
            using var generator = new DeviceGenerator(fixture.Client, runner, SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json")));
            long offloaded = 0;
            // A long answer the draft is sure of, and an arithmetic one it is not (synera offloads only uncertain tokens).
            foreach (var prompt in new[] { Prompts[2], Prompts[0] })
            {
                var streamed = new List<int>();
                var result = await generator.GenerateAsync(prompt, Greedy(mode, 0.3), t => streamed.Add(t.TokenId));
                Assert.Equal(result.TokenIds, streamed);           // what was shown is exactly the final text: nothing withdrawn
                offloaded += result.Stats.NumOffloaded;
            }
            Assert.True(offloaded > 0, $"{mode} offloaded nothing");
        }
    }

    /// <summary>
    /// A cloud that answers after the device's verdict timeout (emulated RTT of 4 s, timeout 300 ms): the device
    /// stops waiting, keeps its own drafts and finishes the answer with the SLM, so the output is slm mode's.
    /// </summary>
    [Fact]
    public async Task DeviceFinishesWithItsSlmWhenVerdictsTimeOut()
    {
        var late = Greedy(GenerationMode.Synera, 1.0) with
        {
            Link = new DeviceClient.Link.LinkOptions(RttMs: 4000), VerdictTimeout = TimeSpan.FromMilliseconds(300), MaxLookahead = 4,
        };
        var prompt = Prompts[2];
        var slm = await Generate(prompt, Greedy(GenerationMode.Slm));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await Generate(prompt, late);
        Assert.Equal(slm.TokenIds, result.TokenIds);
        Assert.Equal(1, result.Stats.NumVerdictTimeouts);
        Assert.Equal(0, result.Stats.NumOffloaded);                 // nothing was verified, so nothing counts as offloaded
        Assert.True(result.Stats.NumRefusedOffloads > 0);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    /// <summary>`generate --telemetry` shows a verified span's path: the device's span, the session grain's call, the
    /// engine's verify and the verdict's way back, one trace, spans sent through the verifier's intake included.</summary>
    [Fact]
    public async Task AVerifiedSpansTraceReachesTheEngine()
    {
        using var recorder = new Synera.Cli.Telemetry.TelemetryRecorder();
        await Generate("What is 123+456?", Greedy(GenerationMode.Synera, 1));
        await Task.Delay(200);
        var trace = recorder.SpanTrace();
        Assert.NotNull(trace);
        Assert.Contains("Synera.Device: span", trace);
        Assert.Contains("Synera.Verifier: verify", trace);
        Assert.Contains("Synera.Verifier: verdict", trace);
    }
}

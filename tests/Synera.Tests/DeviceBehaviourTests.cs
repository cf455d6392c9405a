using Synera.Abstractions.Messages;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Offloading;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Link;
using Synera.Models.Data;
using Synera.Tokenizer;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>Budget tracking and stall-free latency on the shipped pair, through a real silo and client.</summary>
[Collection(ShippedClusterCollection.Name)]
public class DeviceBehaviourTests(ShippedClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly SyneraTokenizer Tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
    private static readonly OffloadCalibration Calibration = OffloadCalibration.Load(Path.Combine(TestModels.ShippedDraft, OffloadCalibration.FileName));

    private async Task<List<GenerationResult>> RunSuite(GenerationOptions options, int minTokens, int maxPrompts = 400)
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, Tokenizer, calibration: Calibration);
        var results = new List<GenerationResult>();
        var suite = TaskGenerator.ReadJsonl(TestModels.HeldOut);
        // Interleave tasks so every budget sees the same mix.
        var ordered = suite.Select((e, i) => (e, i)).OrderBy(p => p.i % 50).ThenBy(p => p.i).Select(p => p.e).ToList();
        foreach (var ex in ordered.Take(maxPrompts))
        {
            results.Add(await generator.GenerateAsync(ex.Prompt, options));
            if (results.Sum(r => r.Stats.NumGenerated) >= minTokens) break;
        }
        return results;
    }

    /// <summary>Two fresh devices answering the same prompts in turn, one per configuration.</summary>
    private async Task<(List<GenerationResult> a, List<GenerationResult> b)> RunPaired(GenerationOptions a, GenerationOptions b, int minTokens, int maxPrompts)
    {
        using var runnerA = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var runnerB = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var deviceA = new DeviceGenerator(fixture.Client, runnerA, Tokenizer, calibration: Calibration);
        using var deviceB = new DeviceGenerator(fixture.Client, runnerB, Tokenizer, calibration: Calibration);
        var suite = TaskGenerator.ReadJsonl(TestModels.HeldOut);
        var ordered = suite.Select((e, i) => (e, i)).OrderBy(p => p.i % 50).ThenBy(p => p.i).Select(p => p.e).ToList();
        List<GenerationResult> resultsA = [], resultsB = [];
        foreach (var ex in ordered.Take(maxPrompts))
        {
            resultsA.Add(await deviceA.GenerateAsync(ex.Prompt, a));
            resultsB.Add(await deviceB.GenerateAsync(ex.Prompt, b));
            if (resultsA.Sum(r => r.Stats.NumGenerated) >= minTokens && resultsB.Sum(r => r.Stats.NumGenerated) >= minTokens) break;
        }
        return (resultsA, resultsB);
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.10)]
    public async Task OffloadRatioStaysUnderTheBudgetAndTheOffloadsFindTheErrors(double budget)
    {
        // A fresh device each time (a new generator is a new device): the budget caps its long-run ratio.
        var results = await RunSuite(new GenerationOptions { Mode = GenerationMode.Synera, Budget = budget, LoadAware = false }, 1000);
        long generated = results.Sum(r => r.Stats.NumGenerated), offloaded = results.Sum(r => r.Stats.NumOffloaded);
        long judged = results.Sum(r => r.Stats.NumJudged), accepted = results.Sum(r => r.Stats.NumAccepted);
        var ratio = (double)offloaded / generated;
        output.WriteLine($"budget {budget:P0}: {offloaded} of {generated} tokens offloaded = {ratio:P2} over {results.Count} prompts; {1 - (double)accepted / judged:P0} of judged drafts rejected");
        Assert.True(generated >= 1000, $"only {generated} tokens generated");
        Assert.InRange(ratio, budget / 2, budget + (DeviceAccount.InitialAllowance + 1) / generated);
        // Offloads go where the draft is wrong: far more rejections than the draft's 7.5 % disagreement rate.
        Assert.True(1 - (double)accepted / judged > 0.2, "offloaded drafts are rejected no more often than random ones");
    }

    [Fact]
    public async Task StallFreeDraftingBeatsRoutingAt100MsRtt()
    {
        // Paced like a phone (30 ms a token): the pacing, not this machine's load from other tests, sets the drafting speed.
        var link = new LinkOptions(RttMs: 100, DeviceMsPerToken: 30);
        // The same token selection for both (a fixed threshold): route waits a round trip for every offloaded token,
        // synera only for those the LLM rejects (it loses the drafts made meanwhile). So the gain is the wait on offloads
        // the LLM confirms; a high threshold sends many of those.
        // The two modes take turns, prompt by prompt, so the load other tests put on this machine falls on both alike.
        var (synera, route) = await RunPaired(
            new GenerationOptions { Mode = GenerationMode.Synera, FixedThreshold = 0.999, LoadAware = false, Link = link, MaxLookahead = 16 },
            new GenerationOptions { Mode = GenerationMode.Route, FixedThreshold = 0.999, LoadAware = false, Link = link }, 300, 30);
        double Tpot(List<GenerationResult> rs) => rs.Where(r => r.Stats.NumTokens > 1).Average(r => r.Stats.TimePerOutputTokenMs);
        double Ratio(List<GenerationResult> rs) => (double)rs.Sum(r => r.Stats.NumOffloaded) / rs.Sum(r => r.Stats.NumGenerated);
        output.WriteLine($"synera: TPOT {Tpot(synera):F1} ms at offload {Ratio(synera):P1}; route: TPOT {Tpot(route):F1} ms at offload {Ratio(route):P1}");
        Assert.InRange(Ratio(synera) - Ratio(route), -0.05, 0.05);     // the same offload ratio
        // Alone here synera's TPOT is about 0.68 of route's; under the suite's load both pay slower verdicts, which
        // pulls the ratio toward the share of offloads the LLM rejects (one run gave 0.82). 0.85 still says "measurably".
        Assert.True(Tpot(synera) < 0.85 * Tpot(route), $"synera TPOT {Tpot(synera):F1} ms is not measurably below route's {Tpot(route):F1} ms");
    }

    [Fact]
    public async Task ACorrectionEndsTheDeviceStepItMadeStaleAndChangesNoAnswer()
    {
        // Slow steps (200 ms a token) and no network delay: a correction arrives while the device is still computing the
        // token after the flagged one, which the correction drops. That step ends there instead of running its 200 ms.
        var arithmetic = TaskGenerator.ReadJsonl(TestModels.HeldOut).Where(e => e.Task is "add" or "sub").Take(4).ToList();
        var options = new GenerationOptions { Mode = GenerationMode.Synera, FixedThreshold = 0.999, LoadAware = false, DraftRunnerUp = false };
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, Tokenizer, calibration: Calibration);
        long abandoned = 0;
        foreach (var ex in arithmetic)
        {
            var unpaced = await generator.GenerateAsync(ex.Prompt, options);
            var paced = await generator.GenerateAsync(ex.Prompt, options with { Link = new LinkOptions(DeviceMsPerToken: 200) });
            var s = paced.Stats;
            output.WriteLine($"{ex.Prompt}: '{paced.Text}', {s.NumCorrections} corrections, {s.NumAbandonedSteps} steps abandoned, {s.NumDrafted} drafted in {s.TotalMs:F0} ms");
            Assert.Equal(unpaced.Text, paced.Text);                              // the pace changes when, not what
            Assert.Equal(unpaced.Stats.NumCorrections, s.NumCorrections);
            Assert.True(s.NumAbandonedSteps <= s.NumCorrections, "a step was abandoned without a correction");
            abandoned += s.NumAbandonedSteps;
        }
        // A verdict takes milliseconds here, a step 200: corrections land mid-step (the total time is not asserted: a
        // loaded machine can add verdict waits of its own).
        Assert.True(abandoned > 0, "no correction ended the step it made stale");
    }

    [Fact]
    public async Task ByteCapKeepsTheUplinkWithinItsRateAndTheAnswersComplete()
    {
        // Budget 1 flags every token; the cap decides how many are sent. Paced at 10 ms a token, so time passes.
        var link = new LinkOptions(DeviceMsPerToken: 10);
        const double cap = 500;    // bytes/s: a burst of about 6 offloaded tokens, then about one every 170 ms
        var free = await RunSuite(new GenerationOptions { Mode = GenerationMode.Synera, Budget = 1, LoadAware = false, Link = link }, 200, 8);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var capped = await RunSuite(new GenerationOptions { Mode = GenerationMode.Synera, Budget = 1, LoadAware = false, Link = link, MaxBytesPerSecond = cap }, 200, 8);
        var seconds = clock.Elapsed.TotalSeconds;
        double Rate(GenerationResult r) => r.Stats.BytesUp / (r.Stats.TotalMs / 1000);
        double Ratio(List<GenerationResult> rs) => (double)rs.Sum(r => r.Stats.NumOffloaded) / rs.Sum(r => r.Stats.NumGenerated);
        output.WriteLine($"uncapped: {free.Average(Rate):F0} B/s up, offload {Ratio(free):P0}; capped at {cap} B/s: {capped.Average(Rate):F0} B/s, offload {Ratio(capped):P0}, " +
            $"{capped.Sum(r => r.Stats.NumByteCappedOffloads)} flagged tokens kept on the device");
        Assert.True(free.Average(Rate) > 2 * cap, $"uncapped the device sends only {free.Average(Rate):F0} B/s: the cap is not tested");
        // The cap belongs to the device, across its answers: one second of burst, then the rate. Each answer's
        // session-open message (16 B + 4 B a prompt token) is not an offload and is not capped.
        long verifyBytes = capped.Sum(r => r.Stats.BytesUp - (16 + 4 * r.Stats.PromptTokens));
        Assert.True(verifyBytes <= cap * (1 + seconds), $"{verifyBytes} B of spans sent in {seconds:F1} s under a {cap} B/s cap");
        Assert.All(capped, r => { Assert.True(r.Stats.NumTokens > 0); Assert.Null(r.Stats.CloudError); });
        Assert.True(capped.Sum(r => r.Stats.NumByteCappedOffloads) > 0);
        Assert.True(Ratio(capped) < 0.8 * Ratio(free), $"offload {Ratio(capped):P0} capped vs {Ratio(free):P0} uncapped");
        Assert.True(Ratio(capped) > 0, "the cap let nothing through");
    }
}

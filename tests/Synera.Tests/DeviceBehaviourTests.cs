using Synera.DeviceClient.Drafting;
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

    private async Task<List<GenerationResult>> RunSuite(GenerationOptions options, int minTokens, int maxPrompts = 400)
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, Tokenizer);
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

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.10)]
    [InlineData(0.25)]
    public async Task OffloadRatioTracksTheBudgetWithinTwoPoints(double budget)
    {
        var results = await RunSuite(new GenerationOptions { Mode = GenerationMode.Synera, Budget = budget, LoadAware = false }, 1000);
        long generated = results.Sum(r => r.Stats.NumGenerated), offloaded = results.Sum(r => r.Stats.NumOffloaded);
        var ratio = (double)offloaded / generated;
        output.WriteLine($"budget {budget:P0}: {offloaded} of {generated} tokens offloaded = {ratio:P2} over {results.Count} prompts");
        Assert.True(generated >= 1000, $"only {generated} tokens generated");
        Assert.InRange(ratio, budget - 0.02, budget + 0.02);
    }

    [Fact]
    public async Task StallFreeDraftingBeatsRoutingAt100MsRtt()
    {
        var link = new LinkOptions(RttMs: 100, DeviceMsPerToken: 10);   // 16 drafts of lookahead cover one RTT
        var synera = await RunSuite(new GenerationOptions { Mode = GenerationMode.Synera, Budget = 0.2, LoadAware = false, Link = link, MaxLookahead = 16 }, 300, 30);
        var route = await RunSuite(new GenerationOptions { Mode = GenerationMode.Route, Budget = 0.2, LoadAware = false, Link = link }, 300, 30);
        double Tpot(List<GenerationResult> rs) => rs.Where(r => r.Stats.NumTokens > 1).Average(r => r.Stats.TimePerOutputTokenMs);
        double Ratio(List<GenerationResult> rs) => (double)rs.Sum(r => r.Stats.NumOffloaded) / rs.Sum(r => r.Stats.NumGenerated);
        output.WriteLine($"synera: TPOT {Tpot(synera):F1} ms at offload {Ratio(synera):P1}; route: TPOT {Tpot(route):F1} ms at offload {Ratio(route):P1}");
        Assert.InRange(Ratio(synera) - Ratio(route), -0.05, 0.05);     // the same offload ratio
        Assert.True(Tpot(synera) < 0.8 * Tpot(route), $"synera TPOT {Tpot(synera):F1} ms is not measurably below route's {Tpot(route):F1} ms");
    }
}

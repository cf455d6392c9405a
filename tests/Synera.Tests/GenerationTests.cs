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

    [Fact]
    public async Task SyneraAtFullBudgetEqualsLlm()
    {
        foreach (var prompt in Prompts)
        {
            var llm = await Generate(prompt, Greedy(GenerationMode.Llm));
            var synera = await Generate(prompt, Greedy(GenerationMode.Synera, 1.0));
            Assert.Equal(llm.TokenIds, synera.TokenIds);
            Assert.True(synera.Stats.NumOffloaded >= synera.Stats.NumTokens, "at budget 100% every committed token was offloaded");
        }
    }

    [Fact]
    public async Task SyneraAtZeroBudgetEqualsSlm()
    {
        foreach (var prompt in Prompts)
        {
            var slm = await Generate(prompt, Greedy(GenerationMode.Slm));
            var synera = await Generate(prompt, Greedy(GenerationMode.Synera, 0.0));
            Assert.Equal(slm.TokenIds, synera.TokenIds);
            Assert.Equal(0, synera.Stats.NumRequests);
        }
    }

    [Fact]
    public async Task SpecEqualsLlm()
    {
        foreach (var prompt in Prompts)
        {
            var llm = await Generate(prompt, Greedy(GenerationMode.Llm));
            var spec = await Generate(prompt, Greedy(GenerationMode.Spec));
            Assert.Equal(llm.TokenIds, spec.TokenIds);
        }
    }

    [Fact]
    public async Task RouteAndPartialBudgetsFinishWithCommittedTokensOnly()
    {
        foreach (var mode in new[] { GenerationMode.Route, GenerationMode.Synera })
        {
            var streamed = new List<int>();
            using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
            using var generator = new DeviceGenerator(fixture.Client, runner, SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json")));
            var result = await generator.GenerateAsync(Prompts[2], Greedy(mode, 0.3), t => streamed.Add(t.TokenId));   // a long answer
            Assert.Equal(result.TokenIds, streamed);           // what was shown is exactly the final text: nothing withdrawn
            Assert.True(result.Stats.NumOffloaded > 0);
        }
    }
}

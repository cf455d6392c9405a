using Synera.Abstractions.Sampling;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Tokenizer;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>
/// Sampled generation through the real cluster on the shipped pair. With coupled sampling every token the cloud commits
/// is its own draw with the position's shared noise, so for one seed the LLM alone, spec and synera at budget 1 write the
/// same text, token for token, whatever the SLM drafted. (The distribution over many seeds is `synera bench sampling`.)
/// </summary>
[Collection(ShippedClusterCollection.Name)]
public class SampledGenerationTests(ShippedClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly SyneraTokenizer Tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));

    [Fact]
    public async Task CoupledSamplingWritesTheLlmsOwnSampleForTheSameSeed()
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, Tokenizer);
        int differentFromSlm = 0;
        long rejected = 0;
        foreach (var (prompt, seed) in new[] { ("Write a sentence about a cat.", 1), ("Write a sentence about the sea.", 2), ("What is 47+38?", 3), ("Reverse the word 'planet'.", 4) })
        {
            var sampled = new GenerationOptions { Temperature = 1f, Seed = seed, MaxNewTokens = 40, LoadAware = false };
            var llm = await generator.GenerateAsync(prompt, sampled with { Mode = GenerationMode.Llm });
            var spec = await generator.GenerateAsync(prompt, sampled with { Mode = GenerationMode.Spec });
            var synera = await generator.GenerateAsync(prompt, sampled with { Mode = GenerationMode.Synera, Budget = 1 });
            var slm = await generator.GenerateAsync(prompt, sampled with { Mode = GenerationMode.Slm });
            output.WriteLine($"seed {seed}: llm '{llm.Text}' | slm '{slm.Text}' | synera accepted {synera.Stats.NumAccepted} of {synera.Stats.NumJudged}");
            Assert.Null(synera.Stats.CloudError);
            Assert.Equal(llm.TokenIds, spec.TokenIds);
            Assert.Equal(llm.TokenIds, synera.TokenIds);
            if (!slm.TokenIds.SequenceEqual(llm.TokenIds)) differentFromSlm++;
            rejected += synera.Stats.NumJudged - synera.Stats.NumAccepted;
        }
        // Otherwise the test would not show anything: the SLM's own samples differ, and the cloud corrected some drafts.
        Assert.True(differentFromSlm > 0, "the SLM alone wrote the LLM's samples for every seed");
        Assert.True(rejected > 0, "no sampled draft was rejected");
    }

    [Fact]
    public async Task SampledGenerationIsRepeatableAndGreedyIsUnchanged()
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, Tokenizer);
        var options = new GenerationOptions { Temperature = 1f, Seed = 11, MaxNewTokens = 30, Budget = 0.2, LoadAware = false };
        var a = await generator.GenerateAsync("Write a sentence about a dog.", options);
        var b = await generator.GenerateAsync("Write a sentence about a dog.", options);
        Assert.Equal(a.TokenIds, b.TokenIds);
        var greedy = new GenerationOptions { MaxNewTokens = 30, LoadAware = false };
        var llm = await generator.GenerateAsync("What is 123+456?", greedy with { Mode = GenerationMode.Llm });
        var spec = await generator.GenerateAsync("What is 123+456?", greedy with { Mode = GenerationMode.Spec });
        Assert.Equal(llm.TokenIds, spec.TokenIds);
        Assert.Equal(SamplingRule.Coupled, options.SamplingRule);
    }
}

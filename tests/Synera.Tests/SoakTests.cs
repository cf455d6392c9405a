using Synera.Cli.Soak;

namespace Synera.Tests;

/// <summary>A short soak through the real cluster: mixed budgets, disconnecting devices and garbage senders.</summary>
[Collection(ClusterCollection.Name)]
public class SoakTests(ClusterFixture fixture)
{
    [Fact]
    public async Task ShortSoakLosesNothingAndRefusesEveryPieceOfGarbage()
    {
        int[][] prompts = [[1, .. TestModels.Tokenizer.Encode("user: What is 2+2?\nassistant: ")], [1, .. TestModels.Tokenizer.Encode("user: Tell me about Tom.\nassistant: ")]];
        var options = new SoakOptions(Devices: 24, Minutes: 0.3, ThinkMs: 300, DisconnectFraction: 0.25, GarbageFraction: 0.25, SpansPerAnswer: 6, Seed: 3);
        var result = await SoakRun.RunAsync(fixture.Client, prompts, options);
        var errors = result.PerMinute.SelectMany(m => m.ErrorsByKind).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
        var seen = string.Join(", ", errors.Select(kv => $"{kv.Key}={kv.Value}"));
        Assert.Equal(0, result.Deadlocks);
        Assert.Equal(0, result.TokensLost);
        Assert.True(result.TokensCommitted > 500, $"only {result.TokensCommitted} tokens committed");
        Assert.True(result.Answers >= options.Devices, $"{result.Answers} answers");
        Assert.True(errors.GetValueOrDefault("expected:reconnect") > 0, $"no device disconnected and returned: {seen}");
        Assert.True(errors.Keys.Count(k => k.StartsWith("refused:")) >= 3, seen);
        Assert.DoesNotContain(errors.Keys, k => k.StartsWith("garbage-accepted") || k.StartsWith("unexpected") || k == "diverged");
        Assert.DoesNotContain("refused:other", errors.Keys);
        Assert.All(result.PerMinute, m => Assert.True(m.MemoryMb > 0));
    }

    [Fact]
    public void LostTokensAreCountedOnBothSides()
    {
        Assert.Equal(0, SoakDevice.Difference([1, 2, 3], [1, 2, 3]));
        Assert.Equal(2, SoakDevice.Difference([1, 2, 3], [1, 2, 3, 4, 5]));   // committed in the cloud, never acknowledged
        Assert.Equal(3, SoakDevice.Difference([1, 2, 9], [1, 2, 3, 4]));      // one acknowledged token missing, two unacknowledged
    }
}

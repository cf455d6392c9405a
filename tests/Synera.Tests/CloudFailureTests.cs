using Microsoft.Extensions.Logging;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Silo.Hosting;
using Synera.Tokenizer;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>The cloud goes away under a device mid-answer (its silo stops): the device finishes with its SLM.</summary>
public class CloudFailureTests(ITestOutputHelper output)
{
    [Fact]
    public async Task DeviceFinishesItsAnswerWhenTheSiloStops()
    {
        await using var cluster = await EmbeddedCluster.StartAsync(v => v.ModelPath = TestModels.ShippedTarget,
            configureLogging: logging => logging.AddProvider(new TestOutputLoggerProvider(output, LogLevel.Error)));
        var tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(cluster.Client, runner, tokenizer);
        // Every token verified, paced at 40 ms a token so the answer is still running when the silo stops.
        var options = new GenerationOptions
        {
            Mode = GenerationMode.Synera, Budget = 1, LoadAware = false, MaxNewTokens = 60,
            Link = new DeviceClient.Link.LinkOptions(RttMs: 20, DeviceMsPerToken: 40), VerdictTimeout = TimeSpan.FromSeconds(2),
        };
        var streamed = new List<int>();
        var firstToken = new TaskCompletionSource();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var generation = generator.GenerateAsync("Tell me about Ana's red cat.", options, t => { lock (streamed) streamed.Add(t.TokenId); firstToken.TrySetResult(); });
        await firstToken.Task.WaitAsync(TimeSpan.FromSeconds(30));
        int before;
        lock (streamed) before = streamed.Count;
        var stopping = cluster.StopSiloAsync();                                   // a graceful stop takes its time; the device does not wait for it
        var result = await generation.WaitAsync(TimeSpan.FromSeconds(60));
        var answered = clock.Elapsed;
        await stopping.WaitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"{before} tokens before the silo began to stop, {result.TokenIds.Count} in all, answered in {answered.TotalSeconds:F1} s, silo stopped after {clock.Elapsed.TotalSeconds:F1} s; " +
            $"verdict timeouts {result.Stats.NumVerdictTimeouts}, cloud error: {result.Stats.CloudError ?? "none"}");
        Assert.Equal(result.TokenIds, streamed);                                   // nothing shown was withdrawn
        Assert.True(result.TokenIds.Count > before, "the device stopped generating when the cloud went away");
        Assert.True(result.Stats.NumVerdictTimeouts > 0 || result.Stats.CloudError is not null, "the loss of the cloud went unreported");
        // 60 tokens at 40 ms, one verdict timeout (2 s) and a bounded close (5 s) fit well within 20 s.
        Assert.True(answered < TimeSpan.FromSeconds(20), $"the answer took {answered.TotalSeconds:F0} s");

        // With the silo gone, the next answer cannot even open its session: the SLM answers alone and says why; llm
        // mode, which has no SLM answer to give, reports the failure.
        var alone = await generator.GenerateAsync("What is 123+456?", options with { Link = new DeviceClient.Link.LinkOptions() }).WaitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"after the stop: {alone.Text} ({alone.Stats.CloudError})");
        Assert.NotEmpty(alone.TokenIds);
        Assert.Equal(0, alone.Stats.NumOffloaded);
        Assert.StartsWith("the cloud could not be reached", alone.Stats.CloudError);
        await Assert.ThrowsAnyAsync<Exception>(() => generator.GenerateAsync("What is 123+456?", options with { Mode = GenerationMode.Llm }).WaitAsync(TimeSpan.FromSeconds(60)));
    }
}

using Microsoft.Extensions.Logging;
using Orleans;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Silo.Hosting;
using Synera.Tokenizer;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>
/// A span answered Stale while the device still holds it, with no rejection behind it (a verdict lost on the way, a race
/// around a resync), leaves flagged tokens that no span in flight will answer. The device used to throw ("waiting with
/// nothing pending"); it now resynchronises from the session grain at once, and when even the grain cannot be reached it
/// goes on with its SLM, unflagging those tokens too. The fault is injected on the real path: a silo call filter turns one
/// verdict into Stale before the session grain sees it.
/// </summary>
public class StaleVerdictTests(ITestOutputHelper output)
{
    private const string Prompt = "Tell me about Ana's red cat.";

    // One span in flight at a time (lookahead 1): when its verdict comes back Stale, nothing else is pending.
    private static readonly GenerationOptions Options = new()
    {
        Mode = GenerationMode.Synera, Budget = 1, MaxNewTokens = 40, LoadAware = false, MaxLookahead = 1, DraftRunnerUp = false,
        StallTimeout = TimeSpan.FromSeconds(20), VerdictTimeout = TimeSpan.FromSeconds(60),
    };

    [Fact]
    public async Task AStaleVerdictForASpanTheDeviceHoldsResynchronisesAtOnce()
    {
        var filter = new StaleOnceFilter();
        await using var cluster = await StartAsync(filter);
        var (undisturbed, _) = await GenerateAsync(cluster, "stale-undisturbed");
        filter.Armed = true;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (result, streamed) = await GenerateAsync(cluster, "stale-resync");
        output.WriteLine($"{result.Text} in {clock.Elapsed.TotalSeconds:F1} s; stall resyncs {result.Stats.NumStallResyncs}, cloud error {result.Stats.CloudError ?? "none"}");
        Assert.Equal(1, filter.Converted);
        Assert.Equal(undisturbed.TokenIds, result.TokenIds);           // the cloud still verified every token
        Assert.Equal(result.TokenIds, streamed);                       // nothing shown was withdrawn
        Assert.True(result.Stats.NumStallResyncs >= 1, "the device did not resynchronise");
        Assert.Null(result.Stats.CloudError);
        Assert.Equal(0, result.Stats.NumVerdictTimeouts);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the answer took {clock.Elapsed.TotalSeconds:F0} s: it waited for a timeout");
    }

    [Fact]
    public async Task WhenTheGrainCannotResynchroniseTheDeviceFinishesWithItsSlm()
    {
        var filter = new StaleOnceFilter { Armed = true, RefuseResync = true };
        await using var cluster = await StartAsync(filter);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (result, streamed) = await GenerateAsync(cluster, "stale-no-resync");
        output.WriteLine($"{result.Text} in {clock.Elapsed.TotalSeconds:F1} s; cloud error {result.Stats.CloudError ?? "none"}");
        Assert.Equal(1, filter.Converted);
        Assert.NotEmpty(result.TokenIds);
        Assert.Equal(result.TokenIds, streamed);
        Assert.StartsWith("a span was answered stale", result.Stats.CloudError);
        Assert.Equal(0, result.Stats.NumVerdictTimeouts);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the answer took {clock.Elapsed.TotalSeconds:F0} s");
    }

    private Task<EmbeddedCluster> StartAsync(StaleOnceFilter filter) =>
        EmbeddedCluster.StartAsync(v => v.ModelPath = TestModels.ShippedTarget,
            configureLogging: logging => logging.AddProvider(new TestOutputLoggerProvider(output, LogLevel.Error)),
            configureSilo: silo => silo.AddIncomingGrainCallFilter(filter));

    private static async Task<(GenerationResult result, List<int> streamed)> GenerateAsync(EmbeddedCluster cluster, string deviceId)
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(cluster.Client, runner, SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json")), deviceId: deviceId);
        var streamed = new List<int>();
        var result = await generator.GenerateAsync(Prompt, Options, t => { lock (streamed) streamed.Add(t.TokenId); }).WaitAsync(TimeSpan.FromSeconds(60));
        return (result, streamed);
    }

    /// <summary>Once armed: turns the fourth span's verdict, or a later one, when it accepts without a correction into Stale on its way into the session
    /// grain (which then forgets the span, as for any Stale verdict); optionally refuses every resync afterwards.</summary>
    private sealed class StaleOnceFilter : IIncomingGrainCallFilter
    {
        private int converted;
        public volatile bool Armed;
        public bool RefuseResync { get; init; }
        public int Converted => Volatile.Read(ref converted);

        public Task Invoke(IIncomingGrainCallContext context)
        {
            if (Armed && context.Request.GetMethodName() == nameof(ISessionGrain.OnVerdictAsync)
                && context.Request.GetArgument(0) is Verdict { Kind: VerdictKind.Verified, CorrectionTokenId: < 0, Seq: >= 3 } verdict
                && Interlocked.CompareExchange(ref converted, 1, 0) == 0)
                context.Request.SetArgument(0, verdict with { Kind = VerdictKind.Stale });
            if (RefuseResync && Converted > 0 && context.Request.GetMethodName() == nameof(ISessionGrain.ResyncAsync))
                throw new InvalidOperationException("resync refused by the test");
            return context.Invoke();
        }
    }
}

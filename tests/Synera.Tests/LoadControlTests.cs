using Synera.Abstractions.Messages;
using Synera.Grains.Options;
using Synera.Grains.Verification;

namespace Synera.Tests;

/// <summary>Load-aware offload control and back-pressure in the real engine.</summary>
public class LoadControlTests
{
    [Fact]
    public void LoadFactorFallsWhenP99ExceedsTheTargetAndRecoversWhenIdle()
    {
        var controller = new LoadController(targetP99Ms: 50);
        for (int i = 0; i < 100; i++) controller.RecordLatency(200);
        Thread.Sleep(120);
        controller.Update(5);
        Assert.True(controller.LoadFactor < 1, $"factor {controller.LoadFactor} after p99 = 200 ms > 50 ms target");
        var low = controller.LoadFactor;
        for (int i = 0; i < 30; i++) { Thread.Sleep(105); controller.Update(0); }   // idle: no latencies recorded
        Assert.True(controller.LoadFactor > low);
        Assert.Equal(1.0, controller.LoadFactor, 3);
    }

    [Fact]
    public void TierWeightsBendTheFactorAndAreValidated()
    {
        Assert.Equal(1.0, LoadController.ForTier(1.0, 0.5));      // no pressure: every tier keeps its budget
        Assert.Equal(0.5, LoadController.ForTier(0.25, 2), 12);
        Assert.Equal(0.0625, LoadController.ForTier(0.25, 0.5), 12);
        var options = new VerifierOptions { TierWeights = new() { ["premium"] = 2 } };
        Assert.Equal(2, options.WeightOf("premium"));
        Assert.Equal(1, options.WeightOf("default"));
        Assert.Null(options.WeightOf("gold"));
        Assert.Equal(1, new VerifierOptions().WeightOf("anything"));   // no tiers configured: all alike
        var invalid = new VerifierOptionsValidator().Validate(null, new VerifierOptions { TierWeights = new() { ["free"] = 0 } });
        Assert.True(invalid.Failed);
        Assert.Contains("tier 'free'", invalid.FailureMessage);
    }

    [Fact]
    public void FullQueueRefusesWithOverloadedAndNothingIsLost()
    {
        using var h = new EngineHarness(TestModels.TinyTarget, new VerifierOptions { MaxQueuedRequests = 3 });
        int[] prompt = [1, 20, 21, 22];
        for (int s = 0; s < 3; s++)
            Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest($"s{s}", 0, 0, prompt.Length, [], [5], [0.5f]), EngineHarness.Setup(prompt)));
        Assert.Equal(EnqueueStatus.Overloaded, h.Engine.Enqueue(new VerifyRequest("s3", 0, 0, prompt.Length, [], [5], [0.5f]), EngineHarness.Setup(prompt)));
        Assert.Equal(3, h.Engine.CurrentLoad.QueuedRequests);
        h.RunUntilIdle();
        Assert.Equal(3, h.Verdicts.Count);
        Assert.Equal(prompt, h.Engine.CommittedTokens("s3"));       // refused: its committed tokens are untouched
        // Once drained, the refused session gets through.
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s3", 1, 0, prompt.Length, [], [5], [0.5f]), null));
    }

    [Fact]
    public void SchedulerServesLeastSlackFirstAndKeepsEachSessionsOrder()
    {
        var scheduler = new ContinuousBatchScheduler(new VerifierOptions { MaxTokensPerStep = 6 });
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        VerifyRequest R(string s, long seq, int n) => new(s, seq, 0, 0, [], Enumerable.Repeat(5, n).ToArray(), Enumerable.Repeat(0.5f, n).ToArray());
        scheduler.TryAdd(new EngineRequest(R("relaxed", 0, 3), now, latencyTargetMs: 1000));
        scheduler.TryAdd(new EngineRequest(R("urgent", 0, 3), now, latencyTargetMs: 10));
        scheduler.TryAdd(new EngineRequest(R("urgent", 1, 1), now, latencyTargetMs: 10));
        scheduler.TryAdd(new EngineRequest(R("short", 0, 1), now, latencyTargetMs: 1000));
        var first = scheduler.Schedule(now, r => r.Request.NumTokens);
        // Budget 6: urgent#0 (least slack, 3) then short (1 token, ties broken by length) then relaxed would exceed.
        Assert.Equal(["urgent:0", "short:0"], first.Requests.Select(r => $"{r.SessionId}:{r.Request.Seq}"));
        var second = scheduler.Schedule(now, r => r.Request.NumTokens);
        Assert.Equal(["urgent:1", "relaxed:0"], second.Requests.Select(r => $"{r.SessionId}:{r.Request.Seq}"));
        Assert.Equal(0, scheduler.NumWaiting);
    }
}

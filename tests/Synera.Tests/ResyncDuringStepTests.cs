using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;
using Synera.Grains.Verification;

namespace Synera.Tests;

/// <summary>
/// A session released and set up again (a resync, a re-opened conversation) while one of its spans is in the running step:
/// that step's result belongs to the session that was, and must not touch the new one. Seen at a 1 ms device stall timeout:
/// the old span's correction took the new session's spans out of the queue (to hold their stale verdicts), so they were
/// never answered, and the engine reported the session busy for good.
/// </summary>
public sealed class ResyncDuringStepTests
{
    [Fact]
    public void TheNewSessionsSpansAreAnsweredWhenTheOldSessionsStepEndsAfterTheResync()
    {
        int[] prompt = [TestModels.Tokenizer.BosId, .. TestModels.Tokenizer.Encode("user: What is 1+2?")];
        EngineHarness? h = null;
        bool resynced = false;
        using var _ = h = new EngineHarness(TestModels.TinyTarget, wrapRunner: r => new HookedRunner(r, inputs =>
        {
            if (resynced || !inputs.Any(i => i.SessionId == "s")) return;
            resynced = true;
            // The session grain resynchronises while span 0 is in the forward: it releases the session, and the device's
            // next span brings the history in the new epoch.
            h!.Engine.Release("s");
            Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(new VerifyRequest("s", 5, 4, prompt.Length, [], [7], [0.9f]),
                new SessionSetup(prompt, 4, SamplingSettings.Greedy, 500)));
        }));
        var engine = h.Engine;

        // A draft the model rejects (greedy): the probe's verdict names the model's token after the prompt.
        Assert.Equal(EnqueueStatus.Queued, engine.Enqueue(new VerifyRequest("probe", 0, 0, prompt.Length, [], [5], [0.9f]), EngineHarness.Setup(prompt)));
        h.RunUntilIdle();
        var probe = Assert.Single(h.Verdicts);
        int rejected = probe.NumAccepted == 1 ? 6 : 5;

        // Span 0 is rejected and asks for the LLM's next token after the correction: the correction's bookkeeping (hold the
        // verdicts of the spans queued behind it, queue its continuation) is what reached the new session's queue.
        Assert.Equal(EnqueueStatus.Queued, engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length, [], [rejected], [0.9f], CorrectionLookahead: 1),
            EngineHarness.Setup(prompt)));
        h.RunUntilIdle();
        Assert.True(resynced, "the release never raced span 0's forward");

        var answer = Assert.Single(h.Verdicts, v => v.SessionId == "s" && v.Seq == 5);
        Assert.True(answer.Kind == VerdictKind.Verified && answer.Epoch >= 4, $"span 5 of the new session was answered {answer.Kind} in epoch {answer.Epoch}");
        Assert.DoesNotContain(h.Verdicts, v => v.SessionId == "s" && v.Epoch < 4);   // nothing from the session that was
        Assert.Equal(SessionActivity.Idle, engine.ActivityOf("s"));                  // nothing owed once its verdict is out
    }
}

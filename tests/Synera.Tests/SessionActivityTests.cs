using Synera.Abstractions.Messages;
using Synera.Grains.Verification;

namespace Synera.Tests;

/// <summary>
/// What the engine tells a session grain's in-flight watch: a span that is queued, being judged, or whose verdict the
/// grain has not acknowledged is owed (Busy, never resynchronised for its age); only when every verdict arrived is a span
/// the grain still waits for lost (Idle).
/// </summary>
public sealed class SessionActivityTests
{
    /// <summary>Verdicts are acknowledged only when the test says so, as a session grain busy elsewhere would.</summary>
    private sealed class HeldSink : IVerdictSink
    {
        public readonly List<Verdict> Verdicts = [];
        public TaskCompletionSource Acknowledge { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>Completes when the first verdict reaches the sink (the engine hands verdicts over on the thread pool).</summary>
        public TaskCompletionSource Delivered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task DeliverAsync(Verdict verdict)
        {
            lock (Verdicts) Verdicts.Add(verdict);
            Delivered.TrySetResult();
            return Acknowledge.Task;
        }
    }

    [Fact]
    public async Task ASpanIsOwedFromQueueToAcknowledgedVerdict()
    {
        var sink = new HeldSink();
        var seenDuringSteps = new List<SessionActivity>();   // the engine asked about the session while its step runs
        EngineHarness? h = null;
        using var _ = h = new EngineHarness(TestModels.TinyTarget, wrapRunner: r => new HookedRunner(r, _ => seenDuringSteps.Add(h!.Engine.ActivityOf("s"))), sink: sink);
        var engine = h.Engine;
        int[] prompt = [TestModels.Tokenizer.BosId, .. TestModels.Tokenizer.Encode("user: What is 1+2?")];

        Assert.Equal(SessionActivity.NotHeld, engine.ActivityOf("s"));
        var drafts = TestModels.Tokenizer.Encode("3");
        Assert.Equal(EnqueueStatus.Queued, engine.Enqueue(new VerifyRequest("s", 0, 0, prompt.Length, [], drafts, [0.9f]), EngineHarness.Setup(prompt)));
        Assert.Equal(SessionActivity.Busy, engine.ActivityOf("s"));                  // queued

        Assert.Equal(1, engine.Step());
        Assert.Equal([SessionActivity.Busy], seenDuringSteps);                // being judged: out of the queue, not yet answered
        Assert.Equal(SessionActivity.Busy, engine.ActivityOf("s"));                  // answered, the verdict on its way
        await sink.Delivered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Single(sink.Verdicts);
        Assert.Equal(SessionActivity.Busy, engine.ActivityOf("s"));                  // answered, but the grain has not taken the verdict

        sink.Acknowledge.SetResult();
        await engine.DeliveriesCompleted().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(SessionActivity.Idle, engine.ActivityOf("s"));                  // nothing owed: a span still awaited now is lost

        engine.Release("s");
        Assert.Equal(SessionActivity.NotHeld, engine.ActivityOf("s"));
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Verification;

namespace Synera.Grains;

/// <summary>
/// Delivers the engine's verdicts to the session grains, which publish them on the sessions' streams. A session whose
/// grain told its verifier where it lives (<see cref="Route"/>: its silo's <see cref="IVerdictRelayGrain"/>) gets its
/// verdicts through that relay, together with every other verdict of the same step bound for that silo: a step's
/// verdicts cross the network as one call per frontend silo, not one per session (a step answers ~64 sessions under
/// <c>bench scale</c>). A session without a route gets a call of its own.
/// </summary>
public sealed class OrleansVerdictSink(IGrainFactory grainFactory) : IVerdictSink
{
    private readonly IGrainFactory grainFactory = grainFactory;
    private readonly ConcurrentDictionary<string, string> routes = new();        // session id → relay key
    private readonly ConcurrentDictionary<string, RelayBatcher> relays = new();  // relay key → its batcher
    private int openSteps;                                                        // steps whose verdicts are being handed over

    /// <summary>Sends the session's verdicts through the relay <paramref name="relayKey"/> from now on.</summary>
    public void Route(string sessionId, string relayKey)
    {
        if (!routes.TryGetValue(sessionId, out var known) || known != relayKey) routes[sessionId] = relayKey;
    }

    /// <summary>The session is gone from this verifier; a late verdict goes to its grain directly.</summary>
    public void Forget(string sessionId) => routes.TryRemove(sessionId, out _);

    /// <summary>Relay calls sent and the verdicts they carried, since the silo started (tests, diagnostics).</summary>
    public (long Calls, long Verdicts) Relayed => (Interlocked.Read(ref relayCalls), Interlocked.Read(ref relayedVerdicts));
    private long relayCalls, relayedVerdicts;

    public Task DeliverAsync(Verdict verdict)
    {
        if (!routes.TryGetValue(verdict.SessionId, out var relayKey))
            return grainFactory.GetGrain<ISessionGrain>(verdict.SessionId).OnVerdictAsync(verdict);
        var batcher = relays.GetOrAdd(relayKey, static (key, sink) => new RelayBatcher(sink, sink.grainFactory.GetGrain<IVerdictRelayGrain>(key)), this);
        var delivered = batcher.Add(new RelayedVerdict(verdict, Activity.Current?.Id));
        // Outside a step (a verdict that waited for its session's previous one) it goes now; inside, when the step ends.
        // Added first, checked second: a step ending in between sends it (see StepScope.Dispose).
        if (Volatile.Read(ref openSteps) == 0) batcher.SendSoon();
        return delivered;
    }

    public IDisposable BeginStep()
    {
        Interlocked.Increment(ref openSteps);
        return new StepScope(this);
    }

    private sealed class StepScope(OrleansVerdictSink sink) : IDisposable
    {
        private int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 1) return;
            Interlocked.Decrement(ref sink.openSteps);
            foreach (var batcher in sink.relays.Values) batcher.SendSoon();
        }
    }

    /// <summary>Verdicts waiting for one relay, sent together by a thread-pool work item. Sends do not wait for each other:
    /// a batch held up by a slow session grain holds up no later batch.</summary>
    private sealed class RelayBatcher(OrleansVerdictSink sink, IVerdictRelayGrain relay)
    {
        private readonly Lock gate = new();
        private List<(RelayedVerdict Verdict, TaskCompletionSource Delivered)> pending = [];
        private bool sendQueued;

        public Task Add(RelayedVerdict verdict)
        {
            var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (gate) pending.Add((verdict, delivered));
            return delivered.Task;
        }

        public void SendSoon()
        {
            lock (gate)
            {
                if (sendQueued || pending.Count == 0) return;
                sendQueued = true;
            }
            ThreadPool.UnsafeQueueUserWorkItem(static b => _ = b.SendAsync(), this, preferLocal: false);
        }

        private async Task SendAsync()
        {
            List<(RelayedVerdict Verdict, TaskCompletionSource Delivered)> batch;
            lock (gate) (batch, pending, sendQueued) = (pending, [], false);
            if (batch.Count == 0) return;
            Interlocked.Increment(ref sink.relayCalls);
            Interlocked.Add(ref sink.relayedVerdicts, batch.Count);
            try
            {
                var failures = await relay.DeliverAsync([.. batch.Select(b => b.Verdict)]);
                for (int i = 0; i < batch.Count; i++)
                {
                    if (failures?[i] is { } failure) batch[i].Delivered.TrySetException(new InvalidOperationException($"session {batch[i].Verdict.Verdict.SessionId}: {failure}"));
                    else batch[i].Delivered.TrySetResult();
                }
            }
            catch (Exception e)
            {
                foreach (var (_, delivered) in batch) delivered.TrySetException(e);
            }
        }
    }
}

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
    private readonly ConcurrentDictionary<string, string> routes = new();        // session id → relay key
    private readonly ConcurrentDictionary<string, CallBatcher<RelayedVerdict, string?>> relays = new();   // relay key → its batcher
    private int openSteps;                                                        // steps whose verdicts are being handed over

    /// <summary>Sends the session's verdicts through the relay <paramref name="relayKey"/> from now on.</summary>
    public void Route(string sessionId, string relayKey)
    {
        if (!routes.TryGetValue(sessionId, out var known) || known != relayKey) routes[sessionId] = relayKey;
    }

    /// <summary>The session is gone from this verifier; a late verdict goes to its grain directly.</summary>
    public void Forget(string sessionId) => routes.TryRemove(sessionId, out _);

    /// <summary>Relay calls sent and the verdicts they carried, since the silo started (tests, the activity log).</summary>
    public (long Calls, long Verdicts) Relayed => CallBatcher<RelayedVerdict, string?>.Total(relays.Values);

    public Task DeliverAsync(Verdict verdict)
    {
        if (!routes.TryGetValue(verdict.SessionId, out var relayKey))
            return grainFactory.GetGrain<ISessionGrain>(verdict.SessionId).OnVerdictAsync(verdict);
        var batcher = relays.GetOrAdd(relayKey, static (key, factory) => NewBatcher(factory.GetGrain<IVerdictRelayGrain>(key)), grainFactory);
        var delivered = batcher.Add(new RelayedVerdict(verdict, Activity.Current?.Id));
        // Outside a step (a verdict that waited for its session's previous one) it goes now; inside, when the step ends.
        // Added first, checked second: a step ending in between sends it (see StepScope.Dispose).
        if (Volatile.Read(ref openSteps) == 0) batcher.SendSoon();
        return Delivered(delivered, verdict.SessionId);
    }

    private static CallBatcher<RelayedVerdict, string?> NewBatcher(IVerdictRelayGrain relay) =>
        new(async verdicts => await relay.DeliverAsync(verdicts) ?? new string?[verdicts.Length]);

    private static async Task Delivered(Task<string?> delivery, string sessionId)
    {
        if (await delivery is { } failure) throw new InvalidOperationException($"session {sessionId}: {failure}");
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
}

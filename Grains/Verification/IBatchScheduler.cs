namespace Synera.Grains.Verification;

/// <summary>
/// Decides which waiting requests run in the next engine step (vLLM's scheduler interface, reduced to what a
/// verifier needs). <see cref="TryAdd"/> is called from grain threads when a request arrives;
/// <see cref="Schedule"/> once per engine step by the engine loop; <see cref="RemoveSession"/> when a session
/// ends or goes stale. Implementations are thread-safe.
/// </summary>
public interface IBatchScheduler
{
    /// <summary>Queues a request; false when the queue is full (back-pressure).</summary>
    bool TryAdd(EngineRequest request, bool force = false);

    /// <summary>Picks at most <paramref name="maxRequests"/> requests for one step (the sessions the KV cache can
    /// hold at once). <paramref name="cost"/> gives each request's input tokens.</summary>
    SchedulerOutput Schedule(long nowTimestamp, Func<EngineRequest, int> cost, int maxRequests = int.MaxValue);

    /// <summary>Drops the session's waiting requests; returns them.</summary>
    IReadOnlyList<EngineRequest> RemoveSession(string sessionId);

    /// <summary>Whether a request of the session is waiting.</summary>
    bool HasQueued(string sessionId);

    /// <summary>Requests waiting now.</summary>
    int NumWaiting { get; }
}

using Synera.Abstractions;
using Synera.Grains.Options;

namespace Synera.Grains.Verification;

/// <summary>
/// Verification-aware continuous batching. Each step takes, among the head requests of all sessions, those
/// with the least slack first (deadline = arrival + the device's latency target), then the shortest spans,
/// until the step's token budget is spent. Invariant: a session contributes at most its head request to a
/// step, so its requests are verified in the order sent. Idle sessions have no queue and cost nothing. Admission: at
/// most <see cref="VerifierOptions.MaxQueuedRequests"/> wait in all, and at most
/// <see cref="VerifierOptions.MaxQueuedSpansPerDevice"/> of one device (over all its sessions).
/// </summary>
public sealed class ContinuousBatchScheduler(VerifierOptions options) : IBatchScheduler
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Queue<EngineRequest>> queues = [];
    private readonly Dictionary<string, int> waitingByDevice = [];   // a quota: one device must not fill the shared queue
    private int numWaiting;

    public int NumWaiting { get { lock (gate) return numWaiting; } }

    public bool HasQueued(string sessionId)
    {
        lock (gate) return queues.ContainsKey(sessionId);
    }

    public bool TryAdd(EngineRequest request, bool force = false)
    {
        lock (gate)
        {
            // Continuations of cloud-side generation were admitted once already; never refuse them midway.
            if (!force && numWaiting >= options.MaxQueuedRequests) return false;
            var device = DeviceIdentity.DeviceOfSession(request.SessionId);
            waitingByDevice.TryGetValue(device, out var deviceWaiting);
            if (!force && deviceWaiting >= options.MaxQueuedSpansPerDevice) return false;
            if (!queues.TryGetValue(request.SessionId, out var queue)) queues[request.SessionId] = queue = new Queue<EngineRequest>();
            queue.Enqueue(request);
            numWaiting++;
            waitingByDevice[device] = deviceWaiting + 1;
            return true;
        }
    }

    public SchedulerOutput Schedule(long nowTimestamp, Func<EngineRequest, int> cost, int maxRequests = int.MaxValue)
    {
        lock (gate)
        {
            if (numWaiting == 0) return SchedulerOutput.Empty;
            var heads = queues.Values.Select(q => q.Peek())
                .OrderBy(r => r.SlackMs(nowTimestamp))
                .ThenBy(r => r.Request.NumTokens)
                .ToList();
            var chosen = new List<EngineRequest>();
            int tokens = 0;
            foreach (var head in heads)
            {
                if (chosen.Count >= maxRequests) break;
                var c = cost(head);
                if (chosen.Count > 0 && tokens + c > options.MaxTokensPerStep) continue;
                chosen.Add(head);
                tokens += c;
            }
            foreach (var r in chosen) Dequeue(r.SessionId);
            return new SchedulerOutput(chosen, tokens);
        }
    }

    public IReadOnlyList<EngineRequest> RemoveSession(string sessionId)
    {
        lock (gate)
        {
            if (!queues.Remove(sessionId, out var queue)) return [];
            numWaiting -= queue.Count;
            Uncount(sessionId, queue.Count);
            return [.. queue];
        }
    }

    private void Dequeue(string sessionId)
    {
        var queue = queues[sessionId];
        queue.Dequeue();
        numWaiting--;
        Uncount(sessionId, 1);
        if (queue.Count == 0) queues.Remove(sessionId);
    }

    private void Uncount(string sessionId, int n)
    {
        var device = DeviceIdentity.DeviceOfSession(sessionId);
        if (!waitingByDevice.TryGetValue(device, out var waiting)) return;
        if (waiting <= n) waitingByDevice.Remove(device);
        else waitingByDevice[device] = waiting - n;
    }
}

namespace Synera.Grains;

/// <summary>
/// Collects calls bound for one grain and makes them one call: each caller adds its item and awaits its own result.
/// <see cref="SendSoon"/> queues the send on the thread pool; every item added before that work item runs goes with it.
/// No timer: callers that come in a burst (one engine step's verdicts, session grains' spans under load) travel together
/// without waiting for one another, and a lone call goes at once. Sends do not wait for each other, so a batch held up
/// (a slow session grain behind a relay) holds up no later one.
/// </summary>
internal sealed class CallBatcher<TItem, TResult>(Func<TItem[], Task<TResult[]>> send)
{
    private readonly Lock gate = new();
    private List<(TItem Item, TaskCompletionSource<TResult> Result)> pending = [];
    private bool sendQueued;
    private long calls, items;

    /// <summary>Calls sent and the items they carried.</summary>
    public (long Calls, long Items) Sent => (Interlocked.Read(ref calls), Interlocked.Read(ref items));

    /// <summary>Calls sent and items carried by all of <paramref name="batchers"/> (one per destination).</summary>
    public static (long Calls, long Items) Total(IEnumerable<CallBatcher<TItem, TResult>> batchers)
    {
        long calls = 0, items = 0;
        foreach (var batcher in batchers) { var (c, i) = batcher.Sent; calls += c; items += i; }
        return (calls, items);
    }

    /// <summary>Adds an item to the next batch; the caller decides when it goes (<see cref="SendSoon"/>).</summary>
    public Task<TResult> Add(TItem item)
    {
        var result = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (gate) pending.Add((item, result));
        return result.Task;
    }

    /// <summary>Queues a send of everything pending, unless one is queued already.</summary>
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
        List<(TItem Item, TaskCompletionSource<TResult> Result)> batch;
        lock (gate) (batch, pending, sendQueued) = (pending, [], false);
        if (batch.Count == 0) return;
        Interlocked.Increment(ref calls);
        Interlocked.Add(ref items, batch.Count);
        try
        {
            var results = await send([.. batch.Select(b => b.Item)]);
            if (results.Length != batch.Count) throw new InvalidOperationException($"{results.Length} results for a batch of {batch.Count}");
            for (int i = 0; i < batch.Count; i++) batch[i].Result.TrySetResult(results[i]);
        }
        catch (Exception e)
        {
            foreach (var (_, result) in batch) result.TrySetException(e);
        }
    }
}

using static TorchSharp.torch;

namespace Synera.Grains.Verification;

/// <summary>
/// Holds each session's LLM KV cache (per layer K and V, (1, nkv, L, hs)) for its committed prefix, under a
/// memory budget. Least recently used sessions are evicted when the budget is exceeded; an evicted session
/// is rebuilt by re-prefilling its committed tokens (the engine sees a cached length of 0). Used only on the
/// engine thread.
/// </summary>
public sealed class KvCacheManager(long budgetBytes) : IDisposable
{
    private sealed class Entry(Tensor[] keys, Tensor[] values, int length)
    {
        public Tensor[] Keys = keys;
        public Tensor[] Values = values;
        public int Length = length;
        public long Bytes => Keys.Sum(k => k.NumberOfElements) * 2 * 4;
        public LinkedListNode<string>? Node;
        public void Dispose() { foreach (var t in Keys.Concat(Values)) t.Dispose(); }
    }

    private readonly Dictionary<string, Entry> entries = [];
    private readonly LinkedList<string> lru = new();   // front = most recently used

    public long UsedBytes { get; private set; }
    public long NumEvictions { get; private set; }
    public int NumResident => entries.Count;

    /// <summary>Tokens of the session whose K/V are resident (0 when unknown or evicted).</summary>
    public int CachedLength(string sessionId) => entries.TryGetValue(sessionId, out var e) ? e.Length : 0;

    /// <summary>The resident K/V per layer, or null. Marks the session as recently used.</summary>
    public (Tensor[] keys, Tensor[] values)? Get(string sessionId)
    {
        if (!entries.TryGetValue(sessionId, out var e)) return null;
        Touch(sessionId, e);
        return (e.Keys, e.Values);
    }

    /// <summary>Replaces the session's cache with <paramref name="keys"/>/<paramref name="values"/> (ownership moves here).</summary>
    public void Store(string sessionId, Tensor[] keys, Tensor[] values)
    {
        Remove(sessionId, countEviction: false);
        var e = new Entry(keys, values, (int)keys[0].shape[2]);
        foreach (var t in keys.Concat(values)) t.DetachFromDisposeScope();
        entries[sessionId] = e;
        UsedBytes += e.Bytes;
        Touch(sessionId, e);
    }

    /// <summary>Keeps only the first <paramref name="length"/> positions (rollback after a rejection).</summary>
    public void Truncate(string sessionId, int length)
    {
        if (!entries.TryGetValue(sessionId, out var e) || length >= e.Length) return;
        if (length <= 0) { Remove(sessionId, countEviction: false); return; }
        UsedBytes -= e.Bytes;
        e.Keys = Narrow(e.Keys, length);
        e.Values = Narrow(e.Values, length);
        e.Length = length;
        UsedBytes += e.Bytes;
    }

    private static Tensor[] Narrow(Tensor[] tensors, int length)
    {
        var result = tensors.Select(t => t.narrow(2, 0, length).contiguous().DetachFromDisposeScope()).ToArray();
        foreach (var t in tensors) t.Dispose();
        return result;
    }

    /// <summary>Frees the session's cache (session closed).</summary>
    public void Release(string sessionId) => Remove(sessionId, countEviction: false);

    /// <summary>Forces eviction of one session (tests, failover drills).</summary>
    public void Evict(string sessionId) => Remove(sessionId, countEviction: true);

    /// <summary>Evicts least recently used sessions, except <paramref name="pinned"/>, until within budget.</summary>
    public int EvictToBudget(IReadOnlySet<string> pinned)
    {
        int evicted = 0;
        var node = lru.Last;
        while (UsedBytes > budgetBytes && node is not null)
        {
            var previous = node.Previous;
            if (!pinned.Contains(node.Value)) { Remove(node.Value, countEviction: true); evicted++; }
            node = previous;
        }
        return evicted;
    }

    private void Touch(string sessionId, Entry e)
    {
        if (e.Node is not null) lru.Remove(e.Node);
        e.Node = lru.AddFirst(sessionId);
    }

    private void Remove(string sessionId, bool countEviction)
    {
        if (!entries.Remove(sessionId, out var e)) return;
        UsedBytes -= e.Bytes;
        if (e.Node is not null) lru.Remove(e.Node);
        e.Dispose();
        if (countEviction) NumEvictions++;
    }

    public void Dispose()
    {
        foreach (var e in entries.Values) e.Dispose();
        entries.Clear();
        lru.Clear();
        UsedBytes = 0;
    }
}

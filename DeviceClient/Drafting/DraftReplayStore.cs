using System.Collections.Concurrent;

namespace Synera.DeviceClient.Drafting;

/// <summary>
/// Logits of the draft model by context, filled by real ONNX runs and read back instead of running the model again.
/// With greedy decoding a draft model's next-token logits are a function of the context alone, so a replay is exact;
/// what it saves is the device's CPU. A load benchmark uses it so that a thousand simulated phones do not take the
/// cores of the cloud they are loading. A context never seen runs the real model (counted as a miss) and is kept.
/// </summary>
public sealed class DraftReplayStore
{
    private readonly ConcurrentDictionary<ContextKey, float[]> rows = new();
    private long hits, misses;

    /// <summary>False while filling (every forward runs the model and is kept); true to answer from the store.</summary>
    public bool Replaying { get; set; }

    public int Count => rows.Count;
    public long Hits => Interlocked.Read(ref hits);
    public long Misses => Interlocked.Read(ref misses);

    public void ResetCounters() { Interlocked.Exchange(ref hits, 0); Interlocked.Exchange(ref misses, 0); }

    internal bool TryReplay(ContextKey key, Span<float> destination)
    {
        if (!Replaying) return false;
        if (!rows.TryGetValue(key, out var row)) { Interlocked.Increment(ref misses); return false; }
        Interlocked.Increment(ref hits);
        row.CopyTo(destination);
        return true;
    }

    internal void Keep(ContextKey key, ReadOnlySpan<float> row) => rows.TryAdd(key, row.ToArray());
}

/// <summary>A context (every token id from the start) as two independent 64-bit polynomial hashes and its length:
/// one is extended a token at a time, so a lookup costs nothing per cached token.</summary>
internal readonly record struct ContextKey(ulong A, ulong B, int Length)
{
    public static readonly ContextKey Empty = new(0, 0, 0);

    public ContextKey Append(int token) =>
        new(A * 1_000_003UL + (ulong)(token + 1), (B ^ (ulong)(token + 1)) * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL, Length + 1);
}

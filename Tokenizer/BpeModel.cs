using System.Text;
using System.Text.Json.Nodes;

namespace Synera.Tokenizer;

/// <summary>
/// The BPE model of a Hugging Face <c>tokenizer.json</c> (<c>model.type = "BPE"</c>), as the Rust tokenizers library
/// runs it (<c>models/bpe/word.rs</c>): a word starts as one symbol per character (a character missing from the vocab
/// becomes its UTF-8 bytes as <c>&lt;0xXX&gt;</c> tokens under <c>byte_fallback</c>, else the unknown token, fused
/// when <c>fuse_unk</c>), then the pair of neighbours with the lowest merge rank is merged, leftmost first, until no
/// pair has a merge. <c>ignore_merges</c> (Llama 3) takes a word that is itself in the vocab as one token.
/// </summary>
public sealed class BpeModel
{
    private readonly Dictionary<string, int> vocab;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> merges;
    private readonly int unkId;
    private readonly bool byteFallback, fuseUnknown, ignoreMerges;
    private readonly int[]? byteTokens;                        // byte b → id of "<0xBB>", under byte_fallback
    private readonly Dictionary<string, int[]> cache = new(StringComparer.Ordinal);
    private const int MaxCacheEntries = 100_000, MaxCachedWordLength = 256;

    public IReadOnlyDictionary<string, int> Vocab => vocab;
    public IReadOnlyList<(string Left, string Right)> MergeList { get; }

    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> mergeList, string? unkToken = null,
        bool byteFallback = false, bool fuseUnknown = false, bool ignoreMerges = false)
    {
        this.vocab = vocab;
        MergeList = mergeList;
        this.byteFallback = byteFallback; this.fuseUnknown = fuseUnknown; this.ignoreMerges = ignoreMerges;
        unkId = unkToken is not null && vocab.TryGetValue(unkToken, out var u) ? u : -1;
        merges = new(mergeList.Count);
        for (int rank = 0; rank < mergeList.Count; rank++)
        {
            var (l, r) = mergeList[rank];
            if (!vocab.TryGetValue(l, out var li) || !vocab.TryGetValue(r, out var ri))
                throw new InvalidDataException($"merge {rank} '{l} {r}': a side is not in the vocab");
            if (!vocab.TryGetValue(l + r, out var merged))
                throw new InvalidDataException($"merge {rank} '{l} {r}': '{l + r}' is not in the vocab");
            merges.TryAdd((li, ri), (rank, merged));     // the first (lowest) rank of a repeated pair wins, as in HF
        }
        if (byteFallback)
        {
            byteTokens = new int[256];
            for (int b = 0; b < 256; b++) byteTokens[b] = vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
        }
    }

    /// <summary>Reads the <c>model</c> object of a tokenizer.json; options HF has and this model lacks are refused by name.</summary>
    public static BpeModel FromJson(JsonObject model, string source)
    {
        var vocab = (model["vocab"] as JsonObject ?? throw new InvalidDataException($"{source}: BPE model has no vocab"))
            .ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>(), StringComparer.Ordinal);
        var merges = new List<(string, string)>();
        foreach (var m in model["merges"]?.AsArray() ?? [])
        {
            if (m is JsonArray pair) merges.Add((pair[0]!.GetValue<string>(), pair[1]!.GetValue<string>()));
            else
            {
                var s = m!.GetValue<string>();
                int space = s.IndexOf(' ', 1);   // the older "a b" form; a side never holds a space (they are byte-mapped)
                if (space < 0) throw new InvalidDataException($"{source}: merge '{s}' is not two tokens");
                merges.Add((s[..space], s[(space + 1)..]));
            }
        }
        foreach (var key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model[key]?.GetValue<string>() is { Length: > 0 } value)
                throw new InvalidDataException($"{source}: BPE {key} '{value}' is not supported");
        if (model["dropout"] is JsonValue d && d.GetValue<double>() is > 0 and < 1)
            throw new InvalidDataException($"{source}: BPE dropout is not supported (tokenization must be deterministic)");
        return new BpeModel(vocab, merges, model["unk_token"]?.GetValue<string>(),
            model["byte_fallback"]?.GetValue<bool>() ?? false, model["fuse_unk"]?.GetValue<bool>() ?? false,
            model["ignore_merges"]?.GetValue<bool>() ?? false);
    }

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void Tokenize(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        if (ignoreMerges && vocab.TryGetValue(word, out var whole)) { ids.Add(whole); return; }
        if (cache.TryGetValue(word, out var cached)) { ids.AddRange(cached); return; }
        var result = Merge(word);
        if (word.Length <= MaxCachedWordLength)
        {
            if (cache.Count >= MaxCacheEntries) cache.Clear();
            cache[word] = result;
        }
        ids.AddRange(result);
    }

    private int[] Merge(string word)
    {
        var symbols = InitialSymbols(word);
        int n = symbols.Count;
        if (n < 2) return [.. symbols];
        // Symbols as a doubly linked list over an array; a merge joins a symbol with its right neighbour in place.
        var id = symbols.ToArray();
        var prev = new int[n]; var next = new int[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
        // Candidate merges by (rank, position): HF's priority queue. A popped candidate is stale when either side has
        // changed since it was queued; the check compares the ids it was queued with.
        var queue = new PriorityQueue<(int Pos, int Left, int Right, int Merged), (int Rank, int Pos)>();
        void Enqueue(int pos)
        {
            int r = next[pos];
            if (r >= 0 && merges.TryGetValue((id[pos], id[r]), out var m)) queue.Enqueue((pos, id[pos], id[r], m.Merged), (m.Rank, pos));
        }
        for (int i = 0; i < n - 1; i++) Enqueue(i);
        while (queue.TryDequeue(out var c, out _))
        {
            int r = next[c.Pos];
            if (id[c.Pos] != c.Left || r < 0 || id[r] != c.Right) continue;
            id[c.Pos] = c.Merged;
            id[r] = -1;
            next[c.Pos] = next[r];
            if (next[r] >= 0) prev[next[r]] = c.Pos;
            if (prev[c.Pos] >= 0) Enqueue(prev[c.Pos]);
            Enqueue(c.Pos);
        }
        var result = new List<int>(n);
        for (int i = 0; i >= 0; i = next[i]) result.Add(id[i]);
        return [.. result];
    }

    /// <summary>One symbol per character; a character outside the vocab becomes byte tokens or the unknown token.</summary>
    private List<int> InitialSymbols(string word)
    {
        var symbols = new List<int>(word.Length);
        Span<byte> utf8 = stackalloc byte[4];
        bool lastWasUnk = false;
        foreach (var rune in word.EnumerateRunes())
        {
            var text = rune.ToString();
            if (vocab.TryGetValue(text, out var tid)) { symbols.Add(tid); lastWasUnk = false; continue; }
            if (byteTokens is not null)
            {
                int len = rune.EncodeToUtf8(utf8);
                bool all = true;
                for (int b = 0; b < len; b++) all &= byteTokens[utf8[b]] >= 0;
                if (all)
                {
                    for (int b = 0; b < len; b++) symbols.Add(byteTokens[utf8[b]]);
                    lastWasUnk = false;
                    continue;
                }
            }
            if (unkId < 0) throw new InvalidDataException($"character U+{rune.Value:X4} is not in the vocab and the tokenizer has no unknown token");
            if (!(fuseUnknown && lastWasUnk)) symbols.Add(unkId);
            lastWasUnk = true;
        }
        return symbols;
    }
}

namespace Synera.Tokenizer;

/// <summary>
/// Turns an answer's tokens into text as they arrive, never emitting half a character: byte-level and byte-fallback
/// tokens can end inside a UTF-8 sequence, and a decoder can change how a token reads by what precedes it. Follows HF's
/// <c>DecodeStream</c>: decode the tokens since the last emitted boundary with and without the new one, and emit the
/// difference once the text no longer ends in U+FFFD. <see cref="Flush"/> emits what is held back at the end.
/// </summary>
public sealed class StreamingDetokenizer(SyneraTokenizer tokenizer)
{
    private readonly List<int> ids = [];
    private int prefixOffset, readOffset;

    /// <summary>The text that <paramref name="id"/> completes (often empty: a part of a character, a special token).</summary>
    public string Add(int id)
    {
        ids.Add(id);
        var (prefix, full) = Window();
        if (full.Length <= prefix.Length || full.EndsWith('\uFFFD')) return "";
        prefixOffset = readOffset;
        readOffset = ids.Count;
        return full[prefix.Length..];
    }

    /// <summary>What is still held back (e.g. an answer that ends in an invalid byte sequence).</summary>
    public string Flush()
    {
        var (prefix, full) = Window();
        prefixOffset = readOffset = ids.Count;
        return full.Length > prefix.Length ? full[prefix.Length..] : "";
    }

    /// <summary>The text emitted last (from the window's start to the read point) and the window's whole text.</summary>
    private (string Prefix, string Full) Window() =>
        (tokenizer.Decode(ids.Skip(prefixOffset).Take(readOffset - prefixOffset)), tokenizer.Decode(ids.Skip(prefixOffset)));
}

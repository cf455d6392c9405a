using System.Text.Json.Nodes;

namespace Synera.Tokenizer;

/// <summary>One entry of a tokenizer.json's <c>added_tokens</c>.</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool LeftStrip = false, bool RightStrip = false,
    bool Normalized = false, bool SingleWord = false);

/// <summary>
/// Finds added tokens in text before anything else runs (HF's <c>AddedVocabulary</c>): typed special tokens such as
/// <c>&lt;|im_end|&gt;</c> are one token each, never split by BPE. Matching is leftmost-longest over a trie of the
/// tokens' characters; <c>lstrip</c>/<c>rstrip</c> take the whitespace beside a match into it, <c>single_word</c>
/// matches only between non-word characters. Tokens with <c>normalized</c> match the normalized text, the others the
/// raw text.
/// </summary>
public sealed class AddedVocabulary
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Next;
        public AddedToken? Token;
    }

    private readonly Node rawRoot = new(), normalizedRoot = new();

    public IReadOnlyList<AddedToken> Tokens { get; }

    public AddedVocabulary(IReadOnlyList<AddedToken> tokens, Func<string, string>? normalizer)
    {
        Tokens = tokens;
        foreach (var t in tokens)
        {
            if (t.Content.Length == 0) continue;
            var key = t.Normalized && normalizer is not null ? normalizer(t.Content) : t.Content;
            var node = t.Normalized ? normalizedRoot : rawRoot;
            foreach (var c in key) node = (node.Next ??= [])[c] = node.Next.GetValueOrDefault(c) ?? new Node();
            node.Token = t;
        }
    }

    public static AddedVocabulary FromJson(JsonArray? added, Func<string, string>? normalizer) =>
        new((added ?? []).Select(a => new AddedToken(a!["id"]!.GetValue<int>(), a["content"]!.GetValue<string>(),
            a["special"]?.GetValue<bool>() ?? false, a["lstrip"]?.GetValue<bool>() ?? false, a["rstrip"]?.GetValue<bool>() ?? false,
            a["normalized"]?.GetValue<bool>() ?? false, a["single_word"]?.GetValue<bool>() ?? false)).ToList(), normalizer);

    /// <summary>Cuts <paramref name="text"/> into added tokens (id ≥ 0) and the text between them (id −1).</summary>
    public List<(string Text, int Id)> SplitRaw(string text) => Split(text, rawRoot);

    /// <summary>The same on normalized text, for tokens marked <c>normalized</c>.</summary>
    public List<(string Text, int Id)> SplitNormalized(string text) => Split(text, normalizedRoot);

    private static List<(string, int)> Split(string text, Node root)
    {
        var pieces = new List<(string, int)>();
        if (root.Next is null) { if (text.Length > 0) pieces.Add((text, -1)); return pieces; }
        int gapStart = 0;
        for (int i = 0; i < text.Length;)
        {
            var (token, length) = LongestAt(text, i, root);
            if (token is null) { i++; continue; }
            int start = i, end = i + length;
            if (token.LeftStrip) while (start > gapStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (token.RightStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            if (start > gapStart) pieces.Add((text[gapStart..start], -1));
            pieces.Add((text[start..end], token.Id));
            i = gapStart = end;
        }
        if (gapStart < text.Length) pieces.Add((text[gapStart..], -1));
        return pieces;
    }

    private static (AddedToken? Token, int Length) LongestAt(string text, int start, Node root)
    {
        (AddedToken?, int) best = (null, 0);
        var node = root;
        for (int j = start; j < text.Length && node.Next is not null && node.Next.TryGetValue(text[j], out var next); j++)
        {
            node = next;
            if (node.Token is { } t && (!t.SingleWord || IsWordBoundary(text, start, j + 1))) best = (t, j + 1 - start);
        }
        return best;
    }

    private static bool IsWordBoundary(string text, int start, int end) =>
        (start == 0 || !char.IsLetterOrDigit(text[start - 1])) && (end == text.Length || !char.IsLetterOrDigit(text[end]));
}

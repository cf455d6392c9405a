using System.Text;
using System.Text.Json.Nodes;

namespace Synera.Tokenizer;

/// <summary>
/// The <c>decoder</c> of a tokenizer.json: token strings → text, as HF's decode chain does it. <c>ByteLevel</c> (GPT-2
/// characters back to bytes), <c>Replace</c>, <c>ByteFallback</c> (<c>&lt;0xXX&gt;</c> runs back to UTF-8, U+FFFD per byte
/// of an invalid run), <c>Fuse</c>, <c>Strip</c>, <c>Metaspace</c> and <c>Sequence</c>; no decoder joins tokens with spaces,
/// as HF does.
/// </summary>
public static class TokenDecoders
{
    public static Func<List<string>, List<string>> FromJson(JsonNode? node, string source)
    {
        if (node is not JsonObject json) return tokens => [string.Join(' ', tokens)];
        var type = json["type"]?.GetValue<string>();
        switch (type)
        {
            case "Sequence":
                var steps = json["decoders"]!.AsArray().Select(d => FromJson(d, source)).ToList();
                return tokens => steps.Aggregate(tokens, (t, step) => step(t));
            case "ByteLevel":
                return tokens => [ByteLevel(tokens)];
            case "Replace":
                var replace = Normalizers.Replace(json, source);
                return tokens => tokens.Select(replace).ToList();
            case "ByteFallback":
                return ByteFallback;
            case "Fuse":
                return tokens => [string.Concat(tokens)];
            case "Strip":
                var content = json["content"]!.GetValue<string>()[0];
                int left = json["start"]?.GetValue<int>() ?? 0, right = json["stop"]?.GetValue<int>() ?? 0;
                return tokens => tokens.Select(t => Strip(t, content, left, right)).ToList();
            case "Metaspace":
                var replacement = json["replacement"]?.GetValue<string>() ?? "▁";
                var scheme = json["prepend_scheme"]?.GetValue<string>() ?? (json["add_prefix_space"]?.GetValue<bool>() == false ? "never" : "always");
                return tokens => tokens.Select((t, i) =>
                {
                    var s = t.Replace(replacement, " ");
                    return i == 0 && scheme != "never" && s.StartsWith(' ') ? s[1..] : s;
                }).ToList();
            default:
                throw new InvalidDataException($"{source}: decoder '{type}' is not supported");
        }
    }

    private static string ByteLevel(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens) bytes.AddRange(ByteLevelAlphabet.TryDecode(t) ?? Encoding.UTF8.GetBytes(t));
        return Encoding.UTF8.GetString([.. bytes]);
    }

    private static List<string> ByteFallback(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x") && t[5] == '>' && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out var b))
            {
                pending.Add(b);
                continue;
            }
            Flush();
            result.Add(t);
        }
        Flush();
        return result;

        void Flush()
        {
            if (pending.Count == 0) return;
            try { result.Add(StrictUtf8.GetString([.. pending])); }
            catch (DecoderFallbackException) { result.Add(new string('\uFFFD', pending.Count)); }
            pending.Clear();
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private static string Strip(string t, char c, int left, int right)
    {
        int start = 0, end = t.Length;
        while (start < left && start < end && t[start] == c) start++;
        while (t.Length - end < right && end > start && t[end - 1] == c) end--;
        return t[start..end];
    }
}

using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Synera.Tokenizer;

/// <summary>
/// The <c>pre_tokenizer</c> of a tokenizer.json: cuts normalized text into the words BPE runs on, each step applied to
/// every piece of the step before (HF's <c>Sequence</c>). <c>Split</c> (regex or literal, with HF's behaviours),
/// <c>ByteLevel</c> (UTF-8 bytes as GPT-2 characters, optionally with GPT-2's own regex), <c>Metaspace</c> and
/// <c>Digits</c> are supported; others are refused by name.
/// </summary>
public static class PreTokenizers
{
    /// <summary>GPT-2's split regex, which <c>ByteLevel</c> applies when <c>use_regex</c> is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static Func<string, IEnumerable<string>> FromJson(JsonNode? node, string source)
    {
        if (node is not JsonObject json) return s => [s];
        var type = json["type"]?.GetValue<string>();
        switch (type)
        {
            case "Sequence":
                var steps = json["pretokenizers"]!.AsArray().Select(p => FromJson(p, source)).ToList();
                return s => steps.Aggregate((IEnumerable<string>)[s], (pieces, step) => pieces.SelectMany(step));
            case "Split":
                if (json["invert"]?.GetValue<bool>() == true) throw new InvalidDataException($"{source}: Split with invert is not supported");
                var pattern = json["pattern"]!.AsObject();
                var regex = new UnicodeRegex(pattern["Regex"]?.GetValue<string>() ?? Regex.Escape(pattern["String"]!.GetValue<string>()));
                var behavior = json["behavior"]?.GetValue<string>() ?? "Isolated";
                if (behavior is not ("Isolated" or "Removed" or "MergedWithPrevious" or "MergedWithNext"))
                    throw new InvalidDataException($"{source}: Split behavior '{behavior}' is not supported");
                return s => Split(s, regex, behavior);
            case "ByteLevel":
                bool prefix = json["add_prefix_space"]?.GetValue<bool>() ?? false;
                var gpt2 = json["use_regex"]?.GetValue<bool>() ?? true ? new UnicodeRegex(Gpt2Pattern) : null;
                return s =>
                {
                    if (prefix && !s.StartsWith(' ')) s = " " + s;
                    return (gpt2 is null ? [s] : Split(s, gpt2, "Isolated")).Select(ByteLevelAlphabet.Encode);
                };
            case "Metaspace":
                var replacement = json["replacement"]?.GetValue<string>() ?? "▁";
                var scheme = json["prepend_scheme"]?.GetValue<string>() ?? (json["add_prefix_space"]?.GetValue<bool>() == false ? "never" : "always");
                bool split = json["split"]?.GetValue<bool>() ?? true;
                var splitter = new UnicodeRegex(Regex.Escape(replacement));
                return s =>
                {
                    s = s.Replace(" ", replacement);
                    if (scheme is "always" or "first" && !s.StartsWith(replacement)) s = replacement + s;
                    return split ? Split(s, splitter, "MergedWithNext") : [s];
                };
            case "Digits":
                var digits = new UnicodeRegex(json["individual_digits"]?.GetValue<bool>() == true ? @"\p{N}" : @"\p{N}+");
                return s => Split(s, digits, "Isolated");
            default:
                throw new InvalidDataException($"{source}: pre-tokenizer '{type}' is not supported");
        }
    }

    /// <summary>HF's split behaviours: a match is its own piece (Isolated), dropped (Removed), or joined to the text
    /// right before it (MergedWithPrevious) or right after it (MergedWithNext).</summary>
    private static List<string> Split(string s, UnicodeRegex regex, string behavior)
    {
        var pieces = new List<string>();
        bool previousWasMatch = false, previousWasGap = false;
        int last = 0;
        foreach (var (start, length) in regex.Matches(s))
        {
            Segment(s[last..start], false);
            Segment(s.Substring(start, length), true);
            last = start + length;
        }
        Segment(s[last..], false);
        return pieces;

        void Segment(string text, bool isMatch)
        {
            if (text.Length == 0) return;
            bool join = behavior switch
            {
                "MergedWithPrevious" => isMatch && previousWasGap,
                "MergedWithNext" => !isMatch && previousWasMatch,
                _ => false,
            };
            if (join) pieces[^1] += text;
            else if (!(isMatch && behavior == "Removed")) pieces.Add(text);
            previousWasMatch = isMatch; previousWasGap = !isMatch;
        }
    }
}

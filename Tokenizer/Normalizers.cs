using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Synera.Tokenizer;

/// <summary>
/// The <c>normalizer</c> of a tokenizer.json as a function on text: Unicode forms (NFC, NFKC, …), <c>Replace</c>
/// (Gemma: space → ▁), <c>Prepend</c>, <c>Lowercase</c> and <c>Sequence</c>. Others are refused by name.
/// </summary>
public static class Normalizers
{
    public static Func<string, string>? FromJson(JsonNode? node, string source)
    {
        if (node is not JsonObject json) return null;
        var type = json["type"]?.GetValue<string>();
        return type switch
        {
            "NFC" => s => s.Normalize(NormalizationForm.FormC),
            "NFD" => s => s.Normalize(NormalizationForm.FormD),
            "NFKC" => s => s.Normalize(NormalizationForm.FormKC),
            "NFKD" => s => s.Normalize(NormalizationForm.FormKD),
            "Lowercase" => s => s.ToLowerInvariant(),
            "Prepend" => Prepend(json["prepend"]!.GetValue<string>()),
            "Replace" => Replace(json, source),
            "Sequence" => Chain(json["normalizers"]!.AsArray().Select(n => FromJson(n, source)).OfType<Func<string, string>>().ToList()),
            _ => throw new InvalidDataException($"{source}: normalizer '{type}' is not supported"),
        };
    }

    private static Func<string, string> Prepend(string prefix) => s => s.Length == 0 ? s : prefix + s;

    /// <summary>HF <c>Replace</c>: a literal string or a regex, every occurrence.</summary>
    internal static Func<string, string> Replace(JsonObject json, string source)
    {
        var content = json["content"]!.GetValue<string>();
        var pattern = json["pattern"]!.AsObject();
        if (pattern["String"]?.GetValue<string>() is string literal) return s => s.Replace(literal, content, StringComparison.Ordinal);
        if (pattern["Regex"]?.GetValue<string>() is string regex)
        {
            var r = new Regex(regex, RegexOptions.CultureInvariant);
            return s => r.Replace(s, content.Replace("$", "$$"));
        }
        throw new InvalidDataException($"{source}: Replace without a String or Regex pattern");
    }

    private static Func<string, string> Chain(List<Func<string, string>> steps) => s =>
    {
        foreach (var step in steps) s = step(s);
        return s;
    };
}

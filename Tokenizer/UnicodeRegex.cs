using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Synera.Tokenizer;

/// <summary>
/// A pre-tokenizer regex (HF runs them with Oniguruma, over code points) on .NET's regex engine, which matches UTF-16
/// code units: there a character outside the BMP is two surrogates, neither of them <c>\p{L}</c> or <c>\p{N}</c>, so
/// <c>𝐀bc</c> would split differently. Before matching, each such character is replaced by one BMP stand-in of the same
/// class for these patterns (a letter by a CJK letter, a number by an Arabic-Indic digit, anything else by a symbol);
/// the match boundaries are mapped back to the original text.
/// </summary>
public sealed class UnicodeRegex(string pattern)
{
    private readonly Regex regex = new(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);

    /// <summary>The (start, length) of every match, in <paramref name="text"/>'s own indices.</summary>
    public IEnumerable<(int Start, int Length)> Matches(string text)
    {
        if (!HasSurrogates(text))
        {
            foreach (Match m in regex.Matches(text)) if (m.Length > 0) yield return (m.Index, m.Length);
            yield break;
        }
        // stand-in index → original index (one more entry for the end)
        var mapped = new StringBuilder(text.Length);
        var origin = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i++)
        {
            origin.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                mapped.Append(StandIn(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))));
                i++;
            }
            else mapped.Append(text[i]);
        }
        origin.Add(text.Length);
        foreach (Match m in regex.Matches(mapped.ToString()))
            if (m.Length > 0) yield return (origin[m.Index], origin[m.Index + m.Length] - origin[m.Index]);
    }

    private static bool HasSurrogates(string text)
    {
        foreach (var c in text) if (char.IsSurrogate(c)) return true;
        return false;
    }

    private static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => '\u4E00',
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => '\u0660',
        _ => '\u2603',
    };
}

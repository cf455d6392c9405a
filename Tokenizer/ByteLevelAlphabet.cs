namespace Synera.Tokenizer;

/// <summary>
/// GPT-2's byte-to-character map (<c>bytes_to_unicode</c>), which byte-level BPE (GPT-2, Llama 3, Qwen) tokenizes in:
/// the printable bytes stand for themselves, the other 68 (space, control bytes, …) for characters from U+0100 on, so
/// a space reads <c>Ġ</c> and a newline <c>Ċ</c> in the vocab.
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = new char[256];
    private static readonly Dictionary<char, byte> CharToByte = new(256);

    static ByteLevelAlphabet()
    {
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            ByteToChar[b] = printable ? (char)b : (char)(256 + extra++);
            CharToByte[ByteToChar[b]] = (byte)b;
        }
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/>, each written as its byte-level character.</summary>
    public static string Encode(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, (chars, b) => { for (int i = 0; i < b.Length; i++) chars[i] = ByteToChar[b[i]]; });
    }

    /// <summary>The bytes a token's characters stand for, or null when a character is outside the alphabet
    /// (an added token such as <c>&lt;|im_end|&gt;</c> written in plain text is then its own UTF-8, as in HF).</summary>
    public static byte[]? TryDecode(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
            if (!CharToByte.TryGetValue(token[i], out bytes[i])) return null;
        return bytes;
    }
}

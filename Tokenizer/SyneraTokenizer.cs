using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace Synera.Tokenizer;

/// <summary>
/// The tokenizer both models share, stored as a Hugging Face <c>tokenizer.json</c> (model type BPE) and run by
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>. Our own models use a character vocabulary (BPE with
/// no merges) because they are small; a real BPE tokenizer.json with merges loads through the same code.
/// </summary>
public sealed class SyneraTokenizer
{
    public const string PadToken = "<pad>", BosToken = "<bos>", EosToken = "<eos>", UnkToken = "<unk>";

    private readonly BpeTokenizer bpe;
    private readonly Dictionary<string, int> vocab;
    private readonly string[] merges;
    private readonly Dictionary<string, int> specials;
    private readonly string?[] idToToken;
    private readonly string? splitPattern;

    /// <summary>HF "Split" pre-tokenizer pattern of the character vocabulary: every character is its own piece,
    /// so spaces and newlines are tokens (BpeTokenizer's default pre-tokenizer would drop whitespace).</summary>
    public const string CharSplitPattern = "(?s).";

    private SyneraTokenizer(Dictionary<string, int> vocab, string[] merges, Dictionary<string, int> specials, string? splitPattern)
    {
        this.vocab = vocab; this.merges = merges; this.specials = specials; this.splitPattern = splitPattern;
        bpe = BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges,
            SpecialTokens = specials,
            PreTokenizer = splitPattern is null ? null : new RegexPreTokenizer(new System.Text.RegularExpressions.Regex(splitPattern), specials),
            UnknownToken = vocab.ContainsKey(UnkToken) ? UnkToken : null,
        });
        VocabSize = vocab.Values.Concat(specials.Values).Max() + 1;
        idToToken = new string?[VocabSize];
        foreach (var (tok, id) in vocab.Concat(specials)) idToToken[id] = tok;
        PadId = specials.GetValueOrDefault(PadToken, 0);
        BosId = specials.GetValueOrDefault(BosToken, -1);
        EosId = specials.GetValueOrDefault(EosToken, -1);
    }

    public int VocabSize { get; }
    public int PadId { get; }
    public int BosId { get; }
    public int EosId { get; }

    /// <summary>Character vocabulary: four specials, newline, then printable ASCII.</summary>
    public static SyneraTokenizer CreateCharLevel()
    {
        var specials = new Dictionary<string, int> { [PadToken] = 0, [BosToken] = 1, [EosToken] = 2, [UnkToken] = 3 };
        var vocab = new Dictionary<string, int>(specials) { ["\n"] = 4 };
        for (char c = ' '; c <= '~'; c++) vocab[c.ToString()] = vocab.Count;
        return new SyneraTokenizer(vocab, [], specials, CharSplitPattern);
    }

    /// <summary>Encodes text (no special tokens are added).</summary>
    public int[] Encode(string text) => bpe.EncodeToIds(text).ToArray();

    /// <summary>What the models see before they answer <paramref name="prompt"/>: BOS, then the chat turn.</summary>
    public int[] EncodeChatPrompt(string prompt) => [BosId, .. Encode(ChatTemplate.Format(prompt))];

    /// <summary>BOS + a whole conversation in the chat format, up to the assistant's cue.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatTurn> turns) => [BosId, .. Encode(ChatTemplate.Format(turns))];

    /// <summary>Decodes ids, dropping special tokens.</summary>
    public string Decode(IEnumerable<int> ids) => bpe.Decode(ids.Where(i => !IsSpecial(i)), considerSpecialTokens: false);

    /// <summary>The text of one token (for streaming), empty for special tokens.</summary>
    public string TokenText(int id) => id >= 0 && id < idToToken.Length && !IsSpecial(id) ? bpe.Decode([id]) : "";

    public bool IsSpecial(int id) => specials.ContainsValue(id);

    /// <summary>Loads a Hugging Face tokenizer.json whose model is BPE.</summary>
    public static SyneraTokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer not found: {path}", path);
        var root = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: not a JSON object");
        var model = root["model"]?.AsObject() ?? throw new InvalidDataException($"{path}: no 'model' section");
        var type = model["type"]?.GetValue<string>();
        if (type != "BPE") throw new InvalidDataException($"{path}: tokenizer model type '{type}' is not supported (BPE only)");
        var vocab = model["vocab"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>());
        var merges = model["merges"]?.AsArray().Select(m => m is JsonArray pair ? $"{pair[0]} {pair[1]}" : m!.GetValue<string>()).ToArray() ?? [];
        var specials = new Dictionary<string, int>();
        foreach (var added in root["added_tokens"]?.AsArray() ?? [])
            if (added?["special"]?.GetValue<bool>() == true)
                specials[added["content"]!.GetValue<string>()] = added["id"]!.GetValue<int>();
        // A "Split" pre-tokenizer with a regex is kept; others fall back to the library default.
        var pre = root["pre_tokenizer"] as JsonObject;
        var pattern = pre?["type"]?.GetValue<string>() == "Split" ? pre["pattern"]?["Regex"]?.GetValue<string>() : null;
        return new SyneraTokenizer(vocab, merges, specials, pattern);
    }

    /// <summary>Writes tokenizer.json in the Hugging Face layout.</summary>
    public void Save(string path)
    {
        var added = new JsonArray(specials.OrderBy(s => s.Value).Select(s => (JsonNode)new JsonObject
        {
            ["id"] = s.Value, ["content"] = s.Key, ["single_word"] = false, ["lstrip"] = false,
            ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        }).ToArray());
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null, ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = splitPattern is null ? null : new JsonObject
            {
                ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = splitPattern },
                ["behavior"] = "Isolated", ["invert"] = false,
            }, ["post_processor"] = null, ["decoder"] = null,
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = UnkToken,
                ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false,
                ["vocab"] = new JsonObject(vocab.OrderBy(v => v.Value).Select(v => KeyValuePair.Create(v.Key, (JsonNode?)JsonValue.Create(v.Value)))),
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode?)JsonValue.Create(m)).ToArray()),
            },
        };
        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}

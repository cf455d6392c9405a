using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Synera.Tokenizer;

/// <summary>
/// The tokenizer a draft and its target share, read from a Hugging Face <c>tokenizer.json</c> and run as HF's
/// tokenizers library runs it: added tokens first (<see cref="AddedVocabulary"/>), then the normalizer, the
/// pre-tokenizer and the BPE model on the text between them; decoding through the file's decoder chain. Byte-level BPE
/// (Qwen2/2.5/3, Llama 3.x) and SentencePiece-style BPE with byte fallback (Gemma 3, Llama 2) both load; the shipped
/// pair's character vocabulary is BPE without merges. Beside <c>tokenizer.json</c>, <c>tokenizer_config.json</c> names
/// the BOS/EOS tokens and holds the chat template (or <c>chat_template.jinja</c> does).
/// </summary>
public sealed class SyneraTokenizer
{
    public const string PadToken = "<pad>", BosToken = "<bos>", EosToken = "<eos>", UnkToken = "<unk>";
    public const string TokenizerFile = "tokenizer.json", ConfigFile = "tokenizer_config.json", TemplateFile = "chat_template.jinja";

    private readonly BpeModel model;
    private readonly AddedVocabulary added;
    private readonly Func<string, string>? normalizer;
    private readonly Func<string, IEnumerable<string>> preTokenizer;
    private readonly Func<List<string>, List<string>> decoder;
    private readonly string?[] idToToken;
    private readonly HashSet<int> specialIds;
    private readonly HashSet<int> eosIds;
    private readonly JsonObject json;

    private SyneraTokenizer(JsonObject json, string source, JsonObject? config, string? template)
    {
        this.json = json;
        var modelJson = json["model"] as JsonObject ?? throw new InvalidDataException($"{source}: no 'model' section");
        var type = modelJson["type"]?.GetValue<string>();
        if (type != "BPE") throw new InvalidDataException($"{source}: tokenizer model type '{type}' is not supported (BPE only)");
        model = BpeModel.FromJson(modelJson, source);
        normalizer = Normalizers.FromJson(json["normalizer"], source);
        preTokenizer = PreTokenizers.FromJson(json["pre_tokenizer"], source);
        decoder = TokenDecoders.FromJson(json["decoder"], source);
        added = AddedVocabulary.FromJson(json["added_tokens"] as JsonArray, normalizer);

        VocabSize = Math.Max(model.Vocab.Values.DefaultIfEmpty(-1).Max(), added.Tokens.Select(t => t.Id).DefaultIfEmpty(-1).Max()) + 1;
        idToToken = new string?[VocabSize];
        foreach (var (tok, id) in model.Vocab) idToToken[id] = tok;
        foreach (var t in added.Tokens) idToToken[t.Id] = t.Content;
        specialIds = added.Tokens.Where(t => t.Special).Select(t => t.Id).ToHashSet();

        // BOS/EOS: tokenizer_config.json names them; the shipped pair has none and uses <bos>/<eos>.
        int Id(string? token) => token is not null && TokenId(token) is int id ? id : -1;
        BosId = config is null ? Id(BosToken) : Id(SpecialName(config["bos_token"]));
        eosIds = [];
        if ((config is null ? Id(EosToken) : Id(SpecialName(config["eos_token"]))) is >= 0 and var eos) eosIds.Add(eos);
        PadId = config is null ? Math.Max(Id(PadToken), 0) : Id(SpecialName(config["pad_token"]));
        Template = template is null ? BuiltInChatTemplate.Instance : new JinjaChatTemplate(template, config!);
        Fingerprint = ComputeFingerprint();
    }

    /// <summary>Rows the vocabulary needs (highest id + 1); a model may have more (padded) logit rows.</summary>
    public int VocabSize { get; }
    public int BosId { get; }
    public int PadId { get; }
    /// <summary>The first stop token (the tokenizer's own EOS), or −1.</summary>
    public int EosId => eosIds.Count == 0 ? -1 : eosIds.Min();
    /// <summary>Every token that ends an answer: the tokenizer's EOS and the model's <c>eos_token_id</c>s (<see cref="AddStopTokens"/>).</summary>
    public IReadOnlySet<int> EosIds => eosIds;
    public bool IsEos(int id) => eosIds.Contains(id);
    public IChatTemplate Template { get; }

    /// <summary>SHA-256 over the vocabulary, the merges and the added tokens: two tokenizers with the same fingerprint
    /// give every id the same meaning. Padded logit rows do not enter it.</summary>
    public string Fingerprint { get; }

    /// <summary>Adds the model's stop tokens (<c>eos_token_id</c> of config.json and generation_config.json, lists included).</summary>
    public void AddStopTokens(IEnumerable<int> ids)
    {
        foreach (var id in ids)
        {
            if (id < 0 || id >= VocabSize) throw new InvalidDataException($"eos_token_id {id} is outside the tokenizer's {VocabSize} tokens");
            eosIds.Add(id);
        }
    }

    // ---- encoding ------------------------------------------------------------------------------------------------

    /// <summary>Encodes text as HF's <c>encode(text, add_special_tokens=False)</c>: special tokens typed in the text are
    /// recognised, nothing is added.</summary>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        foreach (var (piece, id) in added.SplitRaw(text))
        {
            if (id >= 0) { ids.Add(id); continue; }
            var normalized = normalizer is null ? piece : normalizer(piece);
            foreach (var (part, partId) in added.SplitNormalized(normalized))
            {
                if (partId >= 0) { ids.Add(partId); continue; }
                foreach (var word in preTokenizer(part)) model.Tokenize(word, ids);
            }
        }
        return [.. ids];
    }

    /// <summary>A conversation that ends with a user turn, as the model sees it before answering: the chat template with
    /// the generation prompt (HF's <c>apply_chat_template(tokenize=True)</c>: the template writes BOS where it wants one).</summary>
    public int[] EncodeChat(IReadOnlyList<ChatTurn> turns)
    {
        ChatTemplate.Validate(turns);
        var text = Template.Render(turns, addGenerationPrompt: true);
        return Template.IsBuiltIn ? [BosId, .. Encode(text)] : Encode(text);
    }

    /// <summary>One user prompt through the chat template.</summary>
    public int[] EncodeChatPrompt(string prompt) => EncodeChat([new ChatTurn("user", prompt)]);

    // ---- decoding ------------------------------------------------------------------------------------------------

    /// <summary>Decodes ids through the decoder chain; special tokens are dropped unless asked for. Ids outside the
    /// vocabulary (padded rows) are an error.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        var tokens = new List<string>();
        foreach (var id in ids)
        {
            if (id < 0 || id >= VocabSize || idToToken[id] is not string token) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is not in the vocabulary");
            if (!(skipSpecialTokens && specialIds.Contains(id))) tokens.Add(token);
        }
        return tokens.Count == 0 ? "" : string.Concat(decoder(tokens));
    }

    /// <summary>The text of one token on its own (empty for special tokens), for per-token rules such as importance;
    /// streamed answers go through <see cref="NewStream"/>, which never splits a character.</summary>
    public string TokenText(int id) => id >= 0 && id < VocabSize && !specialIds.Contains(id) && idToToken[id] is not null ? Decode([id]) : "";

    /// <summary>A fresh detokenizer for one streamed answer.</summary>
    public StreamingDetokenizer NewStream() => new(this);

    public bool IsSpecial(int id) => specialIds.Contains(id);

    /// <summary>The id of a token by its text (an added token or a vocab entry), or null.</summary>
    public int? TokenId(string token) =>
        added.Tokens.FirstOrDefault(t => t.Content == token) is { } a ? a.Id : model.Vocab.TryGetValue(token, out var id) ? id : null;

    // ---- loading and saving -------------------------------------------------------------------------------------

    /// <summary>Character vocabulary of the shipped pair: four specials, newline, then printable ASCII.</summary>
    public static SyneraTokenizer CreateCharLevel()
    {
        var specials = new[] { PadToken, BosToken, EosToken, UnkToken };
        var vocab = new JsonObject();
        foreach (var s in specials) vocab[s] = vocab.Count;
        vocab["\n"] = vocab.Count;
        for (char c = ' '; c <= '~'; c++) vocab[c.ToString()] = vocab.Count;
        var json = new JsonObject
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null,
            ["added_tokens"] = new JsonArray(specials.Select((s, i) => (JsonNode)new JsonObject
            {
                ["id"] = i, ["content"] = s, ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            }).ToArray()),
            ["normalizer"] = null,
            // every character its own piece, so spaces and newlines are tokens
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = "(?s)." }, ["behavior"] = "Isolated", ["invert"] = false },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject { ["type"] = "Fuse" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = UnkToken, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = new JsonArray(),
            },
        };
        return new SyneraTokenizer(json, "char-level", null, null);
    }

    /// <summary>Loads <c>tokenizer.json</c> (a path to it, or the folder holding it) with the
    /// <c>tokenizer_config.json</c> and <c>chat_template.jinja</c> beside it.</summary>
    public static SyneraTokenizer Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, TokenizerFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer not found: {path}", path);
        var root = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: not a JSON object");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var configPath = Path.Combine(dir, ConfigFile);
        var config = File.Exists(configPath) ? JsonNode.Parse(File.ReadAllText(configPath))?.AsObject() : null;
        var templatePath = Path.Combine(dir, TemplateFile);
        var template = File.Exists(templatePath) ? File.ReadAllText(templatePath) : ReadTemplate(config, configPath);
        return new SyneraTokenizer(root, path, config, template);
    }

    /// <summary>
    /// A model folder's tokenizer with every stop token of the model: the tokenizer's EOS and the <c>eos_token_id</c>s of
    /// config.json, generation_config.json and genai_config.json (single ids or lists). Draft and target both stop on
    /// this set.
    /// </summary>
    public static SyneraTokenizer LoadForModel(string dir)
    {
        var tokenizer = Load(Path.Combine(dir, TokenizerFile));
        foreach (var (file, pick) in new (string, Func<JsonNode, JsonNode?>)[]
                 { ("config.json", j => j["eos_token_id"]), ("generation_config.json", j => j["eos_token_id"]), ("genai_config.json", j => j["model"]?["eos_token_id"]) })
        {
            var path = Path.Combine(dir, file);
            if (!File.Exists(path)) continue;
            var node = pick(JsonNode.Parse(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty"));
            tokenizer.AddStopTokens(ReadTokenIds(node));
        }
        return tokenizer;
    }

    /// <summary>A token id field of a model config (<c>eos_token_id</c>…): one id, a list of ids, or absent/null.</summary>
    public static int[] ReadTokenIds(JsonNode? node) => node switch
    {
        JsonArray list => list.Select(e => e!.GetValue<int>()).ToArray(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => [v.GetValue<int>()],
        _ => [],
    };

    /// <summary><c>chat_template</c> is a string, or a list of named templates of which "default" is the chat one.</summary>
    private static string? ReadTemplate(JsonObject? config, string source) => config?["chat_template"] switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray list => list.FirstOrDefault(t => t?["name"]?.GetValue<string>() == "default")?["template"]?.GetValue<string>()
                          ?? throw new InvalidDataException($"{source}: chat_template has no template named 'default'"),
        _ => null,
    };

    /// <summary>A special token named in tokenizer_config.json: a string, or an added-token object with its content.</summary>
    internal static string? SpecialName(JsonNode? node) => node switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonObject o => o["content"]?.GetValue<string>(),
        _ => null,
    };

    /// <summary>Writes tokenizer.json as it was read.</summary>
    public void Save(string path) => File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    private string ComputeFingerprint()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string s) { sha.AppendData(Encoding.UTF8.GetBytes(s)); sha.AppendData([0]); }
        for (int id = 0; id < idToToken.Length; id++) Add(idToToken[id] ?? "");
        foreach (var (l, r) in model.MergeList) { Add(l); Add(r); }
        foreach (var t in added.Tokens.OrderBy(t => t.Id)) Add($"{t.Id}:{t.Content}:{t.Special}");
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;

namespace Synera.Models;

/// <summary>
/// Shape of a Llama/Qwen2-style decoder, read from and written to Hugging Face <c>config.json</c> keys
/// (nanoGPT's GPTConfig / llama2.c's Config, with HF names so that real checkpoints load).
/// </summary>
public sealed record TransformerConfig
{
    public int VocabSize { get; init; }
    public int HiddenSize { get; init; }          // d_model
    public int IntermediateSize { get; init; }    // SwiGLU hidden width
    public int NumLayers { get; init; }
    public int NumHeads { get; init; }
    public int NumKvHeads { get; init; }          // < NumHeads means grouped-query attention
    public int MaxPositions { get; init; } = 512;
    public double RmsNormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000;
    public bool TieWordEmbeddings { get; init; }
    public bool AttentionBias { get; init; }      // Qwen2 has q/k/v biases, Llama does not
    public string ModelType { get; init; } = "llama";
    public int BosTokenId { get; init; } = 1;
    /// <summary>The first <c>eos_token_id</c>; the whole stop set (lists, generation_config.json) is the tokenizer's
    /// (<see cref="Synera.Tokenizer.SyneraTokenizer.LoadForModel"/>).</summary>
    public int EosTokenId { get; init; } = 2;
    /// <summary><c>head_dim</c> when the config states it (Qwen3, Gemma): may differ from hidden / heads.</summary>
    public int? ExplicitHeadDim { get; init; }
    /// <summary>Scaled RoPE (<c>rope_scaling</c>), or null for plain rotary embeddings.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>The attention window the model uses, or null for full attention (Qwen2 with <c>use_sliding_window: false</c>).</summary>
    public int? SlidingWindow { get; init; }
    /// <summary><c>torch_dtype</c> of the checkpoint (float32, bfloat16, float16).</summary>
    public string TorchDtype { get; init; } = "float32";

    public int HeadDim => ExplicitHeadDim ?? HiddenSize / NumHeads;
    public int KvDim => NumKvHeads * HeadDim;
    /// <summary>Query heads that share one K/V head (grouped-query attention).</summary>
    public int GroupSize => NumHeads / NumKvHeads;

    /// <summary>Weights in the model: embeddings, per layer the attention projections, the SwiGLU block and two norms,
    /// the final norm and (unless tied) the output head.</summary>
    public long ParameterCount()
    {
        long h = HiddenSize, q = (long)NumHeads * HeadDim, perLayer = 2 * h * q + 2 * h * KvDim + 3 * h * IntermediateSize + 2 * h
            + (AttentionBias ? q + 2 * KvDim : 0);
        return VocabSize * h * (TieWordEmbeddings ? 1 : 2) + NumLayers * perLayer + h;
    }

    /// <summary>Throws with a clear message when the shape is inconsistent.</summary>
    public void Validate()
    {
        if (VocabSize <= 0 || HiddenSize <= 0 || IntermediateSize <= 0 || NumLayers <= 0 || NumHeads <= 0 || NumKvHeads <= 0)
            throw new InvalidDataException($"config: sizes must be positive ({this})");
        if (ExplicitHeadDim is null && HiddenSize % NumHeads != 0)
            throw new InvalidDataException($"config: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumHeads}");
        if (NumHeads % NumKvHeads != 0)
            throw new InvalidDataException($"config: num_attention_heads {NumHeads} is not divisible by num_key_value_heads {NumKvHeads}");
        if (HeadDim % 2 != 0)
            throw new InvalidDataException($"config: head dim {HeadDim} must be even for rotary embeddings");
    }

    private static readonly string[] SupportedTypes = ["llama", "qwen2", "mistral"];

    /// <summary>Reads an HF <c>config.json</c>; unknown architectures are refused by name.</summary>
    public static TransformerConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model config not found: {path}", path);
        var json = JsonNode.Parse(File.ReadAllText(path))?.AsObject()
                   ?? throw new InvalidDataException($"{path}: not a JSON object");
        var type = json["model_type"]?.GetValue<string>() ?? "";
        if (!SupportedTypes.Contains(type))
            throw new InvalidDataException($"{path}: unsupported model_type '{type}' (supported: {string.Join(", ", SupportedTypes)})");
        int Req(string key) => json[key]?.GetValue<int>() ?? throw new InvalidDataException($"{path}: missing '{key}'");
        var heads = Req("num_attention_heads");
        int[] eos = Synera.Tokenizer.SyneraTokenizer.ReadTokenIds(json["eos_token_id"]);
        var config = new TransformerConfig
        {
            ModelType = type,
            VocabSize = Req("vocab_size"),
            HiddenSize = Req("hidden_size"),
            IntermediateSize = Req("intermediate_size"),
            NumLayers = Req("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = json["num_key_value_heads"]?.GetValue<int>() ?? heads,
            MaxPositions = json["max_position_embeddings"]?.GetValue<int>() ?? 2048,
            RmsNormEps = json["rms_norm_eps"]?.GetValue<double>() ?? 1e-6,
            RopeTheta = ReadRopeTheta(json, path),
            RopeScaling = RopeScaling.Read(json, path),
            SlidingWindow = ReadSlidingWindow(json, type),
            TorchDtype = (json["torch_dtype"] ?? json["dtype"])?.GetValue<string>() ?? "float32",
            // A head_dim equal to hidden / heads says nothing new (transformers 5 always writes it): the same shape, the same config.
            ExplicitHeadDim = json["head_dim"]?.GetValue<int>() is int hd && hd * heads != Req("hidden_size") ? hd : null,
            TieWordEmbeddings = json["tie_word_embeddings"]?.GetValue<bool>() ?? false,
            AttentionBias = json["attention_bias"]?.GetValue<bool>() ?? type == "qwen2",
            BosTokenId = json["bos_token_id"]?.GetValue<int>() ?? -1,
            EosTokenId = eos.Length > 0 ? eos[0] : -1,
        };
        if (json["hidden_act"]?.GetValue<string>() is string act && act != "silu")
            throw new InvalidDataException($"{path}: hidden_act '{act}' is not supported (only silu)");
        config.Validate();
        return config;
    }

    /// <summary>transformers ≤ 4 writes <c>rope_theta</c> at the top level; transformers 5 inside <c>rope_parameters</c>.</summary>
    private static double ReadRopeTheta(JsonObject json, string path) =>
        (json["rope_parameters"] as JsonObject)?["rope_theta"]?.GetValue<double>() ?? json["rope_theta"]?.GetValue<double>() ?? 10000;

    /// <summary>
    /// The window a model attends over. Qwen2 configs carry <c>sliding_window</c> but use it only with
    /// <c>use_sliding_window: true</c>; Mistral uses it whenever it is set. Within the window, sliding and full
    /// attention are the same, so the verifier serves such a model only with a context no longer than the window.
    /// </summary>
    private static int? ReadSlidingWindow(JsonObject json, string type)
    {
        if (json["sliding_window"] is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.Number) return null;
        if (type == "qwen2" && json["use_sliding_window"]?.GetValue<bool>() != true) return null;
        return v.GetValue<int>();
    }

    /// <summary>Writes HF <c>config.json</c> keys.</summary>
    public void Save(string path)
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray(ModelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"),
            ["model_type"] = ModelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumLayers,
            ["num_attention_heads"] = NumHeads,
            ["num_key_value_heads"] = NumKvHeads,
            ["max_position_embeddings"] = MaxPositions,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["attention_bias"] = AttentionBias,
            ["hidden_act"] = "silu",

            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenId,
            ["torch_dtype"] = TorchDtype,
        };
        if (ExplicitHeadDim is int headDim) json["head_dim"] = headDim;
        if (RopeScaling is not null) json["rope_scaling"] = RopeScaling.ToJson();
        if (SlidingWindow is int window) json["sliding_window"] = window;
        if (SlidingWindow is not null && ModelType == "qwen2") json["use_sliding_window"] = true;
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Parameter count implied by the shape (embeddings counted once when tied).</summary>
    public long NumParameters => ParameterCount();
}

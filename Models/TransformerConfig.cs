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
    public int EosTokenId { get; init; } = 2;

    public int HeadDim => HiddenSize / NumHeads;
    public int KvDim => NumKvHeads * HeadDim;
    /// <summary>Query heads that share one K/V head (grouped-query attention).</summary>
    public int GroupSize => NumHeads / NumKvHeads;

    /// <summary>Weights in the model: embeddings, per layer the attention projections, the SwiGLU block and two norms,
    /// the final norm and (unless tied) the output head.</summary>
    public long ParameterCount()
    {
        long h = HiddenSize, perLayer = 2 * h * h + 2 * h * KvDim + 3 * h * IntermediateSize + 2 * h
            + (AttentionBias ? h + 2 * KvDim : 0);
        return VocabSize * h * (TieWordEmbeddings ? 1 : 2) + NumLayers * perLayer + h;
    }

    /// <summary>Throws with a clear message when the shape is inconsistent.</summary>
    public void Validate()
    {
        if (VocabSize <= 0 || HiddenSize <= 0 || IntermediateSize <= 0 || NumLayers <= 0 || NumHeads <= 0 || NumKvHeads <= 0)
            throw new InvalidDataException($"config: sizes must be positive ({this})");
        if (HiddenSize % NumHeads != 0)
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
            TieWordEmbeddings = json["tie_word_embeddings"]?.GetValue<bool>() ?? false,
            AttentionBias = json["attention_bias"]?.GetValue<bool>() ?? type == "qwen2",
            BosTokenId = json["bos_token_id"]?.GetValue<int>() ?? 1,
            EosTokenId = json["eos_token_id"]?.GetValue<int>() ?? 2,
        };
        if (json["head_dim"]?.GetValue<int>() is int headDim && headDim != config.HeadDim)
            throw new InvalidDataException($"{path}: head_dim {headDim} differs from hidden_size / num_attention_heads = {config.HeadDim}, which this model does not support");
        if (json["hidden_act"]?.GetValue<string>() is string act && act != "silu")
            throw new InvalidDataException($"{path}: hidden_act '{act}' is not supported (only silu)");
        config.Validate();
        return config;
    }

    /// <summary>
    /// transformers ≤ 4 writes <c>rope_theta</c> at the top level; transformers 5 writes
    /// <c>rope_parameters: {rope_theta, rope_type}</c>. Scaled RoPE variants (llama3, yarn, …) are refused by name.
    /// </summary>
    private static double ReadRopeTheta(JsonObject json, string path)
    {
        var scaling = json["rope_parameters"] ?? json["rope_scaling"];
        if (scaling is JsonObject rope)
        {
            var type = (rope["rope_type"] ?? rope["type"])?.GetValue<string>() ?? "default";
            if (type != "default")
                throw new InvalidDataException($"{path}: rope_type '{type}' is not supported (only default rotary embeddings)");
            if (rope["rope_theta"]?.GetValue<double>() is double nested) return nested;
        }
        return json["rope_theta"]?.GetValue<double>() ?? 10000;
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
            ["torch_dtype"] = "float32",
        };
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Parameter count implied by the shape (embeddings counted once when tied).</summary>
    public long NumParameters
    {
        get
        {
            long attn = (long)HiddenSize * HiddenSize * 2 + 2L * HiddenSize * KvDim + (AttentionBias ? HiddenSize + 2L * KvDim : 0);
            long mlp = 3L * HiddenSize * IntermediateSize;
            long perLayer = attn + mlp + 2L * HiddenSize;
            long emb = (long)VocabSize * HiddenSize * (TieWordEmbeddings ? 1 : 2);
            return NumLayers * perLayer + emb + HiddenSize;
        }
    }
}

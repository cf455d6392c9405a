namespace Synera.Models;

/// <summary>
/// The shapes of published model families (from their config.json), for random-weight models with the real
/// architecture, vocabulary and files, as Hugging Face's own <c>tiny-random-*</c> test models are: a test or a
/// benchmark can build a Qwen2.5-0.5B-shaped model, full size or scaled down, without downloading weights.
/// </summary>
public static class ArchitecturePresets
{
    /// <summary>A family's shape, its tokenizer (a folder under models/tokenizers) and its generation_config EOS ids.</summary>
    public sealed record Preset(TransformerConfig Config, string Tokenizer, int[] EosTokenIds);

    public static readonly IReadOnlyDictionary<string, Preset> All = new Dictionary<string, Preset>
    {
        ["qwen2.5-0.5b"] = new(Qwen(vocab: 151_936, hidden: 896, intermediate: 4_864, layers: 24, heads: 14, kvHeads: 2, tied: true), "qwen3", [151_645, 151_643]),
        ["qwen2.5-1.5b"] = new(Qwen(vocab: 151_936, hidden: 1_536, intermediate: 8_960, layers: 28, heads: 12, kvHeads: 2, tied: true), "qwen3", [151_645, 151_643]),
        ["qwen2.5-7b"] = new(Qwen(vocab: 152_064, hidden: 3_584, intermediate: 18_944, layers: 28, heads: 28, kvHeads: 4, tied: false), "qwen3", [151_645, 151_643]),
        ["llama3.2-1b"] = new(Llama(hidden: 2_048, intermediate: 8_192, layers: 16, heads: 32, kvHeads: 8, tied: true, factor: 32), "llama3_1", [128_001, 128_008, 128_009]),
        ["llama3.1-8b"] = new(Llama(hidden: 4_096, intermediate: 14_336, layers: 32, heads: 32, kvHeads: 8, tied: false, factor: 8), "llama3_1", [128_001, 128_008, 128_009]),
    };

    public static Preset Get(string name) => All.TryGetValue(name.ToLowerInvariant(), out var p) ? p
        : throw new ArgumentException($"no preset '{name}' (known: {string.Join(", ", All.Keys)})");

    private static TransformerConfig Qwen(int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, bool tied) => new()
    {
        ModelType = "qwen2", VocabSize = vocab, HiddenSize = hidden, IntermediateSize = intermediate, NumLayers = layers, NumHeads = heads,
        NumKvHeads = kvHeads, MaxPositions = 32_768, RmsNormEps = 1e-6, RopeTheta = 1_000_000, TieWordEmbeddings = tied, AttentionBias = true,
        BosTokenId = 151_643, EosTokenId = 151_645, TorchDtype = "bfloat16",
    };

    private static TransformerConfig Llama(int hidden, int intermediate, int layers, int heads, int kvHeads, bool tied, double factor) => new()
    {
        ModelType = "llama", VocabSize = 128_256, HiddenSize = hidden, IntermediateSize = intermediate, NumLayers = layers, NumHeads = heads,
        NumKvHeads = kvHeads, MaxPositions = 131_072, RmsNormEps = 1e-5, RopeTheta = 500_000, TieWordEmbeddings = tied,
        RopeScaling = new RopeScaling("llama3", factor, 1, 4, 8_192), BosTokenId = 128_000, EosTokenId = 128_001, TorchDtype = "bfloat16",
    };

    /// <summary>The preset scaled down: fewer layers, a narrower width (heads keep the family's head size where they can,
    /// the MLP its ratio), the vocabulary and everything else as published.</summary>
    public static TransformerConfig Scale(TransformerConfig c, int? layers = null, int? hidden = null, int? intermediate = null, int? heads = null, int? kvHeads = null)
    {
        int h = hidden ?? c.HiddenSize;
        int kv = kvHeads ?? Math.Min(c.NumKvHeads, Math.Max(1, h / c.HeadDim));
        int q = heads ?? (hidden is null ? c.NumHeads : Math.Max(kv, h / c.HeadDim / kv * kv));
        var scaled = c with
        {
            NumLayers = layers ?? c.NumLayers, HiddenSize = h, NumHeads = q, NumKvHeads = kv,
            IntermediateSize = intermediate ?? (hidden is null ? c.IntermediateSize : (int)Math.Round((double)h * c.IntermediateSize / c.HiddenSize)),
        };
        scaled.Validate();
        return scaled;
    }
}

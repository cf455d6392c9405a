using System.Text.Json.Nodes;
using Synera.Models.Onnx;
using Synera.Tokenizer;
using static TorchSharp.torch;

namespace Synera.Models;

/// <summary>
/// Writes a random-weight model folder with a published family's shape, tokenizer and file layout
/// (<see cref="ArchitecturePresets"/>): as a target, config.json, generation_config.json and safetensors shards with
/// model.safetensors.index.json in <c>dtype</c>; as a draft, Optimum's ONNX layout with external data. The tokenizer
/// files are copied from <c>tokenizerDir</c>. The output head is drawn wider than the usual N(0, 0.02) (std 1): with
/// 0.02 the logits of a random model over 150k tokens lie so close that batched and one-token forwards, rounding
/// differently, pick different greedy tokens, and no test of exactness could hold; with std 1 the top two are about a
/// logit apart.
/// </summary>
public static class RandomModelWriter
{
    public static void Write(ArchitecturePresets.Preset preset, TransformerConfig config, string tokenizerDir, string dir, bool draft,
        ScalarType dtype = ScalarType.BFloat16, long maxShardBytes = 2_000_000_000, bool float16Io = false, int seed = 0)
    {
        config = config with { TorchDtype = draft ? "float32" : dtype.Name() };
        TokenizerFiles.CopyTo(tokenizerDir, dir);
        var tokenizer = SyneraTokenizer.Load(dir);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new ArgumentException($"a vocabulary of {config.VocabSize} rows is smaller than the tokenizer's {tokenizer.VocabSize} tokens");
        // Another family's tokenizer (--tokenizer) has its own special tokens: the preset's ids may not even exist in it.
        int[] eos = preset.EosTokenIds;
        if (eos.Append(config.BosTokenId).Any(id => id >= tokenizer.VocabSize))
        {
            if (tokenizer.EosIds.Count == 0 || tokenizer.BosId < 0)
                throw new ArgumentException($"the tokenizer in {tokenizerDir} has no BOS or EOS token, and the {config.ModelType} preset's ids are outside its {tokenizer.VocabSize} tokens");
            eos = [.. tokenizer.EosIds.Order()];
            config = config with { BosTokenId = tokenizer.BosId, EosTokenId = eos[0] };
        }
        config.Save(Path.Combine(dir, ModelCheckpoint.ConfigFile));
        var generation = new JsonObject
        {
            ["bos_token_id"] = config.BosTokenId,
            ["eos_token_id"] = new JsonArray(eos.Select(e => (JsonNode?)e).ToArray()),
            ["do_sample"] = false,
        };
        File.WriteAllText(Path.Combine(dir, ModelCheckpoint.GenerationConfigFile), generation.ToJsonString(new() { WriteIndented = true }));
        using var model = new Transformer(config, seed: seed);
        using (no_grad())
            model.named_parameters().Single(p => p.name == (config.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")).parameter.mul_(1 / 0.02);
        if (draft) OnnxDecoderExporter.Export(model, Path.Combine(dir, "model.onnx"), externalData: true, float16Io: float16Io);
        else ModelCheckpoint.SaveShardedWeights(model, dir, dtype, maxShardBytes);
    }
}

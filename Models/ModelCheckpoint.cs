using Synera.Tokenizer;
using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Models;

/// <summary>
/// Loads and saves a model folder in the Hugging Face layout: <c>config.json</c> (Llama/Qwen2 keys),
/// <c>model.safetensors</c> (HF tensor names such as <c>model.layers.0.self_attn.q_proj.weight</c>) and
/// <c>tokenizer.json</c>. Every tensor is checked by name and shape before anything reaches torch; a missing
/// tensor, an unexpected one or a shape mismatch is an error that names the tensor. With tied embeddings a
/// stored <c>lm_head.weight</c> is skipped.
/// </summary>
public static class ModelCheckpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string TokenizerFile = "tokenizer.json";

    /// <summary>Loads config, weights and tokenizer from <paramref name="dir"/> onto <paramref name="device"/>.</summary>
    public static (Transformer model, SyneraTokenizer tokenizer) Load(string dir, Device? device = null)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"model folder not found: {dir}");
        var config = TransformerConfig.Load(Path.Combine(dir, ConfigFile));
        var tokenizer = SyneraTokenizer.Load(Path.Combine(dir, TokenizerFile));
        if (tokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"{dir}: tokenizer has {tokenizer.VocabSize} tokens but vocab_size is {config.VocabSize}");
        var model = new Transformer(config);
        LoadWeights(model, Path.Combine(dir, WeightsFile));
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        model.eval();
        return (model, tokenizer);
    }

    /// <summary>Copies safetensors weights into <paramref name="model"/> after checking every name and shape.</summary>
    public static void LoadWeights(Transformer model, string weightsPath)
    {
        var stored = SafetensorsFile.Read(weightsPath);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var missing = parameters.Keys.Where(k => !stored.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{weightsPath}: missing tensor '{missing[0]}'" + (missing.Count > 1 ? $" (and {missing.Count - 1} more)" : ""));
        var skip = model.Config.TieWordEmbeddings ? new HashSet<string> { "lm_head.weight" } : [];
        var unexpected = stored.Keys.Where(k => !parameters.ContainsKey(k) && !skip.Contains(k) && !k.EndsWith("rotary_emb.inv_freq")).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{weightsPath}: unexpected tensor '{unexpected[0]}' for this config");
        foreach (var (name, p) in parameters)
        {
            var t = stored[name];
            if (!t.Shape.SequenceEqual(p.shape))
                throw new InvalidDataException($"{weightsPath}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}], the config needs [{string.Join(", ", p.shape)}]");
        }
        using var _ = no_grad();
        foreach (var (name, p) in parameters)
        {
            var t = stored[name];
            using var src = tensor(t.Data, t.Shape);
            p.copy_(src);
        }
    }

    /// <summary>Writes the model folder (config, weights, tokenizer).</summary>
    public static void Save(Transformer model, SyneraTokenizer tokenizer, string dir, bool float16)
    {
        Directory.CreateDirectory(dir);
        model.Config.Save(Path.Combine(dir, ConfigFile));
        tokenizer.Save(Path.Combine(dir, TokenizerFile));
        SafetensorsFile.Write(Path.Combine(dir, WeightsFile), ExportTensors(model), float16,
            new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>The model's parameters as named float32 arrays (HF names).</summary>
    public static IEnumerable<NamedTensor> ExportTensors(Transformer model)
    {
        foreach (var (name, p) in model.named_parameters())
        {
            using var cpu = p.detach().cpu().contiguous();
            yield return new NamedTensor(name, cpu.shape, cpu.data<float>().ToArray());
        }
    }
}

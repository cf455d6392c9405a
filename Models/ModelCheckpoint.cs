using System.Text.Json;
using System.Text.Json.Nodes;
using Synera.Tokenizer;
using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Models;

/// <summary>
/// Loads and saves a model folder in the Hugging Face layout: <c>config.json</c> (Llama/Qwen2 keys), the weights
/// (<c>model.safetensors</c>, or shards listed by <c>model.safetensors.index.json</c>; HF tensor names such as
/// <c>model.layers.0.self_attn.q_proj.weight</c>), <c>tokenizer.json</c> with <c>tokenizer_config.json</c>, and
/// <c>generation_config.json</c> when present. Every tensor is checked by name and shape from the files' headers before
/// any data is read; a missing tensor, an unexpected one or a shape mismatch is an error that names the tensor. With
/// tied embeddings a stored <c>lm_head.weight</c> is skipped. Weights stream into a model built in the chosen dtype,
/// one chunk at a time: a 7B in bf16 needs its 15 GB once, not a float32 copy beside it.
/// </summary>
public static class ModelCheckpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string WeightsIndexFile = "model.safetensors.index.json";
    public const string TokenizerFile = "tokenizer.json";
    public const string GenerationConfigFile = "generation_config.json";

    /// <summary>Loads config, weights and tokenizer from <paramref name="dir"/> onto <paramref name="device"/>, the weights
    /// in <paramref name="dtype"/> (float32 unless given).</summary>
    public static (Transformer model, SyneraTokenizer tokenizer) Load(string dir, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"model folder not found: {dir}");
        var config = TransformerConfig.Load(Path.Combine(dir, ConfigFile));
        var tokenizer = LoadTokenizer(dir);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"{dir}: tokenizer has {tokenizer.VocabSize} tokens but vocab_size is {config.VocabSize}");
        var weights = WeightEntries(dir);
        var model = new Transformer(config, dtype: dtype, initialize: false);
        try
        {
            if (device is not null && device.type != DeviceType.CPU) model.to(device);
            LoadWeights(model, weights, dir);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return (model, tokenizer);
    }

    /// <summary>The dtype <paramref name="name"/> means for the model in <paramref name="dir"/> on <paramref name="device"/>
    /// (<c>auto</c> consults the checkpoint's <c>torch_dtype</c>).</summary>
    public static ScalarType ResolveDtype(string dir, string name, Device device) =>
        DTypes.Resolve(name, device, TransformerConfig.Load(Path.Combine(dir, ConfigFile)).TorchDtype);

    /// <summary>The folder's tokenizer with every stop token of the model (<see cref="SyneraTokenizer.LoadForModel"/>).</summary>
    public static SyneraTokenizer LoadTokenizer(string dir) => SyneraTokenizer.LoadForModel(dir);

    /// <summary>Every stored tensor of the folder, from the shard index or the single weights file.</summary>
    public static Dictionary<string, SafetensorsEntry> WeightEntries(string dir)
    {
        var indexPath = Path.Combine(dir, WeightsIndexFile);
        var files = new List<string>();
        if (File.Exists(indexPath))
        {
            var map = JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"] as JsonObject
                      ?? throw new InvalidDataException($"{indexPath}: no weight_map");
            files.AddRange(map.Select(kv => kv.Value!.GetValue<string>()).Distinct());
        }
        else files.Add(WeightsFile);
        var entries = new Dictionary<string, SafetensorsEntry>();
        foreach (var file in files)
            foreach (var e in SafetensorsFile.ReadHeader(Path.Combine(dir, file)))
                if (!entries.TryAdd(e.Name, e)) throw new InvalidDataException($"{dir}: tensor '{e.Name}' is stored twice ({Path.GetFileName(entries[e.Name].File)}, {file})");
        return entries;
    }

    /// <summary>Copies the folder's weights into <paramref name="model"/> after checking every name and shape.</summary>
    public static void LoadWeights(Transformer model, string dir) => LoadWeights(model, WeightEntries(dir), dir);

    private static void LoadWeights(Transformer model, Dictionary<string, SafetensorsEntry> stored, string source)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var missing = parameters.Keys.Where(k => !stored.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{source}: missing tensor '{missing[0]}'" + (missing.Count > 1 ? $" (and {missing.Count - 1} more)" : ""));
        var skip = model.Config.TieWordEmbeddings ? new HashSet<string> { "lm_head.weight" } : [];
        var unexpected = stored.Keys.Where(k => !parameters.ContainsKey(k) && !skip.Contains(k) && !k.EndsWith("rotary_emb.inv_freq")).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{source}: unexpected tensor '{unexpected[0]}' for this config");
        foreach (var (name, p) in parameters)
        {
            var t = stored[name];
            if (!t.Shape.SequenceEqual(p.shape))
                throw new InvalidDataException($"{source}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}], the config needs [{string.Join(", ", p.shape)}]");
        }
        foreach (var (name, p) in parameters) SafetensorsFile.CopyInto(stored[name], p);
    }

    /// <summary>Writes the model folder (config, one weights file, tokenizer.json).</summary>
    public static void Save(Transformer model, SyneraTokenizer tokenizer, string dir, bool float16)
    {
        Directory.CreateDirectory(dir);
        model.Config.Save(Path.Combine(dir, ConfigFile));
        tokenizer.Save(Path.Combine(dir, TokenizerFile));
        SafetensorsFile.Write(Path.Combine(dir, WeightsFile), Parameters(model), float16 ? ScalarType.Float16 : ScalarType.Float32,
            new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// Writes the weights as transformers does for a large model: shards of at most <paramref name="maxShardBytes"/>
    /// (<c>model-00001-of-00004.safetensors</c>, …) and <c>model.safetensors.index.json</c> mapping each tensor to its
    /// shard, in <paramref name="dtype"/>. One tensor is converted at a time.
    /// </summary>
    public static void SaveShardedWeights(Transformer model, string dir, ScalarType dtype, long maxShardBytes)
    {
        Directory.CreateDirectory(dir);
        int width = SafetensorsFile.ElementSize(SafetensorsFile.DtypeName(dtype));
        var shards = new List<List<(string Name, Tensor Tensor)>> { new() };
        long shardBytes = 0, totalBytes = 0;
        foreach (var (name, t) in Parameters(model))
        {
            long bytes = t.numel() * width;
            if (shardBytes > 0 && shardBytes + bytes > maxShardBytes) { shards.Add([]); shardBytes = 0; }
            shards[^1].Add((name, t));
            shardBytes += bytes; totalBytes += bytes;
        }
        var map = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            var file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafetensorsFile.Write(Path.Combine(dir, file), shards[i], dtype, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var (name, _) in shards[i]) map[name] = file;
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = totalBytes }, ["weight_map"] = map };
        File.WriteAllText(Path.Combine(dir, WeightsIndexFile), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The model's parameters by HF name, in name order.</summary>
    private static List<(string Name, Tensor Tensor)> Parameters(Transformer model) =>
        model.named_parameters().OrderBy(p => p.name, StringComparer.Ordinal).Select(p => (p.name, (Tensor)p.parameter)).ToList();

    /// <summary>The model's parameters as named float32 arrays (HF names).</summary>
    public static IEnumerable<NamedTensor> ExportTensors(Transformer model)
    {
        foreach (var (name, p) in model.named_parameters())
        {
            using var cpu = p.detach().cpu().to_type(ScalarType.Float32).contiguous();
            yield return new NamedTensor(name, cpu.shape, cpu.data<float>().ToArray());
        }
    }
}

using System.Text.Json.Nodes;

namespace Synera.DeviceClient.Drafting;

/// <summary>
/// Where a draft model's ONNX decoder is and what its inputs and outputs are called. A folder may be an
/// onnxruntime-genai folder (<c>genai_config.json</c> names the file, the I/O names and the context length; its EOS ids
/// reach the tokenizer through <see cref="Synera.Tokenizer.SyneraTokenizer.LoadForModel"/>),
/// an Optimum export (<c>model.onnx</c> or <c>onnx/model.onnx</c>, or the older <c>decoder_model_merged.onnx</c> with its
/// <c>use_cache_branch</c> input) or our own (<c>model.onnx</c>); a path to an .onnx file is taken as it is. External
/// data files (<c>model.onnx_data</c>) beside the graph are found by ONNX Runtime itself.
/// </summary>
public sealed record DraftModelFiles(string ModelPath, string InputIds, string AttentionMask, string PositionIds,
    string PastKey, string PastValue, string Logits, string PresentKey, string PresentValue, int? ContextLength)
{
    /// <summary>Optimum's names, which our exporter writes too (<c>%d</c> is the layer).</summary>
    private static DraftModelFiles Optimum(string path, int? context) => new(path, "input_ids", "attention_mask", "position_ids",
        "past_key_values.%d.key", "past_key_values.%d.value", "logits", "present.%d.key", "present.%d.value", context);

    public static DraftModelFiles Find(string path)
    {
        if (File.Exists(path)) return Optimum(path, ReadContext(Path.GetDirectoryName(Path.GetFullPath(path))!));
        if (!Directory.Exists(path)) throw new FileNotFoundException($"draft model not found: {path}", path);
        var genai = Path.Combine(path, "genai_config.json");
        if (File.Exists(genai)) return FromGenAiConfig(path, genai);
        foreach (var candidate in new[] { "model.onnx", Path.Combine("onnx", "model.onnx"), "decoder_model_merged.onnx", Path.Combine("onnx", "decoder_model_merged.onnx") })
            if (File.Exists(Path.Combine(path, candidate))) return Optimum(Path.Combine(path, candidate), ReadContext(path));
        throw new FileNotFoundException($"no ONNX decoder in {path}: looked for genai_config.json, model.onnx, onnx/model.onnx and decoder_model_merged.onnx", path);
    }

    /// <summary>max_position_embeddings of the config.json beside the graph (or one folder up, for onnx/model.onnx).</summary>
    private static int? ReadContext(string dir)
    {
        foreach (var d in new[] { dir, Path.GetDirectoryName(dir) })
        {
            var config = d is null ? null : Path.Combine(d, "config.json");
            if (config is not null && File.Exists(config))
                return JsonNode.Parse(File.ReadAllText(config))?["max_position_embeddings"]?.GetValue<int>();
        }
        return null;
    }

    private static DraftModelFiles FromGenAiConfig(string dir, string path)
    {
        var model = JsonNode.Parse(File.ReadAllText(path))?["model"] as JsonObject ?? throw new InvalidDataException($"{path}: no 'model' section");
        var decoder = model["decoder"] as JsonObject ?? throw new InvalidDataException($"{path}: no 'model.decoder' section");
        var inputs = decoder["inputs"] as JsonObject ?? [];
        var outputs = decoder["outputs"] as JsonObject ?? [];
        string Name(JsonObject section, string key, string fallback) => section[key]?.GetValue<string>() ?? fallback;
        var file = decoder["filename"]?.GetValue<string>() ?? throw new InvalidDataException($"{path}: model.decoder.filename is missing");
        return new DraftModelFiles(Path.Combine(dir, file),
            Name(inputs, "input_ids", "input_ids"), Name(inputs, "attention_mask", "attention_mask"), Name(inputs, "position_ids", "position_ids"),
            Name(inputs, "past_key_names", "past_key_values.%d.key"), Name(inputs, "past_value_names", "past_key_values.%d.value"),
            Name(outputs, "logits", "logits"), Name(outputs, "present_key_names", "present.%d.key"), Name(outputs, "present_value_names", "present.%d.value"),
            model["context_length"]?.GetValue<int>());
    }

    public static string Layer(string pattern, int layer) => pattern.Replace("%d", layer.ToString());
}

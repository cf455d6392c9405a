using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using Synera.Models;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera models random --like qwen2.5-0.5b [--layers 2 --hidden 64] --as target|draft --out DIR</c>: a random-weight
/// model with a published family's architecture, vocabulary, tokenizer, chat template and file layout. As a target:
/// config.json, generation_config.json and bf16 safetensors in shards with model.safetensors.index.json, as transformers
/// saves a large model. As a draft: Optimum's ONNX layout (model.onnx with its weights in model.onnx_data).
/// </summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var like = new Option<string>("--like") { Description = $"architecture: {string.Join(", ", ArchitecturePresets.All.Keys)}", Required = true };
        var role = new Option<string>("--as") { Description = "target (sharded safetensors) or draft (ONNX)", DefaultValueFactory = _ => "target" };
        role.AcceptOnlyFromAmong("target", "draft");
        var output = new Option<string>("--out") { Description = "model folder to write", Required = true };
        var layers = new Option<int?>("--layers") { Description = "decoder layers (default: the family's)" };
        var hidden = new Option<int?>("--hidden") { Description = "hidden size (default: the family's)" };
        var intermediate = new Option<int?>("--intermediate") { Description = "MLP width (default: scaled with --hidden)" };
        var heads = new Option<int?>("--heads") { Description = "attention heads (default: the family's head size)" };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "K/V heads" };
        var vocab = new Option<int?>("--vocab") { Description = "logit rows (default: the family's, padding included)" };
        var dtype = new Option<string>("--dtype") { Description = "target weights: bfloat16, float16 or float32", DefaultValueFactory = _ => "bfloat16" };
        var shard = new Option<string>("--shard-size") { Description = "largest safetensors shard of a target", DefaultValueFactory = _ => "2GB" };
        var onnxIo = new Option<string>("--onnx-io") { Description = "a draft's K/V and logits: float32 or float16", DefaultValueFactory = _ => "float32" };
        onnxIo.AcceptOnlyFromAmong("float32", "float16");
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer folder (default: the family's under models/tokenizers)" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var random = new Command("random", "Write a random-weight model with a published family's architecture, tokenizer and file layout")
        {
            like, role, output, layers, hidden, intermediate, heads, kvHeads, vocab, dtype, shard, onnxIo, tokenizer, seed,
        };
        random.SetAction(parse =>
        {
            var preset = ArchitecturePresets.Get(parse.GetValue(like)!);
            var config = ArchitecturePresets.Scale(preset.Config, parse.GetValue(layers), parse.GetValue(hidden), parse.GetValue(intermediate),
                parse.GetValue(heads), parse.GetValue(kvHeads));
            if (parse.GetValue(vocab) is int v) config = config with { VocabSize = v };
            var dir = parse.GetValue(output)!;
            bool draft = parse.GetValue(role) == "draft";
            var weightsDtype = DTypes.Parse(parse.GetValue(dtype)!);
            var clock = Stopwatch.StartNew();
            RandomModelWriter.Write(preset, config, parse.GetValue(tokenizer) ?? Path.Combine(RepoPaths.Root, "models", "tokenizers", preset.Tokenizer), dir, draft,
                weightsDtype, ModelOptions.ParseBytes(parse.GetValue(shard)!), parse.GetValue(onnxIo) == "float16", parse.GetValue(seed));
            AnsiConsole.MarkupLine(Markup.Escape($"wrote a random {parse.GetValue(like)}-shaped {(draft ? "draft (ONNX)" : $"target ({weightsDtype.Name()} safetensors)")}: " +
                $"{config.NumLayers} layers, hidden {config.HiddenSize}, {config.NumHeads}/{config.NumKvHeads} heads, vocab {config.VocabSize}, " +
                $"{config.ParameterCount() / 1e6:F1}M parameters, in {dir} ({clock.Elapsed.TotalSeconds:F1} s)"));
            return 0;
        });
        var models = new ModelOptions();
        var device = DeviceOption.Create();
        var loadOutput = new Option<string?>("--out") { Description = "also write load.json (time, parameters, memory) into this folder" };
        var load = new Command("load", "Load a target as a verifier would: time, parameters, weight bytes and this process's peak memory") { models.Target, models.Dtype, device, loadOutput };
        load.SetAction(parse =>
        {
            var dir = models.TargetDir(parse);
            var torchDevice = DeviceOption.Resolve(parse, device);
            var dtype = ModelCheckpoint.ResolveDtype(dir, parse.GetValue(models.Dtype)!, torchDevice);
            var (before, _) = Bench.ProcessMemory.Read();
            var clock = Stopwatch.StartNew();
            var (model, tokenizer) = ModelCheckpoint.Load(dir, torchDevice, dtype);
            var seconds = clock.Elapsed.TotalSeconds;
            using var _ = model;
            var (resident, peak) = Bench.ProcessMemory.Read();
            long parameters = model.parameters().Sum(p => p.numel());
            AnsiConsole.MarkupLine(Markup.Escape($"{dir}: {model.Config.ModelType}, {parameters:N0} parameters in {dtype.Name()} ({parameters * dtype.ElementSize() / 1e6:F0} MB) on {torchDevice.type}, " +
                $"loaded in {seconds:F1} s; process resident {resident / 1e6:F0} MB, peak {peak / 1e6:F0} MB ({before / 1e6:F0} MB before loading); " +
                $"tokenizer {tokenizer.VocabSize:N0} tokens, {tokenizer.EosIds.Count} stop tokens"));
            if (parse.GetValue(loadOutput) is { } outDir)
            {
                var path = Path.Combine(Directory.CreateDirectory(outDir).FullName, "load.json");
                File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(new
                {
                    model = Path.GetFullPath(dir), model_type = model.Config.ModelType, parameters, dtype = dtype.Name(), device = torchDevice.type.ToString().ToLowerInvariant(),
                    load_seconds = seconds, weight_bytes = parameters * dtype.ElementSize(), resident_bytes = resident, peak_resident_bytes = peak, before_bytes = before,
                    date = DateTime.UtcNow.ToString("u"), machine = Bench.MachineDescription.Current,
                }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            }
            return 0;
        });
        return new Command("models", "Model folders: random-weight models with real architectures and tokenizers, and loading one") { random, load };
    }
}

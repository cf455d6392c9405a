using System.CommandLine;
using System.Globalization;
using Synera.DeviceClient.Drafting;
using Synera.Grains.Options;
using Synera.Tokenizer;

namespace Synera.Cli.Commands;

/// <summary>
/// The options that choose a model pair and how the verifier holds it, shared by every command that drafts or verifies:
/// <c>--draft DIR --target DIR</c> (Hugging Face folders; default: the shipped pair), <c>--dtype</c>,
/// <c>--max-context</c> and <c>--kv-budget</c> for the embedded verifier. They mirror <see cref="VerifierOptions"/>
/// (<c>Synera:Verifier:*</c>), which configures silos.
/// </summary>
public sealed class ModelOptions
{
    public Option<string?> Draft { get; } = new("--draft") { Description = "draft model folder: ONNX decoder (model.onnx, onnx/model.onnx or genai_config.json) and tokenizer.json (default: models/draft)" };
    public Option<string?> Target { get; } = new("--target") { Description = "target model folder: config.json, safetensors (sharded or not), tokenizer.json (default: models/target)" };
    public Option<string> Dtype { get; } = new("--dtype") { Description = "verifier weights: auto (bf16 on CUDA, float32 on CPU), float32, bfloat16, float16 (CUDA)", DefaultValueFactory = _ => "auto" };
    public Option<int> MaxContext { get; } = new("--max-context") { Description = "longest session (prompt + answer) the verifier's KV slots hold (0: the model's, at most 4096)" };
    public Option<string?> KvBudget { get; } = new("--kv-budget") { Description = "memory for the verifier's KV caches, e.g. 512MiB or 4GiB (default 512MiB)" };

    /// <param name="draft">Whether the command drafts (adds <c>--draft</c>).</param>
    public ModelOptions AddTo(Command command, bool draft = true)
    {
        if (draft) command.Options.Add(Draft);
        foreach (var option in new Option[] { Target, Dtype, MaxContext, KvBudget }) command.Options.Add(option);
        return this;
    }

    /// <summary>Only the verifier's settings (<c>--dtype</c>, <c>--max-context</c>, <c>--kv-budget</c>), for a command
    /// that names its model otherwise.</summary>
    public ModelOptions AddVerifierSettingsTo(Command command)
    {
        foreach (var option in new Option[] { Dtype, MaxContext, KvBudget }) command.Options.Add(option);
        return this;
    }

    public string DraftDir(ParseResult parse) => parse.GetValue(Draft) ?? RepoPaths.DraftModel;
    public string TargetDir(ParseResult parse) => parse.GetValue(Target) ?? RepoPaths.TargetModel;

    /// <summary>The draft's runner and tokenizer (with the model's stop tokens).</summary>
    public (OnnxDraftRunner Runner, SyneraTokenizer Tokenizer) OpenDraft(ParseResult parse) => OnnxDraftRunner.Open(DraftDir(parse));

    /// <summary>The embedded verifier's settings from these options.</summary>
    public Action<VerifierOptions> Verifier(ParseResult parse, string? target = null)
    {
        var (dtype, context) = (parse.GetValue(Dtype)!, parse.GetValue(MaxContext));
        target ??= TargetDir(parse);
        long? budget = parse.GetValue(KvBudget) is { } text ? ParseBytes(text) : null;
        return v =>
        {
            v.ModelPath = target;
            v.Dtype = dtype;
            v.MaxContextTokens = context;
            if (budget is long b) v.KvCacheBudgetBytes = b;
        };
    }

    /// <summary>Bytes from <c>123</c>, <c>512MiB</c>, <c>4GiB</c>, <c>2GB</c>, <c>300MB</c>.</summary>
    public static long ParseBytes(string text)
    {
        var units = new (string Suffix, long Factor)[] { ("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1) };
        var t = text.Trim();
        foreach (var (suffix, factor) in units)
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0)
                return (long)(n * factor);
        return long.TryParse(t, out var bytes) && bytes > 0 ? bytes : throw new ArgumentException($"'{text}' is not a size (e.g. 512MiB, 4GiB)");
    }
}

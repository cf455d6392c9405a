using System.CommandLine;
using Spectre.Console;
using Synera.Cli.Calibration;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Offloading;
using Synera.Models;
using Synera.Models.Data;
using Synera.Models.Training;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera calibrate --draft models/draft --target models/target [--examples 900] [--seed 7001]</c>: measures the pair's
/// threshold → offload ratio → agreement curve on a calibration set of its own (held-out prompts excluded) and writes
/// <c>{draft}/offload.json</c>, which the device's offloading policy starts from. A user's own pair calibrates on its
/// own chat prompts: <c>--prompts FILE.jsonl</c>, one <c>{"prompt": "…"}</c> or <c>{"messages": [{"role", "content"}…]}</c>
/// per line, through the model's chat template.
/// </summary>
public static class CalibrateCommand
{
    public const int DefaultSeed = 7001;

    public static Command Create()
    {
        var prompts = new Option<string?>("--prompts") { Description = "chat prompts to calibrate on (JSONL: {\"prompt\": …} or {\"messages\": […]} per line); default: the generated tasks" };
        var answerTokens = new Option<int>("--max-answer-tokens") { Description = "longest target answer per prompt", DefaultValueFactory = _ => 96 };
        var examples = new Option<int>("--examples") { Description = "calibration prompts (tasks interleaved)", DefaultValueFactory = _ => 900 };
        var seed = new Option<int>("--seed") { Description = "calibration set seed (differs from training's and the held-out suite's)", DefaultValueFactory = _ => DefaultSeed };
        var output = new Option<string?>("--out") { Description = "output path (default: {draft}/offload.json)" };
        var device = DeviceOption.Create();
        var command = new Command("calibrate", "Calibrate a draft/target pair: threshold → offload ratio → agreement (writes offload.json)")
        {
            prompts, answerTokens, examples, seed, output, device,
        };
        var models = new ModelOptions();
        command.Options.Add(models.Draft);
        command.Options.Add(models.Target);
        command.Options.Add(models.Dtype);
        command.SetAction(parse =>
        {
            if (parse.GetValue(examples) <= 0) throw new ArgumentException("--examples must be positive");
            TorchSharp.torch.set_num_threads(Environment.ProcessorCount);
            var (draftDir, targetDir) = (models.DraftDir(parse), models.TargetDir(parse));
            var torchDevice = DeviceOption.Resolve(parse, device);
            var dtype = ModelCheckpoint.ResolveDtype(targetDir, parse.GetValue(models.Dtype)!, torchDevice);
            var (runner, draftTokenizer) = OnnxDraftRunner.Open(draftDir);
            using var _ = runner;
            var (model, tokenizer) = ModelCheckpoint.Load(targetDir, torchDevice, dtype);
            using var __ = model;
            if (draftTokenizer.Fingerprint != tokenizer.Fingerprint)
                throw new InvalidDataException($"the draft ({draftDir}) and the target ({targetDir}) do not share a tokenizer (fingerprints {draftTokenizer.Fingerprint[..12]} and {tokenizer.Fingerprint[..12]})");
            var promptIds = parse.GetValue(prompts) is { } file ? ReadPrompts(file, tokenizer)
                : PairCalibrator.CalibrationSet(parse.GetValue(examples), parse.GetValue(seed), TaskGenerator.HeldOut(Trainer.HeldOutPerTask).Select(e => e.Prompt).ToHashSet())
                    .Select(e => tokenizer.EncodeChatPrompt(e.Prompt)).ToList();
            OffloadCalibration? calibration = null;
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("calibrating", maxValue: promptIds.Count);
                calibration = new PairCalibrator(runner, model, tokenizer).Calibrate(promptIds, parse.GetValue(answerTokens), Name(draftDir), Name(targetDir), parse.GetValue(seed),
                    new Progress<int>(n => task.Value = n));
            });
            var path = parse.GetValue(output) ?? Path.Combine(draftDir, OffloadCalibration.FileName);
            calibration!.Save(path);
            var table = new Table().AddColumn("budget").AddColumn("threshold (top-1 p)").AddColumn("expected agreement").AddColumn("disagreements caught");
            var curve = calibration.Curves[OffloadCalibration.Key(ConfidenceMetric.TopProbability)];
            foreach (var b in new[] { 0.05, 0.1, 0.2 })
            {
                var point = curve.MinBy(p => Math.Abs(p.OffloadRatio - b))!;
                table.AddRow($"{b:P0}", $"{calibration.ThresholdFor(ConfidenceMetric.TopProbability, b):F3}", $"{point.Agreement:P1}", $"{point.Recall:P1}");
            }
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"{calibration.Examples} prompts, {calibration.Tokens} answer tokens, {calibration.Disagreement:P1} draft/target disagreements; wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }

    /// <summary>Chat prompts from JSONL, each through the model's chat template; a bad line is named.</summary>
    private static List<int[]> ReadPrompts(string path, Synera.Tokenizer.SyneraTokenizer tokenizer)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"prompts file not found: {path}", path);
        var result = new List<int[]>();
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                var json = System.Text.Json.Nodes.JsonNode.Parse(line)!;
                var turns = json["messages"] is System.Text.Json.Nodes.JsonArray messages
                    ? messages.Select(m => new Synera.Tokenizer.ChatTurn(m!["role"]!.GetValue<string>(), m["content"]!.GetValue<string>())).ToList()
                    : [new Synera.Tokenizer.ChatTurn("user", json["prompt"]?.GetValue<string>() ?? throw new InvalidDataException("no 'prompt' or 'messages'"))];
                result.Add(tokenizer.EncodeChat(turns));
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or ArgumentException or InvalidOperationException or NullReferenceException)
            {
                throw new InvalidDataException($"{path}:{number}: {e.Message}", e);
            }
        }
        return result.Count > 0 ? result : throw new InvalidDataException($"{path} holds no prompts");
    }

    private static string Name(string dir) => Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'));
}

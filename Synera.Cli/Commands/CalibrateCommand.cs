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
/// <c>{draft}/offload.json</c>, which the device's offloading policy starts from.
/// </summary>
public static class CalibrateCommand
{
    public const int DefaultSeed = 7001;

    public static Command Create()
    {
        var draft = new Option<string>("--draft") { Description = "draft model folder (model.onnx, tokenizer.json)", DefaultValueFactory = _ => RepoPaths.DraftModel };
        var target = new Option<string>("--target") { Description = "target model folder (config.json, model.safetensors)", DefaultValueFactory = _ => RepoPaths.TargetModel };
        var examples = new Option<int>("--examples") { Description = "calibration prompts (tasks interleaved)", DefaultValueFactory = _ => 900 };
        var seed = new Option<int>("--seed") { Description = "calibration set seed (differs from training's and the held-out suite's)", DefaultValueFactory = _ => DefaultSeed };
        var output = new Option<string?>("--out") { Description = "output path (default: {draft}/offload.json)" };
        var device = DeviceOption.Create();
        var command = new Command("calibrate", "Calibrate a draft/target pair: threshold → offload ratio → agreement (writes offload.json)")
        {
            draft, target, examples, seed, output, device,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(examples) <= 0) throw new ArgumentException("--examples must be positive");
            TorchSharp.torch.set_num_threads(Environment.ProcessorCount);
            var draftDir = parse.GetValue(draft)!;
            var targetDir = parse.GetValue(target)!;
            var onnx = Path.Combine(draftDir, "model.onnx");
            if (!File.Exists(onnx)) throw new FileNotFoundException($"draft ONNX model not found: {onnx}", onnx);
            var (model, tokenizer) = ModelCheckpoint.Load(targetDir, DeviceOption.Resolve(parse, device));
            using var runner = new OnnxDraftRunner(onnx);
            if (runner.VocabSize != model.Config.VocabSize)
                throw new InvalidDataException($"draft vocabulary ({runner.VocabSize}) differs from the target's ({model.Config.VocabSize})");
            var heldOut = TaskGenerator.HeldOut(Trainer.HeldOutPerTask).Select(e => e.Prompt).ToHashSet();
            var set = PairCalibrator.CalibrationSet(parse.GetValue(examples), parse.GetValue(seed), heldOut);
            OffloadCalibration? calibration = null;
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("calibrating", maxValue: set.Count);
                calibration = new PairCalibrator(runner, model, tokenizer).Calibrate(set, Name(draftDir), Name(targetDir), parse.GetValue(seed),
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

    private static string Name(string dir) => Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'));
}

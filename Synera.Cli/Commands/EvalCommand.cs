using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Synera.Grains.Verification;
using Synera.Models;
using Synera.Models.Data;
using Synera.Models.Evaluation;

namespace Synera.Cli.Commands;

/// <summary><c>synera eval --model models/target [--suite data/heldout.jsonl] [--agreement-with models/draft]</c>.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model folder (config.json, model.safetensors, tokenizer.json)", Required = true };
        var suite = new Option<string?>("--suite") { Description = "task suite (default: data/heldout.jsonl)" };
        var output = new Option<string?>("--out") { Description = "JSON report path (default: runs/eval-<model>.json)" };
        var agreement = new Option<string?>("--draft") { Description = "also measure this draft's teacher-forced token agreement with the model" };
        var limit = new Option<int>("--limit") { Description = "evaluate only the first N examples per task (0 = all)" };
        var device = DeviceOption.Create();
        var command = new Command("eval", "Greedy exact-match accuracy of a model on a task suite") { model, suite, output, agreement, limit, device };
        command.SetAction(parse =>
        {
            TorchSharp.torch.set_num_threads(Environment.ProcessorCount);
            var dir = parse.GetValue(model)!;
            var examples = TaskGenerator.ReadJsonl(parse.GetValue(suite) ?? RepoPaths.HeldOutSuite);
            var perTask = parse.GetValue(limit);
            if (perTask > 0) examples = examples.GroupBy(e => e.Task).SelectMany(g => g.Take(perTask)).ToList();
            var torchDevice = DeviceOption.Resolve(parse, device);
            var (transformer, tokenizer) = ModelCheckpoint.Load(dir, torchDevice);
            var name = Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'));
            var report = new SuiteEvaluator(transformer, tokenizer, name).Evaluate(examples);
            double? agree = null;
            var draftDir = parse.GetValue(agreement);
            if (draftDir is not null)
            {
                var (draft, _) = ModelCheckpoint.Load(draftDir, torchDevice);
                agree = SuiteEvaluator.TokenAgreement(transformer, draft, tokenizer, examples);
            }
            var table = new Table().AddColumn("task").AddColumn("accuracy");
            foreach (var (task, acc) in report.PerTask) table.AddRow(task, $"{acc:P1}");
            table.AddRow("[bold]all[/]", $"[bold]{report.Accuracy:P1}[/]");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"{report.Examples} examples, {report.Tokens} tokens, {report.Seconds:F1}s on {TorchModelRunner.DeviceName(torchDevice)}" + (agree is null ? "" : $", draft agreement {agree:P1}"));
            var path = parse.GetValue(output) ?? Path.Combine(RepoPaths.Root, "runs", $"eval-{name}.json");
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, JsonSerializer.Serialize(new
            {
                model = report.Model, accuracy = report.Accuracy, per_task = report.PerTask, tokens = report.Tokens,
                examples = report.Examples, seconds = report.Seconds, draft_agreement = agree, device = TorchModelRunner.DeviceName(torchDevice),
            }, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }
}

using System.CommandLine;
using Spectre.Console;
using Synera.Models.Data;
using Synera.Models.Onnx;
using Synera.Models.Training;

namespace Synera.Cli.Commands;

/// <summary><c>synera train --model draft|target [--quick]</c>: trains a model on the generated task suite.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "draft or target", Required = true };
        model.AcceptOnlyFromAmong("draft", "target");
        var quick = new Option<bool>("--quick") { Description = "train for a few seconds (tests, smoke checks)" };
        var steps = new Option<int?>("--steps") { Description = "optimizer steps (default: 6000 target, 3000 draft)" };
        var minutes = new Option<double>("--max-minutes") { Description = "stop and save after this wall time", DefaultValueFactory = _ => 90 };
        var output = new Option<string?>("--out") { Description = "model folder (default: runs/models/<model>; pass models/<model> to replace the shipped weights)" };
        var fresh = new Option<bool>("--fresh") { Description = "ignore an existing checkpoint instead of resuming" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42 };
        var weights = new Option<string?>("--task-weights") { Description = "curriculum, e.g. add=3,sub=3,prose=0.3 (default: uniform)" };
        var command = new Command("train", "Train the draft or target model on generated tasks") { model, quick, steps, minutes, output, fresh, seed, weights };
        command.SetAction(parse =>
        {
            var kind = parse.GetValue(model)!;
            bool isQuick = parse.GetValue(quick);
            // Not models/<kind> by default: a CPU run must not silently replace the shipped (e.g. GPU-trained) weights.
            var dir = parse.GetValue(output) ?? Path.Combine(RepoPaths.Root, "runs", "models", kind);
            var options = new TrainOptions
            {
                Kind = kind,
                OutputDir = dir,
                Steps = parse.GetValue(steps) ?? (isQuick ? 20 : kind == "target" ? 6000 : 3000),
                BatchSize = isQuick ? 8 : 32,
                LearningRate = kind == "target" ? 1e-3 : 3e-3,
                WarmupSteps = isQuick ? 5 : 100,
                MaxMinutes = parse.GetValue(minutes),
                Seed = parse.GetValue(seed),
                LogEvery = isQuick ? 5 : 50,
                CheckpointEvery = isQuick ? 10 : 250,
                Resume = !parse.GetValue(fresh),
                TaskWeights = parse.GetValue(weights) is { } w ? TaskGenerator.ParseWeights(w) : null,
            };
            AnsiConsole.MarkupLine($"[bold]train[/] {kind} → {Markup.Escape(dir)} ({options.Steps} steps, batch {options.BatchSize})");
            var progress = new Progress<TrainProgress>(p => AnsiConsole.MarkupLine(
                $"step {p.Step,6}/{p.TotalSteps}  loss {p.Loss:F4}  {p.TokensPerSecond,7:F0} tok/s  elapsed {p.Elapsed:hh\\:mm\\:ss}  eta {p.Eta:hh\\:mm\\:ss}"));
            var trained = new Trainer(options, new SynchronousProgress<TrainProgress>(p => ((IProgress<TrainProgress>)progress).Report(p))).Train();
            if (kind == "draft")
            {
                var onnx = Path.Combine(dir, "model.onnx");
                OnnxDecoderExporter.Export(trained, onnx);
                AnsiConsole.MarkupLine($"exported {Markup.Escape(onnx)}");
            }
            AnsiConsole.MarkupLine($"saved {Markup.Escape(dir)} ({trained.Config.NumParameters:N0} parameters)");
            return 0;
        });
        return command;
    }
}

/// <summary>An IProgress that reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool).</summary>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

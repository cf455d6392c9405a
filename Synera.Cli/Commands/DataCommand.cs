using System.CommandLine;
using Spectre.Console;
using Synera.Models.Data;
using Synera.Models.Training;
using Synera.Tokenizer;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera data [--out data/heldout.jsonl]</c>: writes the held-out suite (the one training excludes).
/// <c>synera data --train N --out train.bin.gz</c>: writes N tokenized training examples (held-out prompts excluded)
/// for a trainer outside this process; <c>--tokenized</c> writes the held-out suite in that format too.
/// </summary>
public static class DataCommand
{
    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = "path (default: data/heldout.jsonl)" };
        var perTask = new Option<int>("--per-task") { DefaultValueFactory = _ => Trainer.HeldOutPerTask };
        var train = new Option<int?>("--train") { Description = "write this many tokenized training examples instead of the held-out suite" };
        var tokenized = new Option<bool>("--tokenized") { Description = "write the held-out suite as token ids (gzipped records)" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42 };
        var weights = new Option<string?>("--task-weights") { Description = "training mix, e.g. add=3,sub=3 (default: uniform)" };
        var command = new Command("data", "Write the held-out task suite, or tokenized training data") { output, perTask, train, tokenized, seed, weights };
        command.SetAction(parse =>
        {
            var tokenizer = SyneraTokenizer.CreateCharLevel();
            var heldOut = TaskGenerator.HeldOut(parse.GetValue(perTask));
            if (parse.GetValue(train) is int count)
            {
                if (count <= 0) throw new ArgumentException("--train needs a positive number of examples");
                var path = parse.GetValue(output) ?? throw new ArgumentException("--train needs --out");
                var taskWeights = parse.GetValue(weights) is { } w ? TaskGenerator.ParseWeights(w) : null;
                var exclude = heldOut.Select(e => e.Prompt).ToHashSet();
                var stream = new TaskGenerator(parse.GetValue(seed)) { Weights = taskWeights }.TrainStream(exclude).Take(count);
                TokenizedDataset.Write(path, stream.Select(e => TokenizedExample.Encode(tokenizer, e)));
                AnsiConsole.MarkupLine($"wrote {count} tokenized training examples to {Markup.Escape(path)} ({new FileInfo(path).Length / 1e6:F1} MB)");
                return 0;
            }
            if (parse.GetValue(tokenized))
            {
                var path = parse.GetValue(output) ?? throw new ArgumentException("--tokenized needs --out");
                TokenizedDataset.Write(path, heldOut.Select(e => TokenizedExample.Encode(tokenizer, e)));
                AnsiConsole.MarkupLine($"wrote {heldOut.Count} tokenized held-out examples to {Markup.Escape(path)}");
                return 0;
            }
            var suitePath = parse.GetValue(output) ?? RepoPaths.HeldOutSuite;
            TaskGenerator.WriteJsonl(suitePath, heldOut);
            AnsiConsole.MarkupLine($"wrote {heldOut.Count} examples ({TaskGenerator.Tasks.Length} tasks) to {Markup.Escape(suitePath)}");
            return 0;
        });
        return command;
    }
}

using System.CommandLine;
using Spectre.Console;
using Synera.Models.Data;
using Synera.Models.Training;

namespace Synera.Cli.Commands;

/// <summary><c>synera data [--out data/heldout.jsonl]</c>: writes the held-out suite (the one training excludes).</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = "path (default: data/heldout.jsonl)" };
        var perTask = new Option<int>("--per-task") { DefaultValueFactory = _ => Trainer.HeldOutPerTask };
        var command = new Command("data", "Write the held-out task suite") { output, perTask };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(output) ?? RepoPaths.HeldOutSuite;
            var suite = TaskGenerator.HeldOut(parse.GetValue(perTask));
            TaskGenerator.WriteJsonl(path, suite);
            AnsiConsole.MarkupLine($"wrote {suite.Count} examples ({TaskGenerator.Tasks.Length} tasks) to {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }
}

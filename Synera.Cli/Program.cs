// The `synera` command-line program. Each verb lives in its own file under Commands/.
using System.CommandLine;
using Spectre.Console;
using Synera.Cli.Commands;

// Piped or redirected output is read by programs and files, not a terminal: never wrap it at a guessed width.
if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 10_000;

var root = new RootCommand("Synera: device–cloud synergistic LLM serving");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(DataCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(CalibrateCommand.Create());
root.Subcommands.Add(StoreCommand.Create());
root.Subcommands.Add(SiloCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
return await root.Parse(args).InvokeAsync();

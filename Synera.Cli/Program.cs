// The `synera` command-line program. Each verb lives in its own file under Commands/.
using System.CommandLine;
using Synera.Cli.Commands;

var root = new RootCommand("Synera: device–cloud synergistic LLM serving");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(DataCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(CalibrateCommand.Create());
root.Subcommands.Add(StoreCommand.Create());
root.Subcommands.Add(SiloCommand.Create());
return await root.Parse(args).InvokeAsync();

using System.CommandLine;
using Synera.Cli.Commands;

namespace Synera.Cli;

/// <summary>The <c>synera</c> program's command tree: every verb, each from its own file under Commands/. The docs
/// check parses the command lines of README and docs/ against it.</summary>
public static class SyneraCommands
{
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("Synera: device–cloud synergistic LLM serving");
        foreach (var command in new[]
                 {
                     TrainCommand.Create(), EvalCommand.Create(), DataCommand.Create(), GenerateCommand.Create(), BenchCommand.Create(),
                     CalibrateCommand.Create(), StoreCommand.Create(), SiloCommand.Create(), ServeCommand.Create(), DevicesCommand.Create(),
                     TlsCommand.Create(), SoakCommand.Create(), ModelsCommand.Create(),
                 })
            root.Subcommands.Add(command);
        return root;
    }
}

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
root.Subcommands.Add(DevicesCommand.Create());
root.Subcommands.Add(TlsCommand.Create());
root.Subcommands.Add(SoakCommand.Create());
root.Subcommands.Add(ModelsCommand.Create());
try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is Synera.Abstractions.SyneraRequestException or ArgumentException or InvalidOperationException or TimeoutException
    or IOException or UnauthorizedAccessException)
{
    // A refusal or a bad argument is the user's to fix: say what it was, without a stack trace.
    AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
    if (Environment.GetEnvironmentVariable("SYNERA_DEBUG") is "1") Console.Error.WriteLine(e);   // the stack, for a bug report
    return 1;
}

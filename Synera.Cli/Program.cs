// The `synera` command-line program: the command tree (SyneraCommands), run with plain errors for refusals.
using System.CommandLine;
using Spectre.Console;
using Synera.Cli.Commands;

// Piped or redirected output is read by programs and files, not a terminal: never wrap it at a guessed width.
if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 10_000;

var root = Synera.Cli.SyneraCommands.CreateRoot();
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

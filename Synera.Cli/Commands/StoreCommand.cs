using System.CommandLine;
using Spectre.Console;
using Synera.Silo.Hosting;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera store [--port 6390] [--bind 127.0.0.1]</c>: runs the embedded Redis-protocol store (Microsoft Garnet) in the
/// foreground, for silos in redis mode (<c>synera silo --redis HOST:PORT</c>) when no Redis is installed.
/// </summary>
public static class StoreCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "port to listen on", DefaultValueFactory = _ => 6390 };
        var bind = new Option<string>("--bind") { Description = "address to listen on (0.0.0.0 for other machines)", DefaultValueFactory = _ => "127.0.0.1" };
        var command = new Command("store", "Run the embedded Redis-protocol store (Garnet) for cluster membership and grain storage") { port, bind };
        command.SetAction(async (parse, cancellation) =>
        {
            using var store = new EmbeddedStore(parse.GetValue(port), parse.GetValue(bind)!);
            AnsiConsole.MarkupLine($"store listening on {Markup.Escape(parse.GetValue(bind)!)}:{store.Port} (Ctrl+C stops it)");
            try { await Task.Delay(Timeout.Infinite, cancellation); }
            catch (OperationCanceledException) { }
            return 0;
        });
        return command;
    }
}

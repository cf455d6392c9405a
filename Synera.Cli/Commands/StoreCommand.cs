using System.CommandLine;
using Spectre.Console;
using Synera.Silo.Hosting;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera store [--port 6390] [--bind 127.0.0.1] [--data-dir DIR]</c>: runs the embedded Redis-protocol store (Microsoft Garnet) in the
/// foreground, for silos in redis mode (<c>synera silo --redis HOST:PORT</c>) when no Redis is installed.
/// </summary>
public static class StoreCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "port to listen on", DefaultValueFactory = _ => 6390 };
        var bind = new Option<string>("--bind") { Description = "address to listen on (0.0.0.0 for other machines)", DefaultValueFactory = _ => "127.0.0.1" };
        var dataDir = new Option<string?>("--data-dir") { Description = "keep the data here across restarts (an append-only log, replayed on start); default: memory only" };
        var command = new Command("store", "Run the embedded Redis-protocol store (Garnet) for cluster membership and grain storage") { port, bind, dataDir };
        command.SetAction(async (parse, cancellation) =>
        {
            using var store = new EmbeddedStore(parse.GetValue(port), parse.GetValue(bind)!, parse.GetValue(dataDir));
            AnsiConsole.MarkupLine($"store listening on {Markup.Escape(parse.GetValue(bind)!)}:{store.Port} (Ctrl+C stops it)");
            try { await Task.Delay(Timeout.Infinite, cancellation); }
            catch (OperationCanceledException) { }
            return 0;
        });
        return command;
    }
}

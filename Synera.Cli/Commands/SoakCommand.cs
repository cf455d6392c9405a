using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Synera.Cli.Soak;
using Synera.DeviceClient.Hosting;
using Synera.Models.Data;
using Synera.Tokenizer;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera soak --devices N --minutes M [--out DIR] [--cluster HOST:PORT]</c>: simulated devices through real grains
/// and streams for a bounded time; writes <c>soak.json</c> (totals, and per minute memory, p50/p99 and errors by kind).
/// </summary>
public static class SoakCommand
{
    public static Command Create()
    {
        var devices = new Option<int>("--devices") { Description = "simulated devices, all at once", DefaultValueFactory = _ => 100 };
        var minutes = new Option<double>("--minutes") { Description = "how long devices keep answering (the run then stops by itself)", DefaultValueFactory = _ => 2 };
        var output = new Option<string>("--out") { Description = "output folder (soak.json)", DefaultValueFactory = _ => Path.Combine(RepoPaths.Root, "runs", "soak") };
        var think = new Option<double>("--think-ms") { Description = "mean pause between a device's spans", DefaultValueFactory = _ => 20_000 };
        var cluster = new Option<string?>("--cluster") { Description = "a running cluster's gateway at HOST:PORT (default: the embedded one, over loopback)" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var command = new Command("soak", "Run many simulated devices (mixed budgets, some disconnecting, a few sending garbage) for a bounded time")
        {
            devices, minutes, output, think, cluster, seed,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var options = new SoakOptions(parse.GetValue(devices), parse.GetValue(minutes), parse.GetValue(think), Seed: parse.GetValue(seed));
            if (options.Problem() is { } problem) throw new ArgumentException(problem);
            var tokenizer = SyneraTokenizer.Load(Path.Combine(RepoPaths.DraftModel, "tokenizer.json"));
            var prompts = TaskGenerator.ReadJsonl(RepoPaths.HeldOutSuite).Select(e => tokenizer.EncodeChatPrompt(e.Prompt)).ToList();
            var gateway = parse.GetValue(cluster) is { } hostPort ? SyneraClientHost.ParseGateway(hostPort) : ((string, int)?)null;
            await using var connection = await ClusterConnection.OpenAsync(gateway, RepoPaths.TargetModel, cancellation, siloLogLevel: Microsoft.Extensions.Logging.LogLevel.Error);
            AnsiConsole.MarkupLine($"soak: {options.Devices} devices for {options.Minutes} min (budgets {string.Join("/", SoakOptions.Budgets)}, " +
                $"{options.DisconnectFraction:P0} disconnecting, {options.GarbageFraction:P0} sending garbage, ~{options.ThinkMs / 1000:F1} s between spans)");
            var result = await SoakRun.RunAsync(connection.Client, prompts, options, m => AnsiConsole.MarkupLineInterpolated(
                $"minute {m.Minute}: {m.MemoryMb:F0} MB ({m.ManagedMb:F0} managed), {m.Spans} spans, p50 {m.P50Ms:F0} ms, p99 {m.P99Ms:F0} ms, {m.TokensCommitted} tokens committed, {m.StalledDevices} stalled, errors {string.Join(", ", m.ErrorsByKind.Select(kv => $"{kv.Key}={kv.Value}"))}"),
                cancellation);
            var dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var path = Path.Combine(dir, "soak.json");
            await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, Bench.GridReport.Json), cancellation);
            AnsiConsole.MarkupLineInterpolated($"{result.TokensCommitted} tokens committed in {result.Answers} answers, {result.TokensLost} lost, {result.Deadlocks} deadlocked; memory growth after minute 2: {(result.MemoryGrowth is { } g ? $"{g:P1}" : "n/a (under 3 minutes)")}; wrote {path}");
            return result.TokensLost == 0 && result.Deadlocks == 0 ? 0 : 1;
        });
        return command;
    }
}

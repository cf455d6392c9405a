using System.CommandLine;
using Spectre.Console;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Hosting;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera devices add ID [--tier T] [--budget B] [--max-bytes-per-second N] --cluster HOST:PORT</c> registers a device
/// and prints its key once (the cluster stores only its hash); <c>synera devices revoke ID</c> forgets it. Both present
/// the cluster's operator key (<c>--operator-key</c> or <c>SYNERA_OPERATOR_KEY</c>).
/// </summary>
public static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "Register and revoke devices of a cluster that requires device keys");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(Revoke());
        return command;
    }

    private static Command Add()
    {
        var id = new Argument<string>("id") { Description = "the device's id (what it passes as --device-id)" };
        var tier = new Option<string>("--tier") { Description = "the device's fair-share tier (one of the cluster's TierWeights, or default)", DefaultValueFactory = _ => SessionOptions.DefaultTier };
        var budget = new Option<double>("--budget") { Description = "the largest offload budget its sessions get", DefaultValueFactory = _ => 1.0 };
        var maxBytes = new Option<double>("--max-bytes-per-second") { Description = "its uplink cap for verification (0 = none)" };
        var (cluster, operatorKey, security) = ConnectionOptions();
        var command = new Command("add", "Register a device; prints its key once") { id, tier, budget, maxBytes, cluster, operatorKey };
        security.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var deviceId = parse.GetValue(id)!;
            if (DeviceIdentity.ProblemWithId(deviceId) is { } problem) throw new ArgumentException(problem);
            await using var client = await ConnectAsync(parse, cluster, operatorKey, security, cancellation);
            var key = DeviceIdentity.NewKey();
            var record = await client.Client.GetGrain<IDeviceRecordGrain>(deviceId)
                .RegisterAsync(DeviceIdentity.Hash(key), new DeviceLimits(parse.GetValue(tier)!, parse.GetValue(budget), parse.GetValue(maxBytes)));
            AnsiConsole.MarkupLineInterpolated($"registered device [bold]{deviceId}[/]: tier {record.Tier}, budget ceiling {record.BudgetCeiling:P0}, byte cap {(record.MaxBytesPerSecond > 0 ? $"{record.MaxBytesPerSecond} B/s" : "none")}");
            AnsiConsole.MarkupLine("its key (shown once; the cluster keeps only its hash):");
            Console.WriteLine(key);
            return 0;
        });
        return command;
    }

    private static Command Revoke()
    {
        var id = new Argument<string>("id") { Description = "the device to forget" };
        var (cluster, operatorKey, security) = ConnectionOptions();
        var command = new Command("revoke", "Revoke a device's key") { id, cluster, operatorKey };
        security.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            await using var client = await ConnectAsync(parse, cluster, operatorKey, security, cancellation);
            var revoked = await client.Client.GetGrain<IDeviceRecordGrain>(parse.GetValue(id)!).RevokeAsync();
            AnsiConsole.MarkupLineInterpolated($"{(revoked ? "revoked" : "not registered:")} {parse.GetValue(id)}");
            return revoked ? 0 : 1;
        });
        return command;
    }

    private static (Option<string> cluster, Option<string?> operatorKey, ClientSecurityOptions security) ConnectionOptions() =>
        (new Option<string>("--cluster") { Description = "a gateway of the cluster, HOST:PORT", Required = true },
         new Option<string?>("--operator-key") { Description = "the cluster's operator key (default: $SYNERA_OPERATOR_KEY)" },
         new ClientSecurityOptions());

    private static Task<SyneraClientHost> ConnectAsync(ParseResult parse, Option<string> cluster, Option<string?> operatorKey, ClientSecurityOptions security, CancellationToken cancellation)
    {
        var key = parse.GetValue(operatorKey) ?? Environment.GetEnvironmentVariable("SYNERA_OPERATOR_KEY");
        if (string.IsNullOrEmpty(key)) throw new ArgumentException("an operator key is needed: --operator-key or SYNERA_OPERATOR_KEY (the silos' Synera:Security:OperatorKey)");
        var (host, port) = SyneraClientHost.ParseGateway(parse.GetValue(cluster)!);
        return SyneraClientHost.ConnectAsync(host, port, timeout: TimeSpan.FromSeconds(30), cancellation: cancellation,
            security: security.Resolve(parse, deviceId: null, operatorKey: key));
    }
}

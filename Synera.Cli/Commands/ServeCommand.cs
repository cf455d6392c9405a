using Microsoft.Extensions.Hosting;
using System.CommandLine;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using Synera.Cli.Serve;
using Synera.DeviceClient.Hosting;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Offloading;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

namespace Synera.Cli.Commands;

/// <summary><c>synera serve [--port N] [--cluster HOST:PORT]</c>: this device behind an OpenAI-compatible HTTP API.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "HTTP port", DefaultValueFactory = _ => 8080 };
        var host = new Option<string>("--host") { Description = "address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var cluster = new Option<string?>("--cluster") { Description = "a running cluster's gateway at HOST:PORT (default: start the embedded one)" };
        var deviceId = new Option<string?>("--device-id") { Description = "this device's id: its offload account follows it across runs (default: a new device)" };
        var budget = new Option<double>("--budget") { Description = "default offload budget (a request's synera.budget overrides it)", DefaultValueFactory = _ => 0.1 };
        var mode = new Option<GenerationMode>("--mode") { Description = "default generation mode", DefaultValueFactory = _ => GenerationMode.Synera };
        var maxTokens = new Option<int>("--max-tokens") { Description = "default max_tokens", DefaultValueFactory = _ => 96 };
        var command = new Command("serve", "Serve this device (local SLM, cloud verification) as an OpenAI-compatible API (GET /v1/models, POST /v1/chat/completions) with a chat page at /")
        {
            port, host, cluster, deviceId, budget, mode, maxTokens,
        };
        var security = new ClientSecurityOptions();
        security.AddTo(command);
        var models = new ModelOptions().AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            if (parse.GetValue(port) is < 1 or > 65535) throw new ArgumentException("--port must be in 1..65535");
            var draftDir = models.DraftDir(parse);
            using var export = SyneraServiceDefaults.StartOtlpExportIfConfigured(parse.GetValue(deviceId) ?? "synera-serve");
            var (runner, tokenizer) = models.OpenDraft(parse);
            using var _ = runner;
            var gateway = parse.GetValue(cluster) is { } hostPort ? SyneraClientHost.ParseGateway(hostPort) : ((string, int)?)null;
            await using var connection = await ClusterConnection.OpenAsync(gateway, models.Verifier(parse), cancellation, security.Resolve(parse, parse.GetValue(deviceId)));
            using var generator = new DeviceGenerator(connection.Client, runner, tokenizer, parse.GetValue(deviceId), OffloadCalibration.TryLoadBeside(draftDir));
            var defaults = new GenerationOptions { Mode = parse.GetValue(mode), Budget = parse.GetValue(budget), MaxNewTokens = parse.GetValue(maxTokens) };
            var url = $"http://{parse.GetValue(host)}:{parse.GetValue(port)}";
            await using var app = new OpenAiServer(generator, defaults).Build(url);
            await app.StartAsync(cancellation);
            AnsiConsole.MarkupLine($"serving [bold]{OpenAiServer.DefaultModelId}[/] at {url}/v1 ({(gateway is null ? "embedded cluster" : $"cluster {parse.GetValue(cluster)}")}), chat page at {url}/; Ctrl+C stops");
            try { await Task.Delay(Timeout.Infinite, cancellation); } catch (OperationCanceledException) { }
            await app.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }
}

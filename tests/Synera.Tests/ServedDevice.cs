using System.Net;
using Microsoft.AspNetCore.Builder;
using Synera.Cli.Serve;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>`synera serve` for a test: a fresh device (shipped draft, its own id) on the fixture's cluster, behind the
/// OpenAI-compatible server on a free loopback port.</summary>
public sealed class ServedDevice : IAsyncDisposable
{
    public static readonly SyneraTokenizer Tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
    private readonly OnnxDraftRunner runner;
    private readonly WebApplication app;

    public DeviceGenerator Generator { get; }
    public string Url { get; }
    public HttpClient Http { get; }

    private ServedDevice(IClusterClient cluster, GenerationOptions defaults, int maxQueued)
    {
        runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        Generator = new DeviceGenerator(cluster, runner, Tokenizer);
        var listener = System.Net.Sockets.TcpListener.Create(0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        Url = $"http://127.0.0.1:{port}";
        app = new OpenAiServer(Generator, defaults, maxQueued: maxQueued).Build(Url);
        Http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
    }

    public static async Task<ServedDevice> StartAsync(IClusterClient cluster, GenerationOptions? defaults = null, int maxQueued = OpenAiServer.DefaultMaxQueued)
    {
        var served = new ServedDevice(cluster, defaults ?? new GenerationOptions { LoadAware = false, MaxNewTokens = 40 }, maxQueued);
        await served.app.StartAsync();
        return served;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        Generator.Dispose();
        runner.Dispose();
    }
}

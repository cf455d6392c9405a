using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;
using Synera.Abstractions;
using Synera.Cli.Bench;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;
using Synera.DeviceClient.Link;
using Synera.Grains.Hosting;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>
/// The fault suite's mechanisms, cheap enough for every run (in one process, on loopback; `synera bench faults` runs them
/// across hosts): a device goes on through another frontend's gateway when the frontend holding its session dies, and
/// an answer survives the store restarting on its data. Two frontends and a verifier in Redis-protocol membership
/// (Garnet, in-process, its data on disk).
/// </summary>
public sealed class ClusterFaultTests : IAsyncLifetime
{
    private static readonly SyneraTokenizer Tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
    private static readonly GenerationOptions Verified = new()
    {
        Mode = GenerationMode.Synera, Budget = 1, MaxNewTokens = 60, LoadAware = false, Link = new LinkOptions(DeviceMsPerToken: 20),
    };
    private const string Prompt = "Tell me about Leo's green owl.";
    private readonly string dataDir = TestModels.TempDir("fault-store");
    private readonly string clusterId = $"faults-{Guid.NewGuid():N}"[..16];
    private readonly int storePort = EmbeddedCluster.FreePort();
    private EmbeddedStore store = null!;
    private readonly List<(IHost host, string role, int gateway)> silos = [];

    private string Redis => $"127.0.0.1:{storePort}";

    private IHost Silo(string role)
    {
        int port = EmbeddedCluster.FreePort(), gateway = EmbeddedCluster.FreePort();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Synera:Role"] = role,
            ["Synera:Cluster:Mode"] = "redis",
            ["Synera:Cluster:Redis"] = Redis,
            ["Synera:Cluster:SiloPort"] = port.ToString(),
            ["Synera:Cluster:GatewayPort"] = gateway.ToString(),
            ["Synera:Cluster:ClusterId"] = clusterId,
            ["Synera:Cluster:ProbeTimeout"] = "00:00:01",
            ["Synera:Verifier:ModelPath"] = TestModels.ShippedTarget,
            ["Synera:Verifier:Threads"] = "1",
        });
        builder.UseOrleans(s => s.UseSyneraClustering(builder.Configuration).AddSynera(builder.Configuration));
        var host = builder.Build();
        silos.Add((host, role, gateway));
        return host;
    }

    public async Task InitializeAsync()
    {
        store = new EmbeddedStore(storePort, dataDir: dataDir);
        var frontends = new[] { Silo("frontend"), Silo("frontend") };
        await Task.WhenAll(frontends.Select(f => f.StartAsync()));
        await Silo("verifier").StartAsync();     // after the frontends: the verdict streams' queue grains activate on a frontend
    }

    public async Task DisposeAsync()
    {
        foreach (var (host, _, _) in silos)
        {
            try { await host.StopAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { }
            host.Dispose();
        }
        store.Dispose();
    }

    /// <summary>A device's client that knows both frontends' gateways.</summary>
    private async Task<SyneraClientHost> ConnectAsync()
    {
        var client = await SyneraClientHost.ConnectAsync([.. silos.Where(s => s.role == "frontend").Select(s => ("127.0.0.1", s.gateway))], clusterId);
        await SiloProcess.WaitForActiveSilosAsync(client.Client.GetGrain<IManagementGrain>(0), 3, null, CancellationToken.None, TimeSpan.FromSeconds(60));
        return client;
    }

    /// <summary>Starts an answer and waits until a third of the undisturbed one is shown.</summary>
    private static async Task<(Task<GenerationResult> answer, List<int> shown)> StartAnswerAsync(DeviceGenerator generator, int undisturbedLength)
    {
        var shown = new List<int>();
        var answer = generator.GenerateAsync(Prompt, Verified, t => { lock (shown) shown.Add(t.TokenId); });
        while (answer is { IsCompleted: false } && Count(shown) < undisturbedLength / 3) await Task.Delay(5);
        return (answer, shown);
    }

    private static int Count(List<int> shown) { lock (shown) return shown.Count; }

    [Fact]
    public async Task ADeviceGoesOnThroughTheOtherGatewayWhenTheFrontendHoldingItsSessionDies()
    {
        await using var client = await ConnectAsync();
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var reference = new DeviceGenerator(client.Client, runner, Tokenizer, $"fault-{Guid.NewGuid():N}"[..16]);
        var undisturbed = await reference.GenerateAsync(Prompt, Verified);
        Assert.Null(undisturbed.Stats.CloudError);

        // A device of its own for the disturbed answer: its one session grain is the one to find.
        using var generator = new DeviceGenerator(client.Client, runner, Tokenizer, $"fault-{Guid.NewGuid():N}"[..16]);
        var (answer, shown) = await StartAnswerAsync(generator, undisturbed.TokenIds.Count);
        var stats = await client.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var sessionSilo = stats.Single(s => s.GrainType.Contains("SessionGrain") && s.GrainId.ToString().Contains(generator.DeviceId)).SiloAddress;
        Assert.False(answer.IsCompleted, "the answer ended before the fault");
        var frontend = silos.Single(s => s.role == "frontend" && s.host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.Equals(sessionSilo));
        await frontend.host.StopAsync(new CancellationToken(canceled: true));     // not gracefully: its session grain is not handed over
        var result = await answer;

        // Nothing shown is withdrawn or shown twice: what the callback saw is the answer, and it lines up with the undisturbed one.
        Assert.Equal(result.TokenIds, shown);
        Assert.Equal(undisturbed.TokenIds.Count, FailoverBenchmark.CommonSubsequence(undisturbed.TokenIds, result.TokenIds));
        Assert.Equal(undisturbed.Text, result.Text);
        // The next answer goes through the frontend left, verified to the end.
        var next = await generator.GenerateAsync(Prompt, Verified);
        Assert.Null(next.Stats.CloudError);
        Assert.Equal(0, next.Stats.NumVerdictTimeouts);
        Assert.Equal(undisturbed.Text, next.Text);
    }

    [Fact]
    public async Task AnAnswerSurvivesTheStoreRestartingOnItsDataAndTheAccountIsKept()
    {
        await using var client = await ConnectAsync();
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(client.Client, runner, Tokenizer, $"fault-{Guid.NewGuid():N}"[..16]);
        var undisturbed = await generator.GenerateAsync(Prompt, Verified);
        var device = client.Client.GetGrain<IDeviceGrain>(generator.DeviceId);
        var before = await device.GetAccountAsync();
        Assert.NotNull(before);

        var (answer, shown) = await StartAnswerAsync(generator, undisturbed.TokenIds.Count);
        Assert.False(answer.IsCompleted, "the answer ended before the fault");
        store.Dispose();                                      // membership, sessions, accounts and subscriptions all live here
        await Task.Delay(TimeSpan.FromSeconds(1));
        store = new EmbeddedStore(storePort, dataDir: dataDir);
        var result = await answer;

        Assert.Equal(result.TokenIds, shown);
        Assert.Equal(undisturbed.Text, result.Text);
        var after = await device.GetAccountAsync();
        Assert.NotNull(after);
        Assert.True(after!.NumGenerated >= before!.NumGenerated, $"the account went back from {before.NumGenerated} to {after.NumGenerated} generated tokens");
    }
}

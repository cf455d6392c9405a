using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains;
using Synera.Cli.Bench;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;
using Synera.Grains.Hosting;
using Synera.Grains.Verification;
using Synera.Silo.Hosting;
using Synera.Tokenizer;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>The production shape in one process: a frontend and two verifier silos in real Redis-protocol membership
/// (Garnet, in-process), a device through the frontend's gateway. Every verifier silo serves; a leaving one hands over.</summary>
public sealed class ClusterScaleTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly SyneraTokenizer Tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
    private readonly EmbeddedStore store = new();
    private readonly string clusterId = $"scale-{Guid.NewGuid():N}"[..16];
    private IHost frontend = null!, verifierA = null!, verifierB = null!;
    private int frontendGateway;

    private IHost Silo(string role)
    {
        int port = EmbeddedCluster.FreePort(), gateway = EmbeddedCluster.FreePort();
        if (role == "frontend") frontendGateway = gateway;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Synera:Role"] = role,
            ["Synera:Cluster:Mode"] = "redis",
            ["Synera:Cluster:Redis"] = store.ConnectionString,
            ["Synera:Cluster:SiloPort"] = port.ToString(),
            ["Synera:Cluster:GatewayPort"] = gateway.ToString(),
            ["Synera:Cluster:ClusterId"] = clusterId,
            ["Synera:Verifier:ModelPath"] = TestModels.ShippedTarget,   // trained: no float near-ties for a re-prefill to break differently
            ["Synera:Verifier:Threads"] = "1",
            ["Synera:Verifier:InFlightCheckPeriod"] = "00:00:00.250",
        });
        builder.UseOrleans(s => s.UseSyneraClustering(builder.Configuration).AddSynera(builder.Configuration));
        return builder.Build();
    }

    public async Task InitializeAsync()
    {
        frontend = Silo("frontend");
        verifierA = Silo("verifier");
        verifierB = Silo("verifier");
        await Task.WhenAll(frontend.StartAsync(), verifierA.StartAsync(), verifierB.StartAsync());
    }

    public async Task DisposeAsync()
    {
        foreach (var host in new[] { verifierA, verifierB, frontend })
        {
            try { await host.StopAsync(TimeSpan.FromSeconds(10)); } catch (Exception) { }
            host.Dispose();
        }
        store.Dispose();
    }

    private async Task<SyneraClientHost> ConnectAsync()
    {
        var client = await SyneraClientHost.ConnectAsync(frontendGateway, clusterId);
        await SiloProcess.WaitForActiveSilosAsync(client.Client.GetGrain<IManagementGrain>(0), 3, null, CancellationToken.None, TimeSpan.FromSeconds(60));
        return client;
    }

    private static GenerationOptions Verified => new() { Mode = GenerationMode.Synera, Budget = 1, MaxNewTokens = 40, LoadAware = false };

    [Fact]
    public async Task SessionsSpreadOverBothVerifierSilos()
    {
        await using var client = await ConnectAsync();
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        // Concurrent devices: each keeps its session open while the others open theirs.
        var tasks = Enumerable.Range(0, 6).Select(d => Task.Run(async () =>
        {
            using var r = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
            using var generator = new DeviceGenerator(client.Client, r, Tokenizer, $"spread-{d}");
            return await generator.GenerateAsync("What is 1+2?", Verified with { Link = new(DeviceMsPerToken: 20) });
        })).ToList();
        // Sample while they run: both engines hold sessions at the same time.
        int maxA = 0, maxB = 0;
        var engineA = verifierA.Services.GetRequiredService<VerificationEngine>();
        var engineB = verifierB.Services.GetRequiredService<VerificationEngine>();
        while (!tasks.All(t => t.IsCompleted))
        {
            maxA = Math.Max(maxA, engineA.NumSessions);
            maxB = Math.Max(maxB, engineB.NumSessions);
            await Task.Delay(20);
        }
        var results = await Task.WhenAll(tasks);
        output.WriteLine($"most sessions held at once: verifier A {maxA}, verifier B {maxB}");
        Assert.All(results, r => Assert.Null(r.Stats.CloudError));
        Assert.All(results, r => Assert.Equal(0, r.Stats.NumVerdictTimeouts));
        Assert.True(maxA > 0 && maxB > 0, $"one verifier silo served nothing (A {maxA}, B {maxB})");
        Assert.True(engineA.Stats.ProcessedTokens > 0 && engineB.Stats.ProcessedTokens > 0);
        // Their verdicts reached the frontend through its relay, not by a call per verdict.
        var (relayedA, relayedB) = (Relayed(verifierA), Relayed(verifierB));
        output.WriteLine($"relayed: verifier A {relayedA.Verdicts} verdicts in {relayedA.Calls} calls, verifier B {relayedB.Verdicts} in {relayedB.Calls}");
        Assert.True(relayedA.Verdicts > 0 && relayedB.Verdicts > 0);
        // And their spans reached the verifier silos through the silos' intakes.
        var intake = frontend.Services.GetRequiredService<VerifierIntakeClient>().Sent;
        output.WriteLine($"intake: {intake.Spans} spans in {intake.Calls} calls");
        Assert.True(intake.Spans > 0);
    }

    private static (long Calls, long Verdicts) Relayed(IHost verifier) => verifier.Services.GetRequiredService<OrleansVerdictSink>().Relayed;

    [Fact]
    public async Task OneStepsVerdictsForAFrontendCrossTheNetworkInOneCall()
    {
        await using var client = await ConnectAsync();
        int[] prompt = [1, .. Tokenizer.Encode("What is 1+2?")];
        var sessions = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            OpenedSession.OpenAsync(client.Client, $"relay/{i}", new SessionOptions(OffloadBudget.Full), prompt)));
        // A verifier's sink, routed as the session grains' spans route it: to the frontend silo's relay.
        var sink = verifierA.Services.GetRequiredService<OrleansVerdictSink>();
        var before = sink.Relayed;
        var relayKey = frontend.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString();
        foreach (var s in sessions) sink.Route(s.Info.SessionId, relayKey);
        // Verdicts of an epoch the sessions have left: each session grain publishes them on its stream and changes nothing.
        var verdicts = sessions.Select((s, i) => new Verdict(s.Info.SessionId, i, s.Info.Epoch - 1, VerdictKind.Stale, prompt.Length, 0, -1, -1, prompt.Length)).ToArray();
        Task[] deliveries;
        using (sink.BeginStep()) deliveries = [.. verdicts.Select(sink.DeliverAsync)];
        await Task.WhenAll(deliveries).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((before.Calls + 1, before.Verdicts + verdicts.Length), sink.Relayed);
        for (int i = 0; i < sessions.Length; i++) Assert.Equal(verdicts[i], await sessions[i].Verdicts.NextVerdictAsync());
        // A session without a route (its grain never named a relay) still gets its verdict, by a call of its own.
        sink.Forget(sessions[0].Info.SessionId);
        await sink.DeliverAsync(verdicts[0] with { Seq = 100 });
        Assert.Equal(100, (await sessions[0].Verdicts.NextVerdictAsync()).Seq);
        Assert.Equal((before.Calls + 1, before.Verdicts + verdicts.Length), sink.Relayed);
        foreach (var s in sessions) await s.Grain.CloseAsync();

        // An intake named after a silo that is not in the cluster (one that left) activates on a live verifier silo,
        // whose engine does not hold its sessions, and refuses: the session grain places its verifier again.
        var gone = SiloAddress.New(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1), 1).ToParsableString();
        var intake = frontend.Services.GetRequiredService<IGrainFactory>().GetGrain<IVerifierIntakeGrain>(gone);
        await Assert.ThrowsAsync<NoVerifierException>(() => intake.GetSessionActivityAsync(sessions[0].Info.SessionId));
    }

    [Fact]
    public async Task VerifierSiloThatLeavesGracefullyMidAnswerHandsItsSessionOver()
    {
        await using var client = await ConnectAsync();
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(client.Client, runner, Tokenizer, "leaving");
        const string prompt = "Tell me about Ana's red cat.";
        var undisturbed = await generator.GenerateAsync(prompt, Verified);
        Assert.True(undisturbed.TokenIds.Count >= 20, "the answer is long enough to be interrupted");

        // Paced, so the answer takes about a second; stop whichever verifier silo holds the session a third of the way in.
        var tokensSeen = 0;
        var run = generator.GenerateAsync(prompt, Verified with { Link = new(DeviceMsPerToken: 25) }, _ => Interlocked.Increment(ref tokensSeen));
        while (Volatile.Read(ref tokensSeen) < undisturbed.TokenIds.Count / 3 && !run.IsCompleted) await Task.Delay(5);
        var serving = new[] { verifierA, verifierB }.First(h => h.Services.GetRequiredService<VerificationEngine>().NumSessions > 0);
        await serving.StopAsync();
        var disturbed = await run;
        output.WriteLine($"undisturbed {undisturbed.TokenIds.Count} tokens; disturbed: {disturbed.Stats.NumCorrections} corrections, error {disturbed.Stats.CloudError ?? "none"}, timeouts {disturbed.Stats.NumVerdictTimeouts}");
        Assert.Null(disturbed.Stats.CloudError);
        Assert.Equal(0, disturbed.Stats.NumVerdictTimeouts);
        Assert.Equal(undisturbed.TokenIds, disturbed.TokenIds);   // every token still the LLM's: the other silo took over
        var survivor = serving == verifierA ? verifierB : verifierA;
        Assert.True(survivor.Services.GetRequiredService<VerificationEngine>().Stats.ProcessedTokens > 0);
    }
}

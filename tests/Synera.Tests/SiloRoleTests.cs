using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;
using Synera.Grains.Hosting;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>Two silos, two roles: verifier grains activate only on the verifier silo, even for a client on the frontend's gateway;
/// sessions and device accounts on the frontend.</summary>
public class SiloRoleTests
{
    private static IHost Silo(string role, int siloPort, int gatewayPort, int primaryPort, string clusterId, string? redis, string? modelPath = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Synera:Role"] = role,
            ["Synera:Cluster:SiloPort"] = siloPort.ToString(),
            ["Synera:Cluster:GatewayPort"] = gatewayPort.ToString(),
            ["Synera:Cluster:PrimarySiloPort"] = primaryPort.ToString(),
            ["Synera:Cluster:ClusterId"] = clusterId,
            ["Synera:Verifier:ModelPath"] = modelPath ?? TestModels.TinyTarget,
            ["Synera:Cluster:Mode"] = redis is null ? "localhost" : "redis",
            ["Synera:Cluster:Redis"] = redis,
        });
        builder.UseOrleans(s => s.UseSyneraClustering(builder.Configuration).AddSynera(builder.Configuration));
        return builder.Build();
    }

    /// <summary>A device-side Orleans client through the given gateway.</summary>
    private static async Task<IHost> StartClientAsync(int gatewayPort, string clusterId)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // This client calls verifier grains itself (a device reaches them only through its session grain): it must learn
        // their types when the verifier silo joins, not at the next manifest refresh a minute later, which a busy machine
        // made it wait for (the frontend had not yet read the verifier's manifest when the client first asked).
        builder.UseOrleansClient(c => c.UseLocalhostClustering(gatewayPort, "synera", clusterId).AddSyneraClient()
            .Configure<Orleans.Configuration.TypeManagementOptions>(o => o.TypeMapRefreshInterval = TimeSpan.FromSeconds(1)));
        var host = builder.Build();
        try { await host.StartAsync(); }
        catch { host.Dispose(); throw; }
        return host;
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("redis")]     // real Orleans Redis membership and session storage, in a Redis-protocol store hosted in-process (Garnet)
    public async Task VerifierGrainsActivateOnlyOnTheVerifierSilo(string membership)
    {
        using var redis = membership == "redis" ? new EmbeddedStore() : null;
        int vPort = EmbeddedCluster.FreePort(), vGateway = EmbeddedCluster.FreePort(), fPort = EmbeddedCluster.FreePort(), fGateway = EmbeddedCluster.FreePort();
        var clusterId = $"roles-{vPort}";
        // The frontend first, as the developer cluster starts them: the stream queue grains activate where the first
        // pulling agents run, and stay there.
        using var frontend = Silo("frontend", fPort, fGateway, fPort, clusterId, redis?.ConnectionString);
        using var verifier = Silo("verifier", vPort, vGateway, fPort, clusterId, redis?.ConnectionString);
        await frontend.StartAsync();
        await verifier.StartAsync();
        Assert.Null(frontend.Services.GetService<Synera.Grains.Verification.VerificationEngine>());

        using var clientHost = await StartClientAsync(fGateway, clusterId);
        var client = clientHost.Services.GetRequiredService<IClusterClient>();

        // Wait until both silos see each other (Redis membership is polled) and the frontend knows who hosts verifiers.
        var management = client.GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((await management.GetHosts(onlyActive: true)).Count < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "the two silos did not form a cluster within 60 s");
            await Task.Delay(200);
        }
        while (true)
        {
            try { await client.GetGrain<IVerifierGrain>("verifier-0").GetModelInfoAsync(); break; }
            catch (Exception) when (DateTime.UtcNow < deadline) { await Task.Delay(200); }   // manifest still propagating
        }

        // Sessions opened through the frontend's gateway reach verifiers; many verifier keys, to give placement choices.
        for (int i = 0; i < 8; i++)
        {
            var info = await client.GetGrain<IVerifierGrain>($"verifier-{i}").GetModelInfoAsync();
            Assert.Equal(TestModels.Tokenizer.VocabSize, info.VocabSize);
        }
        var (session, verdicts, opened) = await OpenedSession.OpenAsync(client, "roles-session", new SessionOptions(OffloadBudget.Full), [1, 10, 11]);
        Assert.Equal(EnqueueStatus.Queued, await session.VerifyAsync(new VerifyRequest("roles-session", 0, opened.Epoch, 3, [], [12], [0.5f])));
        Assert.Equal(VerdictKind.Verified, (await verdicts.NextVerdictAsync()).Kind);

        var stats = await management.GetDetailedGrainStatistics();
        var verifierActivations = stats.Where(s => s.GrainType.Contains("VerifierGrain")).ToList();
        Assert.NotEmpty(verifierActivations);
        var verifierSilo = verifier.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        Assert.All(verifierActivations, s => Assert.Equal(verifierSilo, s.SiloAddress));
        // The session and its device's account live on the frontend: the verifier silo's cores are the engine's.
        var frontendSilo = frontend.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        var deviceFacing = stats.Where(s => s.GrainType.Contains("SessionGrain") || s.GrainType.Contains("DeviceGrain")).ToList();
        Assert.True(deviceFacing.Count == 2, "session and device activations: " + string.Join(", ", stats.Select(s => $"{s.GrainType}@{s.SiloAddress}")));
        Assert.All(deviceFacing, s => Assert.Equal(frontendSilo, s.SiloAddress));
        // So do the verdict stream's queue and pub-sub grains (the silos' default placement), whose queues the frontend's
        // pulling agents read (FrontendQueueBalancer): the verdict above came to the device without touching the verifier silo.
        var streamGrains = stats.Where(s => s.GrainType.Contains("MemoryStreamQueueGrain") || s.GrainType.Contains("PubSubRendezvousGrain")).ToList();
        Assert.True(streamGrains.Select(s => s.GrainType).Distinct().Count() == 2, "stream grains: " + string.Join(", ", stats.Select(s => $"{s.GrainType}@{s.SiloAddress}")));
        Assert.All(streamGrains, s => Assert.Equal(frontendSilo, s.SiloAddress));

        // The session's state outlives its activation (in Redis, in Orleans' binary format; in memory in localhost mode):
        // deactivated, the session reads back its committed tokens.
        var before = await session.GetSnapshotAsync();
        Assert.True(before.CommittedTokenIds.Length > 3, "the verdict committed tokens");
        await session.Cast<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle();
        var after = await session.GetSnapshotAsync();
        Assert.Equal(before.CommittedTokenIds, after.CommittedTokenIds);
        Assert.Equal((before.IsOpen, before.Epoch), (after.IsOpen, after.Epoch));

        await clientHost.StopAsync();
        await frontend.StopAsync();
        await verifier.StopAsync();
    }

    /// <summary>A device that connects while the cluster has no verifier silo (one still starting, as in the developer
    /// cluster): its answer is the SLM's and says why, and the next answer uses the cloud once a verifier silo has joined.
    /// Before, the frontend's "Could not find an implementation for interface IVerifierGrain" ended the device.</summary>
    [Fact]
    public async Task ADeviceBeforeAnyVerifierSiloAnswersAloneThenUsesTheVerifierThatJoins()
    {
        int fPort = EmbeddedCluster.FreePort(), fGateway = EmbeddedCluster.FreePort(), vPort = EmbeddedCluster.FreePort(), vGateway = EmbeddedCluster.FreePort();
        var clusterId = $"no-verifier-{fPort}";
        using var frontend = Silo("frontend", fPort, fGateway, fPort, clusterId, null);
        await frontend.StartAsync();
        using var clientHost = await StartClientAsync(fGateway, clusterId);
        var client = clientHost.Services.GetRequiredService<IClusterClient>();
        var tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(client, runner, tokenizer, "early-device");
        var options = new GenerationOptions { Budget = 1, LoadAware = false };   // every token verified once a verifier serves

        var alone = await generator.GenerateAsync("What is 123+456?", options);
        Assert.Contains("no verifier silo", alone.Stats.CloudError);
        Assert.Equal(0, alone.Stats.NumOffloaded);
        Assert.NotEmpty(alone.TokenIds);

        using var verifier = Silo("verifier", vPort, vGateway, fPort, clusterId, null, TestModels.ShippedTarget);
        await verifier.StartAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        GenerationResult served;
        while (true)
        {
            // The frontend learns of the verifier grain from the cluster manifest, a moment after the silo joins.
            served = await generator.GenerateAsync("What is 123+456?", options);
            if (served.Stats.CloudError is null) break;
            Assert.True(DateTime.UtcNow < deadline, $"no answer through the verifier within 60 s of it joining: {served.Stats.CloudError}");
            Assert.Contains("no verifier silo", served.Stats.CloudError);
            await Task.Delay(500);
        }
        Assert.True(served.Stats.NumOffloaded > 0, "the verifier saw none of the answer's tokens");
        Assert.Equal("579", served.Text.Trim());                          // the LLM's answer

        await clientHost.StopAsync();
        await verifier.StopAsync();
        await frontend.StopAsync();
    }
}

using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Hosting;
using Synera.Grains.Options;
using Synera.Grains.Verification;
using Synera.Silo.Hosting;

namespace Synera.Tests;

/// <summary>
/// A cluster as production runs it: TLS on every connection (a self-signed cluster certificate), registered devices
/// only (<c>RequireDeviceKeys</c>), and an operator key for registering them. Its own client is the operator's.
/// </summary>
public sealed class SecureClusterFixture : IAsyncLifetime
{
    public const string OperatorKey = "operator-secret-for-tests";
    public X509Certificate2 Certificate { get; } = SelfSignedCertificate.Create("synera-test-cluster");
    public EmbeddedCluster Cluster { get; private set; } = null!;
    public IClusterClient Operator => Cluster.Client;
    public ClientTls TrustingTls => new(Certificate.Thumbprint);

    public async Task InitializeAsync() => Cluster = await EmbeddedCluster.StartAsync(v =>
        {
            v.ModelPath = TestModels.TinyTarget;
            v.MaxSpanTokens = 16;
            v.TierWeights = new() { ["premium"] = 2 };
        },
        configureSilo: s =>
        {
            s.UseSyneraTls(Certificate);
            s.Services.Configure<SecurityOptions>(o => { o.RequireDeviceKeys = true; o.OperatorKey = OperatorKey; o.RecordCacheTime = TimeSpan.Zero; });
        },
        clientSecurity: new ClientSecurity(OperatorKey: OperatorKey, Tls: new ClientTls(Certificate.Thumbprint)));

    /// <summary>Another client through the gateway (a device, or a stranger).</summary>
    public Task<SyneraClientHost> ConnectAsync(ClientSecurity security, TimeSpan? timeout = null) =>
        SyneraClientHost.ConnectAsync(Cluster.GatewayPort, Cluster.ClusterId, timeout ?? TimeSpan.FromSeconds(20), security: security);

    /// <summary>Registers a device as <c>synera devices add</c> does; returns its key.</summary>
    public async Task<string> RegisterAsync(string deviceId, DeviceLimits limits)
    {
        var key = DeviceIdentity.NewKey();
        await Operator.GetGrain<IDeviceRecordGrain>(deviceId).RegisterAsync(DeviceIdentity.Hash(key), limits);
        return key;
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SecureClusterCollection : ICollectionFixture<SecureClusterFixture>
{
    public const string Name = "secure-cluster";
}

/// <summary>Device identity, the record's limits, and TLS, against the secure cluster.</summary>
[Collection(SecureClusterCollection.Name)]
public class DeviceSecurityTests(SecureClusterFixture fixture)
{
    private static readonly int[] Prompt = [1, .. TestModels.Tokenizer.Encode("user: What is 2+2?\nassistant: ")];

    [Fact]
    public async Task OnlyARegisteredDeviceWithItsKeyGetsIn()
    {
        var key = await fixture.RegisterAsync("alice", new DeviceLimits());
        var session = $"alice/{Guid.NewGuid():N}";
        // No key, a wrong key, a key for a device never registered: each refused with a clear error.
        var strangers = new (ClientSecurity who, string why)[]
        {
            (new ClientSecurity(Tls: fixture.TrustingTls), "needs a device id and key"),
            (new ClientSecurity("alice", DeviceIdentity.NewKey(), Tls: fixture.TrustingTls), "not registered or its key is wrong"),
            (new ClientSecurity("mallory", key, Tls: fixture.TrustingTls), "not registered or its key is wrong"),
        };
        foreach (var (who, why) in strangers)
        {
            await using var client = await fixture.ConnectAsync(who);
            var e = await Assert.ThrowsAsync<SyneraRequestException>(() => client.Client.GetGrain<ISessionGrain>(session).OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt));
            Assert.Contains(why, e.Message);
        }
        // With its key, alice opens a session, a span is verified and its verdict arrives on her stream.
        await using var alice = await fixture.ConnectAsync(new ClientSecurity("alice", key, Tls: fixture.TrustingTls));
        var grain = alice.Client.GetGrain<ISessionGrain>(session);
        var info = await grain.OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt);
        var verdict = await VerifyOneSpanAsync(alice.Client, grain, session, info.Epoch);
        Assert.Equal(VerdictKind.Verified, verdict.Kind);
        Assert.Equal(verdict.CommittedLength, (await grain.GetSnapshotAsync()).CommittedTokenIds.Length);
        await grain.CloseAsync();
    }

    [Fact]
    public async Task ADeviceCannotOpenReadCloseOrListenToAnotherDevicesSessions()
    {
        var aliceKey = await fixture.RegisterAsync("alice2", new DeviceLimits());
        var bobKey = await fixture.RegisterAsync("bob2", new DeviceLimits());
        await using var bob = await fixture.ConnectAsync(new ClientSecurity("bob2", bobKey, Tls: fixture.TrustingTls));
        var bobSession = $"bob2/{Guid.NewGuid():N}";
        var bobGrain = bob.Client.GetGrain<ISessionGrain>(bobSession);
        await bobGrain.OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt);
        var before = await bobGrain.GetSnapshotAsync();

        await using var alice = await fixture.ConnectAsync(new ClientSecurity("alice2", aliceKey, Tls: fixture.TrustingTls));
        var asAlice = alice.Client.GetGrain<ISessionGrain>(bobSession);
        var calls = new (string what, Func<Task> call)[]
        {
            ("OpenAsync", () => asAlice.OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt)),
            ("GetSnapshotAsync", () => asAlice.GetSnapshotAsync()),
            ("ResyncAsync", () => asAlice.ResyncAsync()),
            ("CloseAsync", () => asAlice.CloseAsync()),
            ("GetAccountAsync", () => alice.Client.GetGrain<IDeviceGrain>("bob2").GetAccountAsync()),
            ("RegisterConsumer", () => alice.Client.GetStreamProvider(SyneraNames.StreamProvider)
                .GetStream<Verdict>(StreamId.Create(SyneraNames.VerdictNamespace, bobSession)).SubscribeAsync((_, _) => Task.CompletedTask)),
            ("RegisterAsync", () => alice.Client.GetGrain<IDeviceRecordGrain>("bob2").RegisterAsync(DeviceIdentity.Hash("mine now"), new DeviceLimits())),
        };
        foreach (var (what, call) in calls)
        {
            var e = await Assert.ThrowsAnyAsync<Exception>(call);
            Assert.Contains(what, e.Message);
            Assert.True(e.Message.Contains("may not act for device 'bob2'") || e.Message.Contains("operator key"), e.Message);
        }
        // Bob's session is untouched and still his.
        var after = await bobGrain.GetSnapshotAsync();
        Assert.True(after.IsOpen);
        Assert.Equal(before.CommittedTokenIds, after.CommittedTokenIds);
        Assert.Equal(before.Epoch, after.Epoch);
        await bobGrain.CloseAsync();
    }

    [Fact]
    public async Task TierBudgetAndByteCapComeFromTheRecordNotTheRequest()
    {
        var key = await fixture.RegisterAsync("frugal", new DeviceLimits(SessionOptions.DefaultTier, BudgetCeiling: 0.1, MaxBytesPerSecond: 2000));
        await using var device = await fixture.ConnectAsync(new ClientSecurity("frugal", key, Tls: fixture.TrustingTls));
        var grain = device.Client.GetGrain<ISessionGrain>($"frugal/{Guid.NewGuid():N}");
        var info = await grain.OpenAsync(new SessionOptions(new OffloadBudget(1.0, 0), Tier: "premium"), Prompt);
        Assert.NotNull(info.Granted);
        Assert.Equal(SessionOptions.DefaultTier, info.Granted.Tier);
        Assert.Equal(0.1, info.Granted.Budget.TokenFraction);
        Assert.Equal(2000, info.Granted.Budget.MaxBytesPerSecond);
        // Asking for less than the ceiling gets what was asked.
        var modest = await grain.OpenAsync(new SessionOptions(new OffloadBudget(0.05, 500)), Prompt);
        Assert.Equal(0.05, modest.Granted!.Budget.TokenFraction);
        Assert.Equal(500, modest.Granted.Budget.MaxBytesPerSecond);
        await grain.CloseAsync();
    }

    [Fact]
    public async Task ARevokedKeyStopsWorking()
    {
        var key = await fixture.RegisterAsync("leaver", new DeviceLimits());
        await using var device = await fixture.ConnectAsync(new ClientSecurity("leaver", key, Tls: fixture.TrustingTls));
        var grain = device.Client.GetGrain<ISessionGrain>($"leaver/{Guid.NewGuid():N}");
        await grain.OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt);
        Assert.True(await fixture.Operator.GetGrain<IDeviceRecordGrain>("leaver").RevokeAsync());
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => grain.GetSnapshotAsync());
        Assert.Contains("not registered or its key is wrong", e.Message);
    }

    [Fact]
    public async Task OperatorMethodsNeedTheOperatorKeyAndBadRegistrationsAreRefused()
    {
        await using var stranger = await fixture.ConnectAsync(new ClientSecurity(OperatorKey: "guess", Tls: fixture.TrustingTls));
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => stranger.Client.GetGrain<IDeviceRecordGrain>("x").RegisterAsync(DeviceIdentity.Hash("k"), new DeviceLimits()));
        Assert.Contains("operator key", e.Message);
        var records = fixture.Operator;
        Assert.Contains("tier", (await Assert.ThrowsAsync<SyneraRequestException>(() => records.GetGrain<IDeviceRecordGrain>("x").RegisterAsync(DeviceIdentity.Hash("k"), new DeviceLimits("gold")))).Message);
        Assert.Contains("budget ceiling", (await Assert.ThrowsAsync<SyneraRequestException>(() => records.GetGrain<IDeviceRecordGrain>("x").RegisterAsync(DeviceIdentity.Hash("k"), new DeviceLimits(BudgetCeiling: 2)))).Message);
        Assert.Contains("SHA-256", (await Assert.ThrowsAsync<SyneraRequestException>(() => records.GetGrain<IDeviceRecordGrain>("x").RegisterAsync("plain-key", new DeviceLimits()))).Message);
        Assert.Contains("must not contain", (await Assert.ThrowsAsync<SyneraRequestException>(() => records.GetGrain<IDeviceRecordGrain>("a b").RegisterAsync(DeviceIdentity.Hash("k"), new DeviceLimits()))).Message);
    }

    [Fact]
    public async Task AClientThatDoesNotTrustTheClusterCertificateIsRefused()
    {
        // System trust only: a self-signed cluster certificate is refused, and the client says why at once.
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => fixture.ConnectAsync(new ClientSecurity(Tls: new ClientTls()), TimeSpan.FromSeconds(30)));
        Assert.Contains("TLS", e.Message);
        // A client pinned to another certificate is refused too.
        using var other = SelfSignedCertificate.Create("synera-test-cluster");
        e = await Assert.ThrowsAsync<InvalidOperationException>(() => fixture.ConnectAsync(new ClientSecurity(Tls: new ClientTls(other.Thumbprint)), TimeSpan.FromSeconds(30)));
        Assert.Contains("TLS", e.Message);
        // Plain TCP gets no connection.
        await Assert.ThrowsAsync<TimeoutException>(() => fixture.ConnectAsync(ClientSecurity.None, TimeSpan.FromSeconds(5)));
    }

    /// <summary>Sends one span with two drafts and waits for its verdict on the session's stream.</summary>
    internal static async Task<Verdict> VerifyOneSpanAsync(IClusterClient client, ISessionGrain grain, string sessionId, int epoch)
    {
        var verdicts = new TaskCompletionSource<Verdict>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handle = await client.GetStreamProvider(SyneraNames.StreamProvider).GetStream<Verdict>(StreamId.Create(SyneraNames.VerdictNamespace, sessionId))
            .SubscribeAsync((v, _) => { verdicts.TrySetResult(v); return Task.CompletedTask; });
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest(sessionId, 0, epoch, Prompt.Length, [], [5, 6], [])));
        var verdict = await verdicts.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await handle.UnsubscribeAsync();
        return verdict;
    }
}

/// <summary>The verifier's queue quota per device.</summary>
public class QueueQuotaTests
{
    [Fact]
    public void OneDeviceCannotFillTheSharedQueue()
    {
        var options = new VerifierOptions { MaxQueuedSpansPerDevice = 8, MaxQueuedRequests = 100 };
        var scheduler = new ContinuousBatchScheduler(options);
        EngineRequest Span(string session, int i) => new(new VerifyRequest(session, i, 0, 10 + i, [], [5], []), 0, 500);
        // A greedy device spreads its spans over sessions: the quota counts the device, not the session.
        for (int i = 0; i < 8; i++) Assert.True(scheduler.TryAdd(Span($"greedy/{i % 3}", i)));
        Assert.False(scheduler.TryAdd(Span("greedy/9", 9)));
        Assert.True(scheduler.TryAdd(Span("polite/0", 0)));   // everyone else is still served
        Assert.Equal(9, scheduler.NumWaiting);
        // Released (or served) spans free the device's places: greedy/0 held spans 0, 3 and 6.
        Assert.Equal(3, scheduler.RemoveSession("greedy/0").Count);
        Assert.True(scheduler.TryAdd(Span("greedy/9", 10)));
    }
}

using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;

namespace Synera.Tests;

/// <summary>
/// The trust boundary between devices (Orleans clients of the gateways) and the cluster: internal methods refuse
/// clients, and a poisoned request that reaches the shared engine fails on its own without touching other sessions.
/// </summary>
[Collection(ClusterCollection.Name)]
public class TrustBoundaryTests(ClusterFixture fixture)
{
    private static readonly int[] Prompt = [1, .. TestModels.Tokenizer.Encode("user: What is 2+2?\nassistant: ")];

    [Fact]
    public async Task ClientsCannotCallInternalMethodsAndNothingChanges()
    {
        var grain = fixture.Client.GetGrain<ISessionGrain>("trust/forged");
        var info = await grain.OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt);
        var before = await grain.GetSnapshotAsync();
        // A forged verdict claiming the LLM accepted five tokens, a direct enqueue that skips the session grain's checks,
        // the same verdict through a silo's verdict relay, a release of the session's verifier state (at its verifier and at
        // the silo's intake), an enqueue through the intake, a charge and a refund on another device's account.
        var forged = new Verdict("trust/forged", 0, before.Epoch, VerdictKind.Verified, Prompt.Length, 5, -1, 7, Prompt.Length + 5, 1, null);
        var verifier = fixture.Client.GetGrain<IVerifierGrain>(info.VerifierId);
        var device = fixture.Client.GetGrain<IDeviceGrain>("trust");
        var intake = fixture.Client.GetGrain<IVerifierIntakeGrain>(fixture.Cluster.SiloServices.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString());
        var calls = new (string what, Func<Task> call)[]
        {
            ("OnVerdictAsync", () => grain.OnVerdictAsync(forged)),
            ("DeliverAsync", () => fixture.Client.GetGrain<IVerdictRelayGrain>(info.VerifierId).DeliverAsync([new RelayedVerdict(forged)])),
            ("EnqueueAsync", () => verifier.EnqueueAsync(new VerifyRequest("trust/forged", 0, 0, Prompt.Length, [], [5], []), null, null)),
            ("ReleaseSessionAsync", () => verifier.ReleaseSessionAsync("trust/forged")),
            ("ContactAsync", () => verifier.ContactAsync()),
            ("EnqueueAsync", () => intake.EnqueueAsync([new IntakeRequest(new VerifyRequest("trust/forged", 0, 0, Prompt.Length, [], [5], []), null, null)])),
            ("ReleaseSessionAsync", () => intake.ReleaseSessionAsync("trust/forged")),
            ("GetSessionActivityAsync", () => intake.GetSessionActivityAsync("trust/forged")),
            ("GetSessionActivityAsync", () => verifier.GetSessionActivityAsync("trust/forged")),
            ("TryChargeAsync", () => device.TryChargeAsync(1)),
            ("RefundAsync", () => device.RefundAsync(100)),
            ("RecordProgressAsync", () => device.RecordProgressAsync(new ProgressReport(1000, 0, 0, [], 0.5), 0.1)),
        };
        foreach (var (what, call) in calls)
        {
            var e = await Assert.ThrowsAsync<SyneraRequestException>(call);
            Assert.Contains(what, e.Message);
            Assert.Contains("internal to the cluster", e.Message);
        }
        Assert.Equal(before.CommittedTokenIds, (await grain.GetSnapshotAsync()).CommittedTokenIds);
        Assert.Null(await device.GetAccountAsync());   // no account was created or credited
        // Device-facing methods still work for the client, and internal ones from inside the cluster.
        Assert.True(await fixture.Cluster.SiloServices.GetRequiredService<IGrainFactory>().GetGrain<IVerifierGrain>(info.VerifierId).GetModelInfoAsync() is not null);
        await grain.CloseAsync();
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-5)]
    [InlineData(0)]
    [InlineData(1e9)]
    public async Task LatencyTargetsThatWouldJumpTheQueueAreRefused(double target)
    {
        var grain = fixture.Client.GetGrain<ISessionGrain>($"trust/latency-{Guid.NewGuid():N}");
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => grain.OpenAsync(new SessionOptions(OffloadBudget.Full, LatencyTargetMs: target), Prompt));
        Assert.Contains("latency target", e.Message);
    }

    [Fact]
    public void PoisonedRequestFailsOnItsOwnAndTheBatchServesEveryoneElse()
    {
        using var h = new EngineHarness(TestModels.TinyTarget);
        var vocab = h.Runner.Info.VocabSize;
        var good = new VerifyRequest("good", 0, 0, Prompt.Length, [], [5, 6], []);
        Assert.Equal(EnqueueStatus.Queued, h.Engine.Enqueue(good, EngineHarness.Setup(Prompt)));
        var poisoned = new (VerifyRequest request, SessionSetup setup, string why)[]
        {
            (new VerifyRequest("bad", 0, 0, Prompt.Length, [], [5, vocab], []), EngineHarness.Setup(Prompt), "vocabulary"),
            (new VerifyRequest("bad", 0, 0, Prompt.Length, [-1], [5], []), EngineHarness.Setup(Prompt), "vocabulary"),
            (new VerifyRequest("bad", 0, 0, Prompt.Length, [], [5], [1.5f]), EngineHarness.Setup(Prompt), "probability"),
            (new VerifyRequest("bad", 0, 0, Prompt.Length, [], [.. Enumerable.Repeat(5, 4096)], []), EngineHarness.Setup(Prompt), "exceeds"),
            (new VerifyRequest("bad", 0, 0, Prompt.Length, [], [5], []), EngineHarness.Setup(Prompt) with { LatencyTargetMs = double.NaN }, "latency"),
            (new VerifyRequest("bad", 0, 0, Prompt.Length, [], [5], []), EngineHarness.Setup(Prompt) with { Sampling = new SamplingSettings(float.NaN) }, "temperature"),
            (new VerifyRequest("bad", 0, 0, Prompt.Length, [], [5], []), EngineHarness.Setup([.. Prompt, vocab + 3]), "setup holds"),
        };
        foreach (var (request, setup, why) in poisoned)
            Assert.Contains(why, Assert.Throws<SyneraRequestException>(() => h.Engine.Enqueue(request, setup)).Message);
        h.RunUntilIdle();
        var verdict = Assert.Single(h.Verdicts);
        Assert.Equal("good", verdict.SessionId);
        Assert.Equal(VerdictKind.Verified, verdict.Kind);
        Assert.Equal(SessionActivity.NotHeld, h.Engine.ActivityOf("bad"));
    }
}

/// <summary>Quotas the cloud enforces per device, whatever the device asks.</summary>
[Collection(ClusterCollection.Name)]
public class DeviceQuotaTests(ClusterFixture fixture)
{
    private static readonly int[] Prompt = [1, .. TestModels.Tokenizer.Encode("user: What is 2+2?\nassistant: ")];

    [Fact]
    public async Task ADeviceCannotHoldMoreThanItsQuotaOfOpenSessions()
    {
        var quota = new Synera.Grains.Options.VerifierOptions().MaxSessionsPerDevice;
        var device = $"quota{Guid.NewGuid():N}";
        var open = new List<ISessionGrain>();
        for (int i = 0; i < quota; i++)
        {
            var session = fixture.Client.GetGrain<ISessionGrain>($"{device}/{i}");
            await session.OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt);
            open.Add(session);
        }
        await open[0].OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt);   // re-opening one it holds is not a new session
        var extra = fixture.Client.GetGrain<ISessionGrain>($"{device}/extra");
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => extra.OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt));
        Assert.Contains("quota", e.Message);
        // Another device is not affected, and closing one session frees a place.
        await fixture.Client.GetGrain<ISessionGrain>($"other{Guid.NewGuid():N}/0").OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt);
        await open[^1].CloseAsync();
        await extra.OpenAsync(new SessionOptions(OffloadBudget.Full), Prompt);
        foreach (var s in open.Take(quota - 1).Append(extra)) await s.CloseAsync();
    }
}

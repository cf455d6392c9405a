using Microsoft.Extensions.DependencyInjection;
using System.Threading.Channels;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Verification;

namespace Synera.Tests;

/// <summary>The walking skeleton: client → SessionGrain → VerifierGrain → verdict stream → client, and bad input.</summary>
[Collection(ClusterCollection.Name)]
public class RequestPathTests(ClusterFixture fixture)
{
    /// <summary>The silo's own grain factory: calls from inside the cluster, which internal methods accept.</summary>
    private IGrainFactory Internal => fixture.Cluster.SiloServices.GetRequiredService<IGrainFactory>();

    private static readonly int[] Prompt = [1, .. TestModels.Tokenizer.Encode("user: What is 1+1?\nassistant: ")];

    private async Task<(ISessionGrain grain, Channel<Verdict> verdicts, SessionInfo info)> OpenAsync(string id, SessionOptions? options = null)
    {
        var session = await OpenedSession.OpenAsync(fixture.Client, id, options ?? new SessionOptions(OffloadBudget.Full), Prompt);
        return (session.Grain, session.Verdicts, session.Info);
    }

    [Fact]
    public async Task VerifyRequestComesBackAsAVerdictOnTheSessionStream()
    {
        var (grain, verdicts, info) = await OpenAsync("path-1");
        Assert.Equal(TestModels.Tokenizer.VocabSize, info.Model.VocabSize);
        var drafts = TestModels.Tokenizer.Encode("2");
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest("path-1", 0, info.Epoch, Prompt.Length, [], drafts, [0.6f])));
        var v = await verdicts.NextVerdictAsync();
        Assert.Equal(VerdictKind.Verified, v.Kind);
        Assert.Equal(0, v.Seq);
        Assert.InRange(v.NumAccepted, 0, 1);
        var snapshot = await grain.GetSnapshotAsync();
        Assert.Equal(v.CommittedLength, snapshot.CommittedTokenIds.Length);
        Assert.Equal(Prompt, snapshot.CommittedTokenIds.Take(Prompt.Length));
    }

    [Fact]
    public async Task SessionThatLosesTrackOfAVerdictResynchronisesInsteadOfRefusingTheDevice()
    {
        // A verdict for a span this grain has no record of (its activation lost unpersisted spans, or a
        // verdict went missing): the grain cannot extend its committed tokens, so it starts a new epoch at
        // them, tells the device with a Failed verdict, and takes the device's next span from there.
        var (grain, verdicts, info) = await OpenAsync("path-resync");
        var drafts = TestModels.Tokenizer.Encode("2");
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest("path-resync", 0, info.Epoch, Prompt.Length, [], drafts, [0.6f])));
        Assert.Equal(VerdictKind.Verified, (await verdicts.NextVerdictAsync()).Kind);
        var before = await grain.GetSnapshotAsync();
        // Verdicts come from inside the cluster (a device may not send them): inject it through the silo's grain factory.
        await Internal.GetGrain<ISessionGrain>("path-resync").OnVerdictAsync(new Verdict("path-resync", 7, before.Epoch, VerdictKind.Verified, before.CommittedTokenIds.Length, 1, -1, 5,
            before.CommittedTokenIds.Length + 1, 1, null));
        Assert.Equal(7, (await verdicts.NextVerdictAsync()).Seq);            // still published: the device decides what it means to it
        var resync = await verdicts.NextVerdictAsync();
        Assert.Equal(VerdictKind.Failed, resync.Kind);
        Assert.Equal(before.Epoch + 2, resync.Epoch);                  // past any epoch a verdict still on its way can carry
        Assert.Equal(before.CommittedTokenIds.Length, resync.CommittedLength);
        var after = await grain.GetSnapshotAsync();
        Assert.Equal(before.CommittedTokenIds, after.CommittedTokenIds);   // nothing committed is lost or invented
        // A rejection the verifier made before the resync (its epoch one past the old one) arrives late: it is passed on as
        // old news, not taken for a verdict of the new epoch, which would find no span and resynchronise again.
        await Internal.GetGrain<ISessionGrain>("path-resync").OnVerdictAsync(new Verdict("path-resync", 0, before.Epoch + 1, VerdictKind.Verified, before.CommittedTokenIds.Length, 0, 5, -1,
            before.CommittedTokenIds.Length + 1, 1, null));
        var late = await verdicts.NextVerdictAsync();
        Assert.Equal((0L, VerdictKind.Verified, before.Epoch + 1), (late.Seq, late.Kind, late.Epoch));
        Assert.Equal(before.CommittedTokenIds, (await grain.GetSnapshotAsync()).CommittedTokenIds);
        // The device resends from the grain's committed length in the new epoch; the verifier gets the history again.
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest("path-resync", 1, resync.Epoch, resync.CommittedLength, [], drafts, [0.6f])));
        var next = await verdicts.NextVerdictAsync();
        Assert.Equal(VerdictKind.Verified, next.Kind);
        Assert.Equal(1, next.Seq);
        Assert.Equal(next.CommittedLength, (await grain.GetSnapshotAsync()).CommittedTokenIds.Length);
    }

    [Fact]
    public async Task VerifierThatLosesTheSessionMidGenerationIsNoticedAndTheDeviceResynchronised()
    {
        // A cloud generation keeps its request in flight until it ends. The verifier then forgets the session, as a
        // restarted or failed-over verifier silo would: no verdict will ever come for it. The grain's in-flight
        // watch (every 250 ms here) asks the verifier, finds the session gone, and resynchronises the device.
        // Sampled at temperature 1, the tiny random model ends a generation at any token with probability ~1/vocab;
        // when one ends before the verifier forgets the session there is nothing to notice, and the test asks for
        // another (at most 8 tries).
        var (grain, verdicts, info) = await OpenAsync("path-lost", new SessionOptions(OffloadBudget.Full, Temperature: 1f, Seed: 7));
        var verifier = Internal.GetGrain<IVerifierGrain>(info.VerifierId);   // an internal method: called from inside the cluster
        long seq = 0;
        Verdict? resync = null;
        for (int attempt = 0; attempt < 8 && resync is null; attempt++)
        {
            var committed = (await grain.GetSnapshotAsync()).CommittedTokenIds.Length;
            int maxNew = info.Model.MaxSequenceLength - committed - 1;
            if (maxNew < 1) break;
            Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest("path-lost", seq++, info.Epoch, committed, [], [], [], maxNew)));
            Assert.Equal(VerdictKind.Generated, (await verdicts.NextVerdictAsync()).Kind);
            await verifier.ReleaseSessionAsync("path-lost");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Verdict v;
            do v = await verdicts.NextVerdictAsync();   // tokens generated before the release come first
            while (v.Kind == VerdictKind.Generated);
            if (v.Kind == VerdictKind.GenerationEnded) continue;   // ended before the verifier forgot it
            Assert.Equal(VerdictKind.Failed, v.Kind);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the lost session was noticed after {clock.Elapsed.TotalSeconds:F1} s");
            resync = v;
        }
        Assert.NotNull(resync);
        Assert.Contains("no longer holds", resync.Message);
        Assert.True(resync.Epoch >= info.Epoch + 2, $"resynchronised to epoch {resync.Epoch} from {info.Epoch}: a verdict still on its way could carry it");
        var snapshot = await grain.GetSnapshotAsync();
        Assert.Equal(snapshot.CommittedTokenIds.Length, resync.CommittedLength);   // every generated token that was shown stays
        // The device goes on from there; the verifier gets the history again.
        var drafts = TestModels.Tokenizer.Encode("2");
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest("path-lost", seq, resync.Epoch, resync.CommittedLength, [], drafts, [0.6f])));
        var next = await verdicts.NextVerdictAsync();
        Assert.Equal(VerdictKind.Verified, next.Kind);
        Assert.Equal(seq, next.Seq);
    }

    [Fact]
    public async Task ByteBudgetRefusesSpansBeyondItsRateWithoutLosingAnything()
    {
        // 100 B/s with 2 s of burst at the grain: four 46-byte context spans fit, the fifth is over budget.
        var (grain, verdicts, info) = await OpenAsync("path-bytes", new SessionOptions(new OffloadBudget(1, MaxBytesPerSecond: 100)));
        var token = TestModels.Tokenizer.Encode("2")[0];
        VerifyRequest Span(int seq) => new("path-bytes", seq, info.Epoch, Prompt.Length + seq, [token], [], []);
        Assert.Equal(46, Span(0).WireBytes);
        for (int seq = 0; seq < 4; seq++) Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(Span(seq)));
        Assert.Equal(EnqueueStatus.OverBudget, await grain.VerifyAsync(Span(4)));
        for (int i = 0; i < 4; i++) await verdicts.NextVerdictAsync();
        Assert.Equal(Prompt.Length + 4, (await grain.GetSnapshotAsync()).CommittedTokenIds.Length);   // the refused span changed nothing
        // The budget refills at its rate: the same span (a new sequence number) goes through soon after.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var retry = Span(4) with { Seq = 5 };
        EnqueueStatus status;
        while ((status = await grain.VerifyAsync(retry)) == EnqueueStatus.OverBudget && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(100);
            retry = retry with { Seq = retry.Seq + 1 };
        }
        Assert.Equal(EnqueueStatus.Queued, status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the budget took {clock.Elapsed.TotalSeconds:F1} s to admit 46 bytes at 100 B/s");
        Assert.Equal(Prompt.Length + 5, (await verdicts.NextVerdictAsync()).CommittedLength);
    }

    /// <summary>
    /// Under load every session of a tier gets the same cut, and a heavier tier a smaller one: with the verifier's
    /// factor f, premium (weight 2) keeps f^(1/2) of its budget, default f, economy (weight ½) f². The verifier is
    /// pushed over its p99 target by feeding its real load controller latencies far above it.
    /// </summary>
    [Fact]
    public async Task UnderLoadTiersAreCutByTheirWeightAndSessionsOfATierAlike()
    {
        var tiers = new[] { "premium", "default", "default", "economy" };
        var grains = new List<ISessionGrain>();
        for (int i = 0; i < tiers.Length; i++)
        {
            var grain = fixture.Client.GetGrain<ISessionGrain>($"path-tier-{i}");
            await grain.OpenAsync(new SessionOptions(new OffloadBudget(0.4), Tier: tiers[i]), Prompt);
            grains.Add(grain);
        }
        var load = fixture.Cluster.SiloServices.GetRequiredService<VerificationEngine>().Load;
        for (int i = 0; i < 50; i++) load.RecordLatency(10_000);
        Thread.Sleep(120);
        load.Update(1);
        var advice = new List<BudgetAdvice>();
        foreach (var grain in grains) advice.Add(await grain.ReportProgressAsync(new ProgressReport(10, 1, 0, [0.5f], 0.3)));
        for (int i = 0; i < tiers.Length; i++)
        {
            var f = advice[i].VerifierLoadFactor;
            Assert.True(f < 1, $"the verifier's factor is {f}: the load did not register");
            var expected = tiers[i] switch { "premium" => Math.Sqrt(f), "economy" => f * f, _ => f };
            Assert.Equal(expected, advice[i].LoadFactor, 9);
            Assert.Equal(0.4 * expected, advice[i].EffectiveFraction, 9);
        }
        Assert.True(advice[0].EffectiveFraction > advice[1].EffectiveFraction && advice[1].EffectiveFraction > advice[3].EffectiveFraction);
        // Let the factor recover (the idle engine raises it every 100 ms) so later tests see an unloaded verifier.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (load.LoadFactor < 1 && DateTime.UtcNow < deadline) await Task.Delay(50);
        foreach (var grain in grains) await grain.CloseAsync();
    }

    [Fact]
    public async Task UnknownTierIsAClearError()
    {
        var grain = fixture.Client.GetGrain<ISessionGrain>("path-tier-unknown");
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => grain.OpenAsync(new SessionOptions(OffloadBudget.Full, Tier: "gold"), Prompt));
        Assert.Contains("tier 'gold'", e.Message);
        Assert.Contains("premium", e.Message);
    }

    [Fact]
    public async Task NegativeByteBudgetIsAClearError()
    {
        var grain = fixture.Client.GetGrain<ISessionGrain>("path-bytes-bad");
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => grain.OpenAsync(new SessionOptions(new OffloadBudget(0.1, MaxBytesPerSecond: -5)), Prompt));
        Assert.Contains("byte budget", e.Message);
    }

    [Fact]
    public async Task CloudGenerationStreamsTokensThenEnds()
    {
        var (grain, verdicts, info) = await OpenAsync("path-llm");
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest("path-llm", 0, info.Epoch, Prompt.Length, [], [], [], MaxNewTokens: 5)));
        var kinds = new List<VerdictKind>();
        Verdict v;
        do { v = await verdicts.NextVerdictAsync(); kinds.Add(v.Kind); } while (v.Kind != VerdictKind.GenerationEnded);
        Assert.InRange(kinds.Count(k => k == VerdictKind.Generated), 1, 5);
        var snapshot = await grain.GetSnapshotAsync();
        Assert.Equal(Prompt.Length + kinds.Count(k => k == VerdictKind.Generated), snapshot.CommittedTokenIds.Length);
    }

    [Fact]
    public async Task UnknownSessionIsAClearError()
    {
        var grain = fixture.Client.GetGrain<ISessionGrain>("never-opened");
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => grain.VerifyAsync(new VerifyRequest("never-opened", 0, 0, 3, [], [5], [0.5f])));
        Assert.Contains("unknown session", e.Message);
    }

    public static TheoryData<string, Func<VerifyRequest, VerifyRequest>, string> BadRequests() => new()
    {
        { "empty", r => r with { DraftTokenIds = [], DraftProbs = [] }, "empty span" },
        { "oversized", r => r with { DraftTokenIds = Enumerable.Repeat(5, 17).ToArray(), DraftProbs = Enumerable.Repeat(0.5f, 17).ToArray() }, "exceeds the maximum of 16" },
        { "vocab", r => r with { DraftTokenIds = [5, 100_000] , DraftProbs = [0.5f, 0.5f] }, "outside the vocabulary" },
        { "negative-id", r => r with { ContextTokenIds = [-1] }, "outside the vocabulary" },
        { "nan", r => r with { DraftProbs = [float.NaN] }, "not in [0, 1]" },
        { "negative-prob", r => r with { DraftProbs = [-0.1f] }, "not in [0, 1]" },
        { "probs-count", r => r with { DraftProbs = [0.5f, 0.5f] }, "draft probabilities" },
        { "position", r => r with { StartPosition = 3 }, "next position" },
        { "future-epoch", r => r with { Epoch = 99 }, "ahead of the session" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task MalformedRequestsAreRefusedAndNothingCommittedChanges(string name, Func<VerifyRequest, VerifyRequest> spoil, string expected)
    {
        var id = $"bad-{name}";
        var (grain, verdicts, info) = await OpenAsync(id);
        var good = new VerifyRequest(id, 0, info.Epoch, Prompt.Length, [], [5], [0.5f]);
        var before = await grain.GetSnapshotAsync();
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => grain.VerifyAsync(spoil(good)));
        Assert.Contains(expected, e.Message);
        Assert.Equal(before.CommittedTokenIds, (await grain.GetSnapshotAsync()).CommittedTokenIds);
        // The session and the silo still work: the good request goes through.
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(good));
        Assert.Equal(VerdictKind.Verified, (await verdicts.NextVerdictAsync()).Kind);
    }

    [Fact]
    public async Task SequenceNumberOutOfOrderIsRefused()
    {
        var (grain, verdicts, info) = await OpenAsync("seq");
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest("seq", 5, info.Epoch, Prompt.Length, [5], [], [])));
        await verdicts.NextVerdictAsync();
        var e = await Assert.ThrowsAsync<SyneraRequestException>(() => grain.VerifyAsync(new VerifyRequest("seq", 5, info.Epoch, Prompt.Length + 1, [5], [], [])));
        Assert.Contains("out of order", e.Message);
    }
}

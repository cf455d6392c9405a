using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;
using Synera.Grains.Options;
using Synera.Grains.Placement;
using Synera.Grains.Verification;

namespace Synera.Grains;

/// <summary>
/// One answer session: validates every request before it can reach the LLM, charges its spans to the device's long-run
/// account (<see cref="DeviceGrain"/>), routes them to the session's verifier (sticky, so the verifier's KV cache stays
/// warm), keeps the committed tokens, and publishes verdicts on the session's stream <c>verdicts/{sessionId}</c>.
/// </summary>
[FrontendPlacement]   // off the verifier silos: their cores belong to the engine
public sealed class SessionGrain(
    [PersistentState("session", SyneraNames.SessionStorage)] IPersistentState<SessionState> state,
    IOptions<VerifierOptions> verifierOptions,
    ILocalSiloDetails silo,
    VerifierIntakeClient intakes,
    ILogger<SessionGrain> logger) : Grain, ISessionGrain
{
    // The intake on the verifier activation's silo, learned when the session opens: spans go there batched with this
    // silo's other sessions' spans. Not persisted: a reactivated grain (and one whose intake failed) calls its verifier
    // activation, which placement puts on a live verifier silo.
    private string? intake;

    // This silo's verdict relay: the verifier batches this session's verdicts with the others bound here.
    private string? verdictRelay;
    private string VerdictRelay => verdictRelay ??= silo.SiloAddress.ToParsableString();

    private IAsyncStream<Verdict>? stream;
    private VerifierLoad? lastLoad;
    private ByteRateLimiter? byteLimiter;    // the session's bytes/s cap, enforced here too (2 s of burst: the device spends first)
    private IGrainTimer? inFlightWatch;      // runs while spans are in flight
    // The verifier answered Stale to a span of this grain's current epoch: it has rejected a draft (a new epoch) whose verdict
    // is still on its way here, e.g. waiting for its continuation. The device's spans of that epoch are stale too until the
    // verdict arrives; without this they would reach the position check one by one and look like a lost verdict.
    private int supersededEpoch = -1;

    private (string Id, IVerifierGrain Grain)? verifier;   // resolved once per verifier id (resolving it per call showed in profiles)

    private string? sessionId;
    private string SessionId => sessionId ??= this.GetPrimaryKeyString();   // a new string per call otherwise
    private IVerifierGrain Verifier
    {
        get
        {
            var id = state.State.VerifierId;
            if (verifier is { } known && known.Id == id) return known.Grain;
            try
            {
                var grain = GrainFactory.GetGrain<IVerifierGrain>(id);
                verifier = (id, grain);
                return grain;
            }
            catch (ArgumentException e)
            {
                // Orleans resolves the interface through the cluster manifest, which names no verifier grain while no
                // verifier silo is a member: a cluster still starting, or one whose verifiers all left.
                throw new NoVerifierException($"no verifier silo is in the cluster (none has joined yet, or all have left): {e.Message}");
            }
        }
    }

    /// <summary>The device this session belongs to: the key's part before the first '/' (<c>{deviceId}/{answer}</c>).</summary>
    private string DeviceId => DeviceIdentity.DeviceOfSession(SessionId);
    private IDeviceGrain Device => GrainFactory.GetGrain<IDeviceGrain>(DeviceId);

    private IAsyncStream<Verdict> Stream => stream ??= this.GetStreamProvider(SyneraNames.StreamProvider)
        .GetStream<Verdict>(StreamId.Create(SyneraNames.VerdictNamespace, SessionId));

    async Task<SessionInfo> ISessionGrain.OpenAsync(SessionOptions options, int[] promptTokenIds)
    {
        if (promptTokenIds is null || promptTokenIds.Length == 0) throw new SyneraRequestException("the prompt must hold at least one token");
        if (options is null) throw new SyneraRequestException("no session options given");
        // A registered device gets what its record grants, whatever it asks: the record's tier, at most its budget
        // ceiling and byte cap. Only an unregistered device (a cluster that does not require keys) chooses its own.
        if (await GrainFactory.GetGrain<IDeviceRecordGrain>(DeviceId).GetAsync() is { } record) options = Grant(options, record);
        if (options.Budget.TokenFraction is < 0 or > 1 || double.IsNaN(options.Budget.TokenFraction))
            throw new SyneraRequestException($"budget fraction {options.Budget.TokenFraction} is outside [0, 1]");
        if (options.Sampling.Problem() is { } sampling) throw new SyneraRequestException(sampling);
        if (!(options.LatencyTargetMs >= SessionOptions.MinLatencyTargetMs && options.LatencyTargetMs <= SessionOptions.MaxLatencyTargetMs))
            throw new SyneraRequestException($"latency target {options.LatencyTargetMs} ms is outside [{SessionOptions.MinLatencyTargetMs}, {SessionOptions.MaxLatencyTargetMs}] ms");
        if (verifierOptions.Value.TierProblem(options.Tier) is { } badTier) throw new SyneraRequestException(badTier);
        var s = state.State;
        // The session's verifier activation: placed on the least-loaded verifier silo at its first call, then sticky.
        s.VerifierId = SessionId;
        var contact = await Verifier.ContactAsync();
        var model = contact.Model;
        if (RequestChecks.Tokens(promptTokenIds, model, "prompt") is { } badPrompt) throw new SyneraRequestException(badPrompt);
        if (promptTokenIds.Length > model.MaxSequenceLength - 2)
            throw new SyneraRequestException($"the prompt is {promptTokenIds.Length} tokens; the model's context window holds {model.MaxSequenceLength}, so at most {model.MaxSequenceLength - 2} can be prompt");
        if (options.Budget.MaxBytesPerSecond < 0 || double.IsNaN(options.Budget.MaxBytesPerSecond))
            throw new SyneraRequestException($"byte budget {options.Budget.MaxBytesPerSecond} B/s must be ≥ 0 (0 = none)");
        // Every check passed: count the session against the device's quota before anything changes.
        if (!await Device.TryOpenSessionAsync(SessionId))
            throw new SyneraRequestException($"device '{DeviceId}' already has {verifierOptions.Value.MaxSessionsPerDevice} sessions open (its quota): close one first");
        // Re-opening an open session (a conversation's next turn) keeps the verifier's session: the new prompt's setup
        // goes with the first span, and the verifier keeps the K/V of the prefix the old and new histories share.
        byteLimiter?.Dispose();
        byteLimiter = options.Budget.CreateByteLimiter(burstSeconds: 2);
        s.IsOpen = true;
        s.Options = options;
        s.Model = model;
        s.CommittedTokenIds = [.. promptTokenIds];
        s.Epoch++;
        s.PendingEnd = promptTokenIds.Length;
        s.LastSeq = -1;
        s.VerifierHasHistory = false;
        s.InFlight.Clear();
        ArmInFlightWatch();
        await state.WriteStateAsync();
        intake = contact.Intake;
        lastLoad = contact.Load;
        return new SessionInfo(SessionId, s.VerifierId, model, s.Epoch, TierLoadFactor(lastLoad), options);
    }

    /// <summary>The session options a registered device gets: its record's tier, budget ceiling and byte cap.</summary>
    private static SessionOptions Grant(SessionOptions asked, DeviceRecord record)
    {
        double askedBytes = asked.Budget?.MaxBytesPerSecond ?? 0;
        double bytes = record.MaxBytesPerSecond <= 0 ? askedBytes : askedBytes > 0 ? Math.Min(askedBytes, record.MaxBytesPerSecond) : record.MaxBytesPerSecond;
        return asked with { Tier = record.Tier, Budget = new OffloadBudget(Math.Min(asked.Budget?.TokenFraction ?? 0, record.BudgetCeiling), bytes) };
    }

    async Task<EnqueueStatus> ISessionGrain.VerifyAsync(VerifyRequest request)
    {
        var s = state.State;
        Validate(request);
        s.LastSeq = request.Seq;
        if (request.Epoch < s.Epoch || request.Epoch <= supersededEpoch) return EnqueueStatus.Stale;    // drafted before a rejection it had not yet seen
        if (request.StartPosition != s.PendingEnd)
        {
            // Same epoch, another position: this grain and the device disagree on what the cloud has (a verdict or a
            // refusal that one of them did not follow). The committed tokens are still a prefix of the truth:
            // resynchronise from them rather than refuse the device.
            await ResyncAsync($"span {request.Seq} starts at {request.StartPosition} but the session's next position is {s.PendingEnd}");
            return EnqueueStatus.Stale;
        }
        byteLimiter ??= s.Options.Budget.CreateByteLimiter(burstSeconds: 2);   // after a reactivation
        if (byteLimiter is not null && !byteLimiter.TrySpend(request.WireBytes)) return EnqueueStatus.OverBudget;
        // A span with drafts is one offload (the device sends one per flagged token); the device's long-run account
        // must allow it. Refused, the device keeps its own tokens: nothing committed changes.
        bool charged = request.DraftTokenIds.Length > 0 && s.Options.Budget.TokenFraction < 1;
        if (charged && !await Device.TryChargeAsync(s.Options.Budget.TokenFraction)) return EnqueueStatus.OverBudget;
        var status = await EnqueueAsync(request);
        if (charged && status != EnqueueStatus.Queued) await Device.RefundAsync(1);
        return status;
    }

    private async Task<EnqueueStatus> EnqueueAsync(VerifyRequest request)
    {
        var s = state.State;
        var setup = s.VerifierHasHistory ? null : Setup(request.StartPosition);
        EnqueueStatus status;
        try
        {
            status = await SendToVerifierAsync(request, setup);
        }
        catch (Exception e) when (TransportFailures.IsTransient(e) || intake is not null && e is not SyneraRequestException)
        {
            // (The intake is a shortcut to the verifier's silo: whatever goes wrong on it, the verifier activation is
            // placed again from the next span on.)
            intake = null;
            // The verifier's silo is stopping or gone: its queued spans went with it. Resynchronise at the committed
            // tokens; the device resends from there and the next call places the verifier on a live silo.
            await ResyncAsync($"the verifier could not be reached: {e.Message}");
            return EnqueueStatus.Stale;
        }
        if (status == EnqueueStatus.NeedsHistory)
        {
            // The verifier lost this session (failover or restart). Resend the history when nothing is in
            // flight; otherwise the in-flight spans are gone: start a new epoch and tell the device.
            if (request.StartPosition == s.CommittedTokenIds.Count)
                status = await SendToVerifierAsync(request, Setup(request.StartPosition));
            else
            {
                await ResyncAsync("verifier lost the session's in-flight spans");
                return EnqueueStatus.Stale;
            }
        }
        if (status == EnqueueStatus.Stale && request.Epoch == s.Epoch) supersededEpoch = s.Epoch;
        if (setup is not null || status == EnqueueStatus.Queued) s.VerifierHasHistory = status != EnqueueStatus.NeedsHistory;
        if (status == EnqueueStatus.Queued)
        {
            s.PendingEnd = request.StartPosition + request.NumTokens;
            s.InFlight.Add(new InFlightSpan
            {
                Seq = request.Seq, StartPosition = request.StartPosition, ContextTokenIds = request.ContextTokenIds, DraftTokenIds = request.DraftTokenIds,
                WaitingSinceUtc = DateTime.UtcNow,
            });
            // The oldest span changed (with more in flight it did not), or this activation has no watch yet (reactivated
            // with spans in flight that it read from storage).
            if (s.InFlight.Count == 1 || inFlightWatch is null) ArmInFlightWatch();
            // Not written now: the verdict's write persists the span with what it commits, and a grain deactivated in
            // between writes it then (OnDeactivateAsync). Only a frontend that dies with spans in flight loses them; its
            // session, reactivated elsewhere, finds the device's next span or their verdicts beyond what it knows and
            // resynchronises from the committed tokens, which every verdict wrote before the device saw it. (A profile
            // of the frontend under bench scale gave the two writes per span it had 14 % of its CPU.)
        }
        return status;
    }

    private Task<EnqueueStatus> SendToVerifierAsync(VerifyRequest request, SessionSetup? setup) => intake is { } key
        ? intakes.EnqueueAsync(key, request, setup, VerdictRelay)
        : Verifier.EnqueueAsync(request, setup, VerdictRelay);

    private Task ReleaseAtVerifierAsync() => intake is { } key
        ? GrainFactory.GetGrain<IVerifierIntakeGrain>(key).ReleaseSessionAsync(SessionId)
        : Verifier.ReleaseSessionAsync(SessionId);

    /// <summary>Spans still in flight are written when the grain deactivates (its silo leaving gracefully, or an idle
    /// collection), so a reactivation elsewhere follows their verdicts. Those written with a verdict are written again.</summary>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (state.State.IsOpen && state.State.InFlight.Count > 0)
        {
            try { await state.WriteStateAsync(cancellationToken); }
            catch (Exception e) { logger.LogWarning(e, "Session {Session}: writing its spans in flight on deactivation failed; a reactivation resynchronises", SessionId); }
        }
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>
    /// Points the in-flight watch at the oldest span in flight: it fires <see cref="VerifierOptions.InFlightCheckPeriod"/>
    /// after that span was sent (then every period while it stays in flight), and not at all while nothing is in flight.
    /// Moved on every span and verdict rather than ticking every period: a session answered within the period never
    /// fires it. (Ticking once a second per session, 384 ticks a second under <c>bench scale</c>, cost its frontend a fifth
    /// to a third of its CPU per verified span.)
    /// </summary>
    private void ArmInFlightWatch()
    {
        var s = state.State;
        if (!s.IsOpen || s.InFlight.Count == 0)
        {
            inFlightWatch?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }
        var period = verifierOptions.Value.InFlightCheckPeriod;
        var due = s.InFlight[0].WaitingSinceUtc + period - DateTime.UtcNow;
        if (due < TimeSpan.Zero) due = TimeSpan.Zero;
        if (inFlightWatch is null) inFlightWatch = this.RegisterGrainTimer(WatchInFlightAsync, new GrainTimerCreationOptions(due, period) { KeepAlive = true });
        else inFlightWatch.Change(due, period);
    }

    /// <summary>
    /// Spans in flight that will never be answered: the verifier lost the session (its silo restarted or failed over, or
    /// it expired the session), or it answered them and the verdict was lost on the way. The device would wait for its
    /// verdict timeout and then give up on the cloud; resynchronising lets it resend from the committed tokens at once.
    /// A span still queued or being judged is not lost, however long it waits: a resync would drop it and queue a re-prefill
    /// behind the same backlog (under bench scale, an opening burst of 384 sessions resynchronised a third of them when
    /// this check was a 5 s age limit).
    /// </summary>
    private async Task WatchInFlightAsync(CancellationToken cancellation)
    {
        var s = state.State;
        if (!s.IsOpen || s.InFlight.Count == 0 || DateTime.UtcNow - s.InFlight[0].WaitingSinceUtc < verifierOptions.Value.InFlightCheckPeriod)
        {
            ArmInFlightWatch();   // nothing in flight: disarmed; the oldest span not yet due: moved to when it is
            return;
        }
        var oldest = s.InFlight[0];
        string? why;
        try
        {
            // This grain is not reentrant: a verdict on its way here waits for this turn, so the engine counts it as owed (Busy).
            var activity = intake is { } key
                ? GrainFactory.GetGrain<IVerifierIntakeGrain>(key).GetSessionActivityAsync(SessionId)
                : Verifier.GetSessionActivityAsync(SessionId);
            why = await activity switch
            {
                SessionActivity.NotHeld => "the verifier no longer holds the session (restarted, failed over or expired it)",
                SessionActivity.Idle => $"the verifier answered every span it took, but span {oldest.Seq}'s verdict never arrived",
                _ => null,
            };
        }
        catch (Exception e) { why = $"the verifier cannot be reached: {e.Message}"; intake = null; }
        if (why is not null) await ResyncAsync(why);
    }

    private SessionSetup Setup(int startPosition)
    {
        var s = state.State;
        return new SessionSetup([.. s.CommittedTokenIds.Take(startPosition)], s.Epoch, s.Options.Sampling, s.Options.LatencyTargetMs);
    }

    /// <summary>Every check that protects the verifier and the committed state; throws before anything changes.</summary>
    private void Validate(VerifyRequest r)
    {
        var s = state.State;
        if (!s.IsOpen || s.Model is null) throw new SyneraRequestException($"unknown session '{SessionId}': open it before sending verify requests");
        if (r.SessionId != SessionId) throw new SyneraRequestException($"request names session '{r.SessionId}' but was sent to '{SessionId}'");
        if (r.Seq <= s.LastSeq) throw new SyneraRequestException($"sequence number {r.Seq} is out of order (last was {s.LastSeq})");
        // Only the q(x) rule reads draft probabilities; greedy and coupled verification need none on the wire.
        bool needsProbs = !s.Options.Sampling.IsGreedy && s.Options.Rule == SamplingRule.DraftProbability;
        if (needsProbs ? r.DraftProbs.Length != r.DraftTokenIds.Length : r.DraftProbs.Length != 0 && r.DraftProbs.Length != r.DraftTokenIds.Length)
            throw new SyneraRequestException($"{r.DraftTokenIds.Length} drafted tokens but {r.DraftProbs.Length} draft probabilities");
        if (r.MaxNewTokens > 0 && r.DraftTokenIds.Length > 0) throw new SyneraRequestException("a generation request carries no drafts");
        if (r.NumTokens == 0 && r.MaxNewTokens == 0) throw new SyneraRequestException("empty span: no context, no drafts, nothing to generate");
        if (RequestChecks.Span(r, s.Model) is { } problem) throw new SyneraRequestException(problem);
        if (r.Epoch > s.Epoch) throw new SyneraRequestException($"epoch {r.Epoch} is ahead of the session's epoch {s.Epoch}");
        if (r.Epoch == s.Epoch && r.StartPosition < s.CommittedTokenIds.Count)
            throw new SyneraRequestException($"span starts at {r.StartPosition}, inside the {s.CommittedTokenIds.Count} committed tokens; the session's next position is {s.PendingEnd}");
    }

    async Task ISessionGrain.OnVerdictAsync(Verdict verdict)
    {
        var s = state.State;
        if (!s.IsOpen) return;
        if (verdict.Epoch < s.Epoch)
        {
            // Left over from before this grain resynchronised the session (a verifier that lost it, or one cut off and
            // since replaced, answering late): fenced, nothing of it is committed. The device drops it too, by its epoch.
            if (verdict.Kind is VerdictKind.Verified or VerdictKind.Generated)
                logger.LogWarning("Session {Session}: fenced a {Kind} verdict of epoch {Old} (span {Seq}); the session is at epoch {Epoch} on verifier {Verifier}, nothing of it committed",
                    SessionId, verdict.Kind, verdict.Epoch, verdict.Seq, s.Epoch, s.VerifierId);
            await Stream.OnNextAsync(verdict);
            return;
        }
        var span = s.InFlight.Find(f => f.Seq == verdict.Seq);
        string? lostTrack = null;
        switch (verdict.Kind)
        {
            case VerdictKind.Verified when span is not null && span.StartPosition == s.CommittedTokenIds.Count:
                // Committed now: the span's context, the accepted drafts, then the correction if any.
                s.CommittedTokenIds.AddRange(span.ContextTokenIds);
                s.CommittedTokenIds.AddRange(span.DraftTokenIds.Take(verdict.NumAccepted));
                if (verdict.CorrectionTokenId >= 0) s.CommittedTokenIds.Add(verdict.CorrectionTokenId);
                s.CommittedTokenIds.AddRange(verdict.Continuation);   // the LLM's tokens after the correction
                break;
            case VerdictKind.Verified:
                lostTrack = span is null ? $"no record of span {verdict.Seq}" : $"span {verdict.Seq} starts at {span.StartPosition}, after {s.CommittedTokenIds.Count} committed tokens";
                break;
            case VerdictKind.Generated when verdict.NextTokenId >= 0:
                if (span is not null && span.ContextTokenIds.Length > 0 && span.StartPosition == s.CommittedTokenIds.Count)
                    s.CommittedTokenIds.AddRange(span.ContextTokenIds);
                if (span is not null) { span.ContextTokenIds = []; span.WaitingSinceUtc = DateTime.UtcNow; }
                s.CommittedTokenIds.Add(verdict.NextTokenId);
                break;
        }
        if (lostTrack is null && s.CommittedTokenIds.Count != verdict.CommittedLength && verdict.Kind is VerdictKind.Verified or VerdictKind.Generated)
            lostTrack = $"mirrored {s.CommittedTokenIds.Count} committed tokens, the verifier has {verdict.CommittedLength}";
        // A verdict settles its span and every span before it; a stale one only its own (the spans before it may
        // still be judged, e.g. when the engine found it stale in the same step as the one it follows).
        if (verdict.Kind == VerdictKind.Stale) s.InFlight.RemoveAll(f => f.Seq == verdict.Seq);
        else if (verdict.Kind != VerdictKind.Generated) s.InFlight.RemoveAll(f => f.Seq <= verdict.Seq);
        if (verdict.Epoch > s.Epoch)
        {
            // A rejection (or a failed batch): every later span was built on what it replaced. The verifier drops them
            // unrun, so their charges go back to the device's account (the device returns them on its side too).
            int voided = s.InFlight.Count(f => f.Seq > verdict.Seq && f.DraftTokenIds.Length > 0);
            if (voided > 0 && s.Options.Budget.TokenFraction < 1) await Device.RefundAsync(voided);
            s.Epoch = verdict.Epoch;
            s.PendingEnd = s.CommittedTokenIds.Count;
            s.InFlight.Clear();
        }
        else if (verdict.Kind is VerdictKind.Generated or VerdictKind.GenerationEnded)
        {
            s.PendingEnd = s.CommittedTokenIds.Count;
        }
        ArmInFlightWatch();
        await state.WriteStateAsync();
        await Stream.OnNextAsync(verdict);
        // This grain's committed tokens no longer follow the verifier's (a verdict was lost on the way, or the
        // activation lost spans it had not persisted). They are still a prefix of the truth: resynchronise the
        // device and the verifier from them rather than refuse the device's next span.
        if (lostTrack is not null) await ResyncAsync(lostTrack);
    }

    private async Task ResyncAsync(string why)
    {
        var s = state.State;
        // Past every epoch a verdict still on its way can carry: the verifier moves one epoch per rejection, and at most each
        // span in flight is rejected (plus a failed batch). A verdict from before this resync must not pass for a current one.
        s.Epoch += 2 + s.InFlight.Count;
        s.PendingEnd = s.CommittedTokenIds.Count;
        s.VerifierHasHistory = false;
        s.InFlight.Clear();
        ArmInFlightWatch();
        await state.WriteStateAsync();
        try
        {
            await ReleaseAtVerifierAsync();   // its queued spans are void; the next one brings the history
        }
        catch (Exception e)
        {
            // Unreachable (the reason for some resyncs): the device must hear of the new epoch all the same.
            logger.LogWarning(e, "Session {Session}: releasing it at its verifier failed", SessionId);
            intake = null;
        }
        logger.LogWarning("Session {Session} resynchronised at {Length} tokens, epoch {Epoch}: {Why}", SessionId, s.PendingEnd, s.Epoch, why);
        await Stream.OnNextAsync(new Verdict(SessionId, s.LastSeq, s.Epoch, VerdictKind.Failed, s.PendingEnd, 0, -1, -1, s.PendingEnd, 0, why));
    }

    async Task<BudgetAdvice> ISessionGrain.ReportProgressAsync(ProgressReport report)
    {
        var s = state.State;
        if (!s.IsOpen) throw new SyneraRequestException($"unknown session '{SessionId}'");
        // The account belongs to the device, not to this answer: one home for it, the device grain.
        var account = await Device.RecordProgressAsync(report, s.Options.Budget.TokenFraction);
        lastLoad = await Verifier.GetLoadAsync();
        var factor = TierLoadFactor(lastLoad);
        return new BudgetAdvice(s.Options.Budget.TokenFraction * factor, factor, account.Threshold, lastLoad.LoadFactor);
    }

    /// <summary>The verifier's load factor as this session's tier takes it (fair share within a tier).</summary>
    private double TierLoadFactor(VerifierLoad load) =>
        LoadController.ForTier(load.LoadFactor, verifierOptions.Value.WeightOf(state.State.Options.Tier) ?? 1.0);

    async Task<SessionSnapshot> ISessionGrain.ResyncAsync()
    {
        if (!state.State.IsOpen) throw new SyneraRequestException($"unknown session '{SessionId}'");
        await ResyncAsync("the device saw no verdict for its spans in flight");
        return Snapshot();
    }

    Task<SessionSnapshot> ISessionGrain.GetSnapshotAsync() => Task.FromResult(Snapshot());

    private SessionSnapshot Snapshot()
    {
        var s = state.State;
        return new SessionSnapshot(SessionId, s.IsOpen, [.. s.CommittedTokenIds], s.Epoch, s.VerifierId);
    }

    async Task ISessionGrain.CloseAsync()
    {
        byteLimiter?.Dispose();
        byteLimiter = null;
        await Device.CloseSessionAsync(SessionId);
        // A closed answer has nothing left to do here: free the activation now rather than after the collection age
        // (a device answering every few seconds would otherwise hold hundreds of idle activations).
        DeactivateOnIdle();
        if (!state.State.IsOpen) return;
        // Through the verifier activation, not the intake: releasing also ends the activation, which the spans through
        // the intake left idle (otherwise one per answer would wait out the collection age on the verifier silo).
        try { await Verifier.ReleaseSessionAsync(SessionId); }
        catch (NoVerifierException) { }   // no verifier silo left: none holds the session's K/V either
        await state.ClearStateAsync();
        state.State = new SessionState();
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Offloading;
using Synera.Tokenizer;

namespace Synera.DeviceClient.Generation;

/// <summary>
/// The device's generation loop for one request, shared by every mode (DESIGN §1.2, §3). The SLM drafts
/// every token; the policy flags some; a flagged token's span (everything since the cloud's last known
/// position) is sent and drafting goes on past it (stall-free, bounded lookahead). A rejection at position k
/// truncates the device KV cache to k, appends the LLM's correction and drops later drafts and spans.
/// Invariant: a token reaches the caller only when committed — verified, or never flagged and not behind
/// a pending verification — so nothing shown is ever withdrawn.
/// </summary>
internal sealed class GenerationLoop
{
    private sealed record PendingSpan(long Seq, int Start, int DraftStart, int End, double SentMs);

    private readonly OnnxDraftRunner runner;
    private readonly SyneraTokenizer tokenizer;
    private readonly StreamingDetokenizer detokenizer;    // committed tokens → whole characters, for onToken
    private readonly GenerationOptions options;
    private readonly ChannelReader<DeviceEvent> events;
    private readonly SpanSender sender;
    private readonly string sessionId;
    private readonly IOffloadPolicy policy;
    private readonly ImportanceScorer importance;
    private readonly TokenSampler sampler;
    private readonly Action<GeneratedToken> onToken;
    private readonly int maxSpanTokens, promptLength, maxTotal;

    private readonly List<int> tokens;
    private readonly List<bool> flagged = [], verified = [];
    private readonly List<float> draftProbs = [];
    // Per output token: who wrote it and the drafted token's confidence (kept through a correction), for the caller's provenance.
    private readonly List<(TokenOrigin origin, float? confidence)> provenance = [];
    private readonly Dictionary<int, float[]> flaggedDistributions = [];   // the draft's distribution at each flagged position
    private readonly List<double> verdictRoundTripMs = [];
    private readonly long[] correctionRanks = new long[GenerationStats.CorrectionRankBuckets];
    private long numAbandonedSteps;
    private readonly List<PendingSpan> pending = [];
    private readonly List<float> recentConfidences = [];
    private float[] nextLogits = [];              // reused: the hot loop copies logits here, it does not allocate them
    private readonly int[] oneToken = new int[1];
    private int committed, cloudEnd, epoch, round;
    private long seq;
    private bool finished, lastUncertain;
    private bool cloudLost;                            // a verdict timed out: the rest of this answer is the SLM's
    private int numVerdictTimeouts, numStallResyncs;
    private string? cloudError;                        // why the cloud was given up on, when a request failed
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private double lastCommitMs = -1, firstTokenMs = -1;
    private readonly List<double> interTokenMs = [];
    private long numWastedOffloads, numRefusedOffloads, numByteCapped, numOverBudget;
    private long numDrafted, numOffloaded, numJudged, numAccepted, numCorrections, numRequests;

    /// <summary>
    /// The runner-up branch. When a token is flagged, the likeliest correction is the draft's runner-up token, so the
    /// device also drafts on from it, one token per step alongside the main path (a batch of 2 on the phone's SLM, which
    /// is memory-bound: about the cost of one). If the cloud rejects the flagged token and corrects it to that runner-up,
    /// the branch's drafts are already there and the round trip costs no redrafting; otherwise the branch is dropped.
    /// One branch at a time, greedy synera only.
    /// </summary>
    private sealed class Branch(int position, int token, float[] nextLogits)
    {
        public int Position { get; } = position;     // the flagged token's position
        public int Token { get; } = token;           // the runner-up drafted there
        public List<int> Tokens { get; } = [];       // drafted after it
        public List<float[]> Probabilities { get; } = [];
        public float[] NextLogits { get; set; } = nextLogits;
    }
    private readonly OnnxDraftRunner? branchRunner;
    private readonly TokenSampler branchSampler = new(SamplingSettings.Greedy);   // the branch exists only in greedy synera
    private Branch? branch;
    private long numBranchSteps, numBranchHits, numBranchTokensAdopted;
    private long numCloudContinuationTokens;      // the LLM's tokens that came with corrections

    public GenerationLoop(OnnxDraftRunner runner, SyneraTokenizer tokenizer, GenerationOptions options, int[] promptIds, int epoch,
        int maxSpanTokens, int maxSequenceLength, string sessionId, ChannelReader<DeviceEvent> events, SpanSender sender, Action<GeneratedToken> onToken,
        IOffloadPolicy policy, OnnxDraftRunner? branchRunner = null)
    {
        this.branchRunner = options.Mode == GenerationMode.Synera && options.Sampling.IsGreedy && options.DraftRunnerUp ? branchRunner : null;
        this.runner = runner; this.tokenizer = tokenizer; detokenizer = tokenizer.NewStream(); this.options = options; this.events = events; this.sender = sender;
        this.sessionId = sessionId; this.onToken = onToken; this.epoch = epoch; this.maxSpanTokens = maxSpanTokens;
        tokens = [.. promptIds];
        promptLength = committed = cloudEnd = promptIds.Length;
        maxTotal = Math.Min(promptLength + options.MaxNewTokens, Math.Min(maxSequenceLength, runner.MaxLength) - 1);
        this.policy = policy;
        importance = new ImportanceScorer(options.UseImportance);
        sampler = new TokenSampler(options.Sampling);
    }

    public IOffloadPolicy Policy => policy;

    /// <summary>Called every <see cref="ProgressEvery"/> committed tokens with the progress since the last call
    /// (<see cref="TakeProgressReport"/>); the caller flushes the rest when the answer ends.</summary>
    public Action<ProgressReport>? OnProgress { get; init; }

    /// <summary>The device's bytes/s cap on offloading, when it has one.</summary>
    public ByteRateLimiter? ByteLimiter { get; init; }

    public const int ProgressEvery = 32;
    private long numCharged, chargedAtLastReport;     // offloads sent, net of refused ones: what the account spent
    private int committedSinceReport;

    public async Task RunAsync(CancellationToken cancellation)
    {
        runner.Reset();
        policy.OnAnswerStart();
        nextLogits = new float[runner.VocabSize];
        runner.Forward(tokens.ToArray()).CopyTo(nextLogits);
        while (true)
        {
            while (events.TryRead(out var e)) Apply(e);
            if (sender.Error is not null && cloudError is null)
            {
                // The cloud refused a request or could not be reached: the answer goes on with the SLM (a device
                // never stalls on the cloud), and the error is reported with the result, not swallowed.
                cloudError = sender.Error.Message;
                GiveUpOnCloud();
            }
            if (catchUpNow && !cloudLost)
            {
                catchUpNow = false;
                await CatchUpAsync(cancellation);
            }
            AdvanceCommit();
            if (finished) return;
            if (MustWait())
            {
                if (pending.Count == 0)
                {
                    // Flagged tokens that no span in flight will answer: their span was answered Stale without the
                    // rejection that made it stale reaching the device (a verdict lost, or a race around a resync).
                    // Waiting would only end in the verdict timeout: resynchronise from the session grain now, and if
                    // even that cannot be reached, go on with the SLM.
                    if (!cloudLost && await CatchUpAsync(cancellation)) continue;
                    if (!cloudLost) cloudError ??= "a span was answered stale without a rejection, and the session grain could not be reached to resynchronise";
                    GiveUpOnCloud();
                    continue;
                }
                waitingSince ??= clock.Elapsed;
                // Wait for the next event up to the stall check, or up to the verdict timeout if that comes first.
                var untilGiveUp = options.VerdictTimeout - (clock.Elapsed - waitingSince.Value);
                var untilStall = options.StallTimeout + TimeSpan.FromMilliseconds(options.Link.RttMs);
                // Which deadline this wait ends at is decided here, not by re-reading the clock when it fires: a timer
                // that fires a tick early would otherwise turn the give-up into a stall resync, which waits a round
                // trip for the grain and then adopts what the cloud committed meanwhile.
                bool giveUpDue = untilGiveUp <= untilStall;
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
                timeout.CancelAfter(TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, Math.Min(untilGiveUp.Ticks, untilStall.Ticks))));
                try
                {
                    Apply(await events.ReadAsync(timeout.Token));
                    waitingSince = null;
                }
                catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                {
                    if (giveUpDue || clock.Elapsed - waitingSince!.Value >= options.VerdictTimeout)
                    {
                        numVerdictTimeouts++;
                        GiveUpOnCloud();
                        waitingSince = null;
                    }
                    else await CatchUpAsync(cancellation);
                }
                continue;
            }
            await DraftOneAsync(cancellation);
        }
    }

    /// <summary>
    /// No verdict within <see cref="GenerationOptions.VerdictTimeout"/>, or a request failed: the device does not
    /// stall longer. The pending spans' drafts become its own (as if refused), nothing more is offloaded for this
    /// answer, and verdicts that still arrive find no pending span and are ignored. The next answer opens a fresh session.
    /// </summary>
    private void GiveUpOnCloud()
    {
        cloudLost = true;
        branch = null;
        // Every flagged token no verdict verified (all of them past the committed ones): those of the pending spans, and
        // those of spans that left `pending` unanswered (found stale). No verdict will come for any of them now.
        UnflagRange(committed, tokens.Count);
        pending.Clear();
        round++;
    }

    private TimeSpan? waitingSince;                    // when the current wait for a verdict began
    private bool catchUpNow;                           // a span was lost in transit

    /// <summary>
    /// A stall: no verdict for a span in flight. The session grain starts a new epoch at its committed tokens and returns
    /// them. Any of them the device lacks (a verdict it never received, e.g. lost with a silo) replace the device's
    /// uncommitted drafts from there; then the device resends from the grain's committed length as after a Failed verdict.
    /// </summary>
    /// <returns>False when the session grain could not be reached.</returns>
    private async Task<bool> CatchUpAsync(CancellationToken cancellation)
    {
        SessionSnapshot snapshot;
        try { snapshot = await sender.ResyncAsync(cancellation); }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            return false;   // the grain cannot be reached either: keep waiting, up to the verdict timeout
        }
        numStallResyncs++;
        ResyncAt(snapshot.CommittedTokenIds, snapshot.CommittedTokenIds.Length, snapshot.Epoch);
        return true;
    }

    /// <summary>
    /// The cloud restarted the session at its committed tokens in a new epoch (a Failed verdict, or the device's own
    /// stall check). Tokens the cloud committed that the device never heard of (<paramref name="cloudTokens"/>, when known)
    /// are adopted; the device's drafts past its commit point are dropped (never shown, so nothing is withdrawn) and
    /// drafted again, so whatever must be verified still is; sending resumes from the cloud's committed length.
    /// </summary>
    private void ResyncAt(int[]? cloudTokens, int cloudLength, int newEpoch)
    {
        pending.Clear();
        cloudLength = Math.Max(promptLength, cloudLength);
        int same = promptLength;
        if (cloudTokens is not null)
            while (same < cloudTokens.Length && same < tokens.Count && cloudTokens[same] == tokens[same]) same++;
        else same = Math.Min(cloudLength, tokens.Count);
        // Keep what is shown, and what the cloud has (it verified or holds it as context); drop the rest.
        int keep = Math.Max(committed, same);
        if (cloudTokens is not null && same < cloudTokens.Length && same < committed)
            throw new InvalidOperationException($"the cloud's committed tokens differ from shown token {same} (bug)");
        DropDraftsFrom(keep);
        for (int pos = promptLength; pos < Math.Min(same, tokens.Count); pos++)
            if (flagged[pos - promptLength]) verified[pos - promptLength] = true;      // sent as drafts, committed by the cloud
        if (cloudTokens is not null)
            for (int pos = tokens.Count; pos < cloudTokens.Length; pos++)
                AppendCloudToken(cloudTokens[pos]);               // committed by the cloud from a verdict the device missed
        RewindDraftCache();
        epoch = newEpoch;
        cloudEnd = Math.Min(cloudTokens?.Length ?? cloudLength, tokens.Count);
        round++;
    }

    private bool DraftingStopped => tokens.Count >= maxTotal || (tokens.Count > promptLength && tokenizer.IsEos(tokens[^1]));

    private bool MustWait() => DraftingStopped || options.Mode switch
    {
        GenerationMode.Synera => tokens.Count - committed >= options.MaxLookahead,
        GenerationMode.Route or GenerationMode.Spec or GenerationMode.Oracle => pending.Count > 0,
        _ => false,
    };

    private async Task DraftOneAsync(CancellationToken cancellation)
    {
        var started = clock.Elapsed;
        if (runner.Length < tokens.Count)   // after a rollback the correction is not in the cache yet
            runner.Forward(CollectionsMarshal.AsSpan(tokens)[runner.Length..]).CopyTo(nextLogits);
        var probabilities = sampler.Probabilities(nextLogits);
        int position = tokens.Count;
        int token = sampler.Pick(position);
        bool offload = AddDraft(token, probabilities);
        if (offload && branchRunner is not null && branch is null && !DraftingStopped) StartBranch(position, RunnerUp(probabilities, token));
        else ExtendBranch();
        // Run the new token now so the next draft's logits are ready (a rollback re-runs from the cache).
        if (!DraftingStopped)
        {
            oneToken[0] = token;
            runner.Forward(oneToken).CopyTo(nextLogits);
        }

        bool send = !cloudLost && options.Mode switch
        {
            GenerationMode.Spec => tokens.Count - cloudEnd >= options.SpecSpanLength || DraftingStopped,
            GenerationMode.Synera or GenerationMode.Route or GenerationMode.Oracle => offload,
            _ => false,
        };
        if (send) SendSpan();
        await PaceAsync(started, position, cancellation);
    }

    /// <summary>
    /// Waits out the rest of an emulated device step (<see cref="LinkOptions.DeviceMsPerToken"/>). Verdicts that arrive
    /// meanwhile are applied at once: a verified span commits while the SLM computes, as on a phone whose network and
    /// NPU work side by side. A correction that drops the token this step drafts ends the step there: the device
    /// abandons a forward whose result is already stale (ONNX Runtime's <c>RunOptions.Terminate</c>, llama.cpp's abort
    /// callback), rather than finishing it before it hears the news.
    /// </summary>
    private async Task PaceAsync(TimeSpan started, int position, CancellationToken cancellation)
    {
        var stepEnd = started + TimeSpan.FromMilliseconds(options.Link.DeviceMsPerToken);
        if (clock.Elapsed >= stepEnd) return;
        draftingAt = position;                          // not done until the step is: nothing commits it early
        stepAbandoned = false;
        try { await WaitOutStepAsync(stepEnd, position, cancellation); }
        finally { draftingAt = int.MaxValue; }
    }

    private int draftingAt = int.MaxValue;              // the position an emulated device step is still computing
    private bool stepAbandoned;                         // a rollback replaced or dropped that position's token

    private async Task WaitOutStepAsync(TimeSpan stepEnd, int position, CancellationToken cancellation)
    {
        while (true)
        {
            var left = stepEnd - clock.Elapsed;               // read once: a second read could be past the end (a negative delay)
            if (left <= TimeSpan.Zero) break;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(left);
            try { if (!await events.WaitToReadAsync(timeout.Token)) break; }
            catch (OperationCanceledException) when (!cancellation.IsCancellationRequested) { break; }
            while (events.TryRead(out var e)) Apply(e);
            if (stepAbandoned) { numAbandonedSteps++; break; }   // a rollback dropped this step's token
            AdvanceCommit();
        }
    }

    /// <summary>Appends a drafted token: the policy's decision, the account, the byte cap; returns whether it is offloaded.</summary>
    private bool AddDraft(int token, ReadOnlySpan<float> probabilities)
    {
        var text = tokenizer.TokenText(token);
        var decision = policy.Decide(probabilities, importance.Score(text, tokens.Count - promptLength, lastUncertain));
        bool offload = decision.Offload && !cloudLost;
        if (decision.OverBudget) numOverBudget++;
        if (offload && ByteLimiter is not null && !ByteLimiter.TrySpend(SpanBytesWith(1)))
        {
            offload = false;                                       // over the byte cap: this token stays the SLM's
            numByteCapped++;
        }
        if (decision.Offload && !offload) policy.Refund(1);       // not sent: its credit goes back to the device
        lastUncertain = decision.Confidence < 0.5f;
        recentConfidences.Add(decision.Confidence);
        tokens.Add(token);
        flagged.Add(offload);
        verified.Add(false);
        draftProbs.Add(probabilities[token]);
        provenance.Add((TokenOrigin.Device, probabilities[token]));
        if (offload) flaggedDistributions[tokens.Count - 1] = probabilities.ToArray();
        numDrafted++;
        if (offload) { numOffloaded++; numCharged++; }
        return offload;
    }

    private static int RunnerUp(ReadOnlySpan<float> probabilities, int top)
    {
        int best = top == 0 ? 1 : 0;
        for (int i = 0; i < probabilities.Length; i++) if (i != top && probabilities[i] > probabilities[best]) best = i;
        return best;
    }

    /// <summary>Opens the runner-up branch at <paramref name="position"/>: the branch's cache is the main cache's prefix.</summary>
    private void StartBranch(int position, int runnerUp)
    {
        branchRunner!.CopyFrom(runner, position);   // the main runner has not run the flagged token yet
        oneToken[0] = runnerUp;
        branch = new Branch(position, runnerUp, branchRunner.Forward(oneToken).ToArray());
        numBranchSteps++;
    }

    /// <summary>One more greedy draft on the branch, in the same step as the main path's (the batch-of-2 step).</summary>
    private void ExtendBranch()
    {
        if (branch is not { } b) return;
        if (!flagged[b.Position - promptLength] || b.Position >= tokens.Count) { branch = null; return; }   // refused or gone: no verdict will pick it
        int next = b.Position + 1 + b.Tokens.Count;
        if (b.Tokens.Count >= options.MaxLookahead || next >= maxTotal || tokenizer.IsEos(b.Token) || (b.Tokens.Count > 0 && tokenizer.IsEos(b.Tokens[^1]))) return;
        var p = branchSampler.Probabilities(b.NextLogits).ToArray();   // kept for the policy's decision if the branch is adopted
        int token = branchSampler.Pick(next);
        b.Tokens.Add(token);
        b.Probabilities.Add(p);
        oneToken[0] = token;
        b.NextLogits = branchRunner!.Forward(oneToken).ToArray();
        numBranchSteps++;
    }

    /// <summary>
    /// After the tokens changed under the SLM's cache (drafts dropped, cloud tokens adopted), keeps at most all but the last
    /// token cached, so the next draft step re-runs it and <c>nextLogits</c> follow the tokens again. Truncating to the
    /// tokens' length left the logits of the last token the cache had run, a dropped draft, and the next draft was drawn
    /// from them: seen as an end-of-sequence drafted with certainty right after a resync, unflagged, ending the answer early.
    /// </summary>
    private void RewindDraftCache() => runner.Truncate(Math.Min(runner.Length, tokens.Count - 1));

    /// <summary>The cloud corrected the flagged token to the branch's runner-up, and its continuation (<paramref name="skip"/>
    /// tokens, already appended) agrees with the branch's drafts: the branch becomes the main path. Its drafts past the
    /// continuation join as drafts; when it drafted fewer, its cache covers part of the continuation and the rest is run next step.</summary>
    private void AdoptBranch(Branch b, int skip)
    {
        runner.CopyFrom(branchRunner!, branchRunner!.Length);
        bool anyFlagged = false;
        for (int k = skip; k < b.Tokens.Count && !DraftingStopped; k++) anyFlagged |= AddDraft(b.Tokens[k], b.Probabilities[k]);
        if (runner.Length != tokens.Count) RewindDraftCache();   // stopped early: the cache may run ahead of the tokens
        else b.NextLogits.CopyTo(nextLogits);
        numBranchHits++;
        numBranchTokensAdopted += Math.Max(0, b.Tokens.Count - skip);
        if (anyFlagged && !cloudLost) SendSpan();
    }

    /// <summary>Upper bound on the wire bytes of the span sent once <paramref name="more"/> tokens are drafted.</summary>
    private int SpanBytesWith(int more)
    {
        int n = tokens.Count + more - cloudEnd;
        return 32 + sessionId.Length + 8 * n;                     // VerifyRequest.WireBytes with every token a draft
    }

    /// <summary>Sends everything from the cloud's last known position to the newest token: committed tokens as
    /// context, the rest as drafts. Context beyond the span limit goes first in context-only requests.</summary>
    private void SendSpan()
    {
        AdvanceCommit();
        int end = tokens.Count;
        int draftStart = Math.Max(cloudEnd, Math.Min(committed, end));
        while (end - cloudEnd > maxSpanTokens && draftStart > cloudEnd)
        {
            int chunkEnd = Math.Min(draftStart, cloudEnd + maxSpanTokens);
            Queue(cloudEnd, chunkEnd, chunkEnd);
        }
        if (end - draftStart > maxSpanTokens) throw new InvalidOperationException($"{end - draftStart} drafts exceed the span limit {maxSpanTokens}; lower MaxLookahead");
        Queue(cloudEnd, draftStart, end);
    }

    /// <summary>Only the q(x) rule reads draft probabilities: greedy and coupled verification send none.</summary>
    private bool SendsDraftProbabilities => !sampler.Settings.IsGreedy && sampler.Settings.Rule == SamplingRule.DraftProbability;

    private void Queue(int start, int draftStart, int end)
    {
        var request = new VerifyRequest(sessionId, seq++, epoch, start,
            tokens.GetRange(start, draftStart - start).ToArray(),
            tokens.GetRange(draftStart, end - draftStart).ToArray(),
            SendsDraftProbabilities ? draftProbs.GetRange(draftStart - promptLength, end - draftStart).ToArray() : [],
            SentAtUnixMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            CorrectionLookahead: options.Mode == GenerationMode.Synera ? options.CorrectionLookahead : 0);
        pending.Add(new PendingSpan(request.Seq, start, draftStart, end, clock.Elapsed.TotalMilliseconds));
        cloudEnd = end;
        numRequests++;
        sender.Send(request, round);
    }

    private void Apply(DeviceEvent e)
    {
        switch (e)
        {
            case SpanRefused refused when refused.Seq >= 0:
                var index = pending.FindIndex(p => p.Seq == refused.Seq);
                if (index < 0) return;
                // The cloud keeps nothing of this span or the ones behind it: their drafts become the device's own.
                cloudEnd = pending[index].Start;
                for (int i = index; i < pending.Count; i++) Unflag(pending[i], refund: true);
                pending.RemoveRange(index, pending.Count - index);
                round++;
                return;
            case VerdictArrived { Verdict: var v }:
                ApplyVerdict(v);
                return;
            case SpanLost:
                catchUpNow = true;                              // RunAsync catches up before drafting on
                return;
        }
    }

    /// <summary>A span the cloud will not verify: its drafts stay the device's own, unflagged and not counted as offloaded.
    /// With <paramref name="refund"/> (the cloud refused it, so it charged nothing) the account gets the offloads back;
    /// spans lost after they were queued (a resync, a cloud given up on) were charged and stay spent.</summary>
    private void Unflag(PendingSpan span, bool refund = false) => UnflagRange(span.DraftStart, span.End, refund);

    /// <summary>Unflags the flagged tokens in [<paramref name="from"/>, <paramref name="end"/>) that no verdict verified
    /// (a pending span's are never verified).</summary>
    private void UnflagRange(int from, int end, bool refund = false)
    {
        int n = 0;
        for (int pos = from; pos < end && pos < tokens.Count; pos++)
        {
            int i = pos - promptLength;
            if (!flagged[i] || verified[i]) continue;
            flagged[i] = false;
            numOffloaded--;
            numRefusedOffloads++;
            n++;
        }
        if (refund && n > 0) { policy.Refund(n); numCharged -= n; }
    }

    private void ApplyVerdict(Verdict v)
    {
        if (v.Kind == VerdictKind.Failed)
        {
            // The cloud lost track of the session (failover, a failed batch, a lost verdict) and starts a new
            // epoch at its committed length. That holds whichever span the verdict names, so it is not looked up.
            if (v.Epoch <= epoch) return;                        // a resync this device has already followed
            // The cloud's committed tokens are a prefix of this device's (every verdict before this one was
            // applied, in order); what follows is resent from there, as context or drafts.
            ResyncAt(null, v.CommittedLength, v.Epoch);
            return;
        }
        var span = pending.Find(p => p.Seq == v.Seq);
        if (span is null) return;                               // stale: its span was dropped by an earlier rejection
        switch (v.Kind)
        {
            case VerdictKind.Verified:
                verdictRoundTripMs.Add(clock.Elapsed.TotalMilliseconds - span.SentMs);
                int numDrafts = span.End - span.DraftStart;
                numJudged += numDrafts;
                numAccepted += v.NumAccepted;
                for (int pos = span.DraftStart; pos < span.DraftStart + v.NumAccepted; pos++) verified[pos - promptLength] = true;
                if (branch is not null && branch.Position < span.DraftStart + v.NumAccepted) branch = null;   // its token stood
                if (v.CorrectionTokenId >= 0) Rollback(span.DraftStart + v.NumAccepted, v.CorrectionTokenId, v.Continuation, v.Epoch);
                else pending.Remove(span);
                break;
            case VerdictKind.Stale:
                pending.Remove(span);
                break;
        }
    }

    /// <summary>Rejection at <paramref name="position"/>: truncate drafts and KV cache there, append the LLM's token.
    /// The correction takes the rejected draft's place, and its flag: that position was sent for verification.
    /// Drafts after it leave the output and the policy's accounting. The LLM's <paramref name="continuation"/> follows
    /// the correction as committed tokens (the cloud wrote them; the device did not offload them).</summary>
    private void Rollback(int position, int correction, int[] continuation, int newEpoch)
    {
        if (position <= draftingAt) stepAbandoned = true;
        DropDraftsFrom(position + 1);
        int i = position - promptLength;
        tokens[position] = correction;                          // keeps the rejected draft's flag: it was sent for verification
        verified[i] = true;
        draftProbs[i] = 1f;
        provenance[i] = (TokenOrigin.Corrected, provenance[i].confidence);
        runner.Truncate(Math.Min(runner.Length, position));
        epoch = newEpoch;
        pending.Clear();                                        // every later span was built on the rejected draft
        numCorrections++;
        if (flaggedDistributions.Remove(position, out var p))
        {
            // Where the LLM's token stood in the draft's distribution: how far a tree of pre-drafted alternatives would have to reach.
            int rank = 0;
            foreach (var q in p) if (q > p[correction]) rank++;
            if (rank >= 1) correctionRanks[Math.Min(rank, correctionRanks.Length) - 1]++;   // rank 0: a sampled draft below the top
        }
        var b = branch;
        branch = null;
        // The branch drafted on from the runner-up; it still holds when its drafts and the cloud's continuation agree as far
        // as both go (its cache then covers a prefix of the new main path).
        int common = b is null ? 0 : Math.Min(b.Tokens.Count, continuation.Length);
        bool branchHolds = b is not null && b.Position == position && b.Token == correction
            && continuation.AsSpan(0, common).SequenceEqual(CollectionsMarshal.AsSpan(b.Tokens)[..common]);
        foreach (var token in continuation)
        {
            if (DraftingStopped) break;
            AppendCloudToken(token);
            numCloudContinuationTokens++;
        }
        cloudEnd = tokens.Count;                                // the cloud holds the correction and its continuation
        if (branchHolds && tokens.Count == position + 1 + continuation.Length) AdoptBranch(b!, continuation.Length);
    }

    /// <summary>A token the cloud committed that the device did not draft: committed as verified, not flagged.</summary>
    private void AppendCloudToken(int token)
    {
        tokens.Add(token);
        flagged.Add(false);
        verified.Add(true);
        draftProbs.Add(1f);
        provenance.Add((TokenOrigin.Cloud, null));
    }

    /// <summary>Drops the uncommitted drafts from <paramref name="position"/> on (never shown, so nothing is withdrawn). Their
    /// offloads leave the accounting and the account gets them back: the verifier drops spans built on a rejected token
    /// unrun, and the cloud refunds them too.</summary>
    private void DropDraftsFrom(int position)
    {
        int drop = tokens.Count - position;
        if (drop <= 0) return;
        if (position <= draftingAt) stepAbandoned = true;
        if (branch is not null && position <= branch.Position) branch = null;
        int i = position - promptLength, droppedFlags = flagged.Skip(i).Count(f => f);
        policy.OnDiscarded(drop, droppedFlags);
        numCharged -= droppedFlags;
        numOffloaded -= droppedFlags;
        numWastedOffloads += droppedFlags;
        tokens.RemoveRange(position, drop);
        flagged.RemoveRange(i, drop);
        verified.RemoveRange(i, drop);
        draftProbs.RemoveRange(i, drop);
        provenance.RemoveRange(i, drop);
        for (int pos = position; pos < position + drop; pos++) flaggedDistributions.Remove(pos);
        runner.Truncate(Math.Min(runner.Length, position));
    }

    /// <summary>Moves the commit point over tokens that can no longer change and hands them to the caller.</summary>
    private void AdvanceCommit()
    {
        int firstPendingDraft = int.MaxValue;
        foreach (var p in pending) if (p.End > p.DraftStart) firstPendingDraft = Math.Min(firstPendingDraft, p.DraftStart);
        while (!finished && committed < tokens.Count && committed < firstPendingDraft && committed < draftingAt)
        {
            int i = committed - promptLength;
            if (flagged[i] && !verified[i]) break;               // waiting for its verdict (or, in spec, for its span)
            int token = tokens[committed++];
            policy.OnCommitted(1);
            if (++committedSinceReport >= ProgressEvery && OnProgress is not null) OnProgress(TakeProgressReport());
            if (tokenizer.IsEos(token)) { finished = true; break; }
            var now = clock.Elapsed.TotalMilliseconds;
            if (firstTokenMs < 0) firstTokenMs = now; else interTokenMs.Add(now - lastCommitMs);
            lastCommitMs = now;
            var (origin, confidence) = provenance[i];
            if (origin == TokenOrigin.Device && verified[i]) origin = TokenOrigin.Verified;
            onToken(new GeneratedToken(token, detokenizer.Add(token), origin, confidence, flagged[i]));
        }
        if (committed >= maxTotal) finished = true;
    }

    /// <summary>The progress since the last report: committed tokens, offloads spent, the drafted tokens' confidences, and the
    /// policy's state (for the device grain, which keeps the account across restarts).</summary>
    public ProgressReport TakeProgressReport()
    {
        var p = policy as OffloadPolicy;
        var report = new ProgressReport(committedSinceReport, (int)(numCharged - chargedAtLastReport), 0, p?.TakeCommittedScores() ?? [.. recentConfidences],
            policy.Threshold, p?.Account.Credit ?? 0, p?.Controller.Budget ?? 0, p?.Controller.Demand ?? 0);
        committedSinceReport = 0;
        chargedAtLastReport = numCharged;
        recentConfidences.Clear();
        return report;
    }

    public GenerationStats Stats(long bytesUp, long bytesDown) => new()
    {
        Mode = options.Mode,
        PromptTokens = promptLength,
        NumTokens = committed - promptLength - (finished && committed > promptLength && tokenizer.IsEos(tokens[committed - 1]) ? 1 : 0),
        NumGenerated = committed - promptLength,
        NumDrafted = numDrafted,
        NumRunnerUpSteps = numBranchSteps,
        NumRunnerUpHits = numBranchHits,
        NumRunnerUpTokensAdopted = numBranchTokensAdopted,
        CorrectionRanks = correctionRanks,
        NumAbandonedSteps = numAbandonedSteps,
        NumContinuationTokens = numCloudContinuationTokens,
        VerdictRoundTripMs = verdictRoundTripMs,
        // The oracle is judged on every token; what it offloads is where the draft and the LLM disagree.
        NumOffloaded = options.Mode == GenerationMode.Oracle ? numCorrections : numOffloaded,
        NumWastedOffloads = options.Mode == GenerationMode.Oracle ? 0 : numWastedOffloads,
        NumRefusedOffloads = numRefusedOffloads,
        NumVerdictTimeouts = numVerdictTimeouts,
        NumStallResyncs = numStallResyncs,
        CloudError = cloudError,
        NumByteCappedOffloads = numByteCapped,
        NumOverBudget = numOverBudget,
        NumJudged = numJudged,
        NumAccepted = numAccepted,
        NumCorrections = numCorrections,
        NumRequests = numRequests,
        BytesUp = bytesUp,
        BytesDown = bytesDown,
        TimeToFirstTokenMs = Math.Max(0, firstTokenMs),
        TotalMs = clock.Elapsed.TotalMilliseconds,
        InterTokenMs = interTokenMs,
    };

    /// <summary>The committed output tokens (EOS excluded).</summary>
    public IReadOnlyList<int> Output => tokens.Skip(promptLength).Take(committed - promptLength).Where(t => !tokenizer.IsEos(t)).ToList();
}

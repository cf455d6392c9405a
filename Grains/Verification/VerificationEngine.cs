using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Options;

namespace Synera.Grains.Verification;

/// <summary>
/// The verifier's engine loop (vLLM's engine core, reduced): requests arrive from grain threads; on its own
/// thread the engine repeatedly asks the <see cref="IBatchScheduler"/> for a batch, builds each request's
/// input from the session's uncached committed tokens plus its span, runs one batched forward through the
/// <see cref="IVerifierModelRunner"/>, judges the drafts (<see cref="AcceptanceRule"/>), commits, rolls the
/// KV cache back to the committed prefix, and hands verdicts to the <see cref="IVerdictSink"/>.
/// Invariant: after every step, a session's KV cache covers at most its committed tokens but the last; the
/// last committed token is always the first input of that session's next forward.
/// </summary>
public sealed class VerificationEngine : IDisposable
{
    private readonly IVerifierModelRunner runner;
    private readonly IBatchScheduler scheduler;
    private readonly VerifierOptions options;
    private readonly IVerdictSink sink;
    private readonly ILogger logger;
    private readonly VerifierMetrics metrics;
    private readonly Lock gate = new();
    private readonly Dictionary<string, EngineSession> sessions = [];
    private readonly HashSet<string> everCached = [];
    private readonly SemaphoreSlim signal = new(0);
    private readonly CancellationTokenSource stopping = new();
    private Thread? thread;

    public VerificationEngine(IVerifierModelRunner runner, IBatchScheduler scheduler, VerifierOptions options, IVerdictSink sink, ILogger logger, VerifierMetrics? metrics = null)
    {
        this.runner = runner; this.scheduler = scheduler; this.options = options; this.sink = sink; this.logger = logger;
        this.metrics = metrics ?? new VerifierMetrics();
        this.metrics.ObserveKvBytes(() => runner.KvCache.UsedBytes);
        Load = new LoadController(options.TargetP99Ms);
        this.metrics.ObserveLoadFactor(() => Load.LoadFactor);
    }

    public VerifierModelInfo ModelInfo => runner.Info;
    public LoadController Load { get; }
    public KvCacheManager KvCache => runner.KvCache;
    public EngineStats Stats { get; } = new();

    /// <summary>Sessions the engine holds now.</summary>
    public int NumSessions { get { lock (gate) return sessions.Count; } }

    public VerifierLoad CurrentLoad => new(scheduler.NumWaiting, Load.P99Ms, Load.MeanStepMs, runner.KvCache.UsedBytes, Load.LoadFactor, NumSessions,
        Stats.ComputeMs, Stats.NumSteps, Stats.ProcessedTokens, (runner as CostModelledRunner)?.NumOverruns ?? 0);

    /// <summary>Queues a request (any thread). A <paramref name="setup"/> (re)initialises the session. Its <c>verify</c>
    /// activity joins <paramref name="trace"/> when given (a span that came in a batch), else the caller's current one.</summary>
    public EnqueueStatus Enqueue(VerifyRequest request, SessionSetup? setup, ActivityContext trace = default)
    {
        // The engine is shared by every session on this silo: a malformed request must fail here, on its own, and never
        // reach a batch (one out-of-vocabulary id would fail the forward pass for every session in it).
        if (Problem(request, setup) is { } problem) throw new SyneraRequestException($"session '{request.SessionId}': {problem}");
        lock (gate)
        {
            if (setup is not null)
            {
                scheduler.RemoveSession(request.SessionId);
                // A session set up again (a new turn of its conversation, a failover, a resync) keeps the K/V of the
                // prefix its old and new histories share: same tokens at the same positions give the same K/V.
                int keep = sessions.TryGetValue(request.SessionId, out var old) ? CommonPrefix(old.Tokens, setup.History) : 0;
                sessions[request.SessionId] = new EngineSession(request.SessionId, setup.History, setup.Epoch, setup.Sampling, setup.LatencyTargetMs)
                {
                    KvKeep = keep,
                };
            }
            if (!sessions.TryGetValue(request.SessionId, out var session)) return EnqueueStatus.NeedsHistory;
            session.LastActive = Stopwatch.GetTimestamp();
            if (request.Epoch != session.Epoch || request.StartPosition != session.QueuedEnd) return EnqueueStatus.Stale;
            if (!scheduler.TryAdd(new EngineRequest(request, Stopwatch.GetTimestamp(), session.LatencyTargetMs) { Parent = trace != default ? trace : Activity.Current?.Context ?? default }))
                return EnqueueStatus.Overloaded;
            session.QueuedEnd = request.StartPosition + request.NumTokens;
        }
        signal.Release();
        return EnqueueStatus.Queued;
    }

    /// <summary>What is wrong with a request on its own (the session grain checks it against the session's state).</summary>
    private string? Problem(VerifyRequest r, SessionSetup? setup)
    {
        if (string.IsNullOrEmpty(r.SessionId)) return "no session id";
        if (RequestChecks.Span(r, runner.Info) is { } span) return span;
        if (r.DraftProbs.Length != 0 && r.DraftProbs.Length != r.DraftTokenIds.Length) return $"{r.DraftTokenIds.Length} drafts but {r.DraftProbs.Length} probabilities";
        if (setup is null) return null;
        if (setup.History is null || setup.Sampling is null) return "incomplete session setup";
        if (setup.History.Length != r.StartPosition) return $"setup holds {setup.History.Length} tokens but the span starts at {r.StartPosition}";
        if (RequestChecks.Tokens(setup.History, runner.Info, "history") is { } history) return history;
        if (setup.Sampling.Problem() is { } sampling) return sampling;
        if (!(setup.LatencyTargetMs >= SessionOptions.MinLatencyTargetMs && setup.LatencyTargetMs <= SessionOptions.MaxLatencyTargetMs))
            return $"latency target {setup.LatencyTargetMs} ms is outside [{SessionOptions.MinLatencyTargetMs}, {SessionOptions.MaxLatencyTargetMs}]";
        return null;
    }

    private static int CommonPrefix(List<int> a, int[] b)
    {
        int n = 0;
        while (n < a.Count && n < b.Length && a[n] == b[n]) n++;
        return n;
    }

    /// <summary>
    /// Whether the engine still owes the session anything (any thread): a queued or running request, a correction writing
    /// its continuation, or a verdict the session grain has not acknowledged yet. Idle means every span it took was
    /// answered and the answer arrived; a span the grain still waits for then was lost on the way.
    /// </summary>
    public SessionActivity ActivityOf(string sessionId)
    {
        lock (gate)
        {
            if (!sessions.TryGetValue(sessionId, out var s)) return SessionActivity.NotHeld;
            return OwesAnything(s) ? SessionActivity.Busy : SessionActivity.Idle;
        }
    }

    /// <summary>A queued or running request, a correction writing its continuation (queued without moving
    /// <see cref="EngineSession.QueuedEnd"/>), or a verdict not yet acknowledged. Under the gate.</summary>
    private bool OwesAnything(EngineSession s) =>
        running.Contains(s.SessionId) || s.QueuedEnd > s.Tokens.Count || s.CorrectionInProgress || !s.LastDelivery.IsCompleted
        || scheduler.HasQueued(s.SessionId);

    /// <summary>Forgets a session (any thread); its KV cache is freed on the engine thread.</summary>
    public void Release(string sessionId)
    {
        lock (gate)
        {
            scheduler.RemoveSession(sessionId);
            if (sessions.Remove(sessionId)) pendingReleases.Add(sessionId);
        }
        signal.Release();
    }

    private readonly List<string> pendingReleases = [];
    private readonly HashSet<string> running = [];   // sessions of the step now running, until their verdicts are handed out

    /// <summary>Starts the engine loop on a dedicated thread (compute must not block the grain scheduler).</summary>
    public void Start()
    {
        thread = new Thread(Loop) { IsBackground = true, Name = "synera-verifier-engine" };
        thread.Start();
    }

    private void Loop()
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (Step() == 0)
                {
                    Load.Update(0);
                    signal.Wait(50, stopping.Token);
                }
            }
            catch (OperationCanceledException) { break; }
            catch (Exception e) { logger.LogError(e, "Verifier engine step failed"); }
        }
    }

    /// <summary>Runs one engine step; returns the number of requests it served. Engine thread (or a test) only.</summary>
    public int Step()
    {
        var work = new List<(EngineRequest request, EngineSession session, RunnerInput input)>();
        var verdicts = new List<(EngineSession? session, Verdict verdict)>();
        SchedulerOutput output;
        lock (gate)
        {
            ExpireIdleSessions();
            foreach (var id in pendingReleases) { runner.KvCache.Release(id); everCached.Remove(id); }
            pendingReleases.Clear();
            running.Clear();   // normally empty here; after a step that threw, its sessions are not running any more
            output = scheduler.Schedule(Stopwatch.GetTimestamp(), CostOf, runner.KvCache.MaxSessions);
            foreach (var request in output.Requests)
            {
                running.Add(request.SessionId);
                metrics.QueueWait.Record(Stopwatch.GetElapsedTime(request.ArrivalTimestamp).TotalMilliseconds);   // arrival → scheduled
                if (!sessions.TryGetValue(request.SessionId, out var session)) continue;
                if (!IsCurrent(request, session))
                {
                    if (session.CorrectionInProgress) session.HeldVerdicts.Add(Stale(request, session));
                    else verdicts.Add((session, Stale(request, session)));
                    continue;
                }
                work.Add((request, session, BuildInput(request, session)));
            }
        }
        var stepStart = DateTime.UtcNow;
        if (work.Count > 0) RunBatch(work, verdicts);
        // Each request's part in this step joins the trace it arrived in; its verdict's delivery is a child of that.
        // Nothing to join when no one listens to the verifier's traces: the step's hot path then skips the bookkeeping.
        Dictionary<(string, long), ActivityContext>? parents = null;
        if (VerifierTracing.Source.HasListeners())
        {
            parents = [];
            foreach (var r in output.Requests) parents.TryAdd((r.SessionId, r.Request.Seq), r.Parent);
        }
        // In request order per session: a request found stale in this step must not overtake the verdict of the one
        // before it, which is what made it stale.
        using var step = sink.BeginStep();   // the step's verdicts may travel together
        foreach (var (session, verdict) in verdicts.OrderBy(v => v.verdict.Seq))
        {
            var parent = parents?.GetValueOrDefault((verdict.SessionId, verdict.Seq)) ?? default;
            using var verify = parent == default ? null : VerifierTracing.Source.StartActivity("verify", ActivityKind.Internal, parent, startTime: stepStart);
            verify?.SetTag("synera.session", verdict.SessionId).SetTag("synera.seq", verdict.Seq).SetTag("synera.verdict", verdict.Kind.ToString())
                .SetTag("synera.accepted", verdict.NumAccepted).SetTag("synera.batch_size", work.Count).SetTag("synera.step_tokens", output.NumScheduledTokens);
            Deliver(session, verdict, verify?.Context ?? parent);
        }
        if (output.Requests.Count > 0) lock (gate) running.Clear();   // their verdicts are in the sessions' delivery chains now
        return output.Requests.Count;
    }

    private long lastExpiryScan = Stopwatch.GetTimestamp();

    /// <summary>At most once a second: forgets sessions idle past <see cref="VerifierOptions.SessionIdleTimeout"/>. Under the gate.</summary>
    private void ExpireIdleSessions()
    {
        var now = Stopwatch.GetTimestamp();
        if (Stopwatch.GetElapsedTime(lastExpiryScan, now) < TimeSpan.FromSeconds(Math.Min(1, options.SessionIdleTimeout.TotalSeconds / 2))) return;
        lastExpiryScan = now;
        foreach (var session in sessions.Values.Where(s => Stopwatch.GetElapsedTime(s.LastActive, now) > options.SessionIdleTimeout).ToList())
        {
            if (OwesAnything(session)) continue;   // spans in flight, a correction's continuation, a verdict on its way: not idle
            sessions.Remove(session.SessionId);
            pendingReleases.Add(session.SessionId);
            Stats.ExpiredSessions++;
            logger.LogInformation("Session {Session} expired after {Idle} without requests", session.SessionId, options.SessionIdleTimeout);
        }
    }

    private static bool IsCurrent(EngineRequest r, EngineSession s) =>
        r.Request.Epoch == s.Epoch && (r.IsContinuation || r.Request.StartPosition == s.Tokens.Count);

    private int CostOf(EngineRequest r)
    {
        var s = sessions.GetValueOrDefault(r.SessionId);
        if (s is null) return r.Request.NumTokens;
        var cached = s.KvKeep is { } keep ? Math.Min(keep, Math.Min(runner.KvCache.CachedLength(s.SessionId), s.Tokens.Count - 1)) : CachedFor(r, s);
        return s.Tokens.Count - cached + r.Request.NumTokens;
    }

    /// <summary>
    /// How many committed tokens the forward can skip. Normally all but the last: its logits judge the first
    /// draft. When the previous span was accepted whole, its forward already produced those logits (kept in
    /// <see cref="EngineSession.NextLogits"/>) and the K/V of every committed token, so nothing is re-run.
    /// </summary>
    private int CachedFor(EngineRequest request, EngineSession session)
    {
        int cached = runner.KvCache.CachedLength(session.SessionId);
        bool carry = session.NextLogits is not null && cached >= session.Tokens.Count
            && request.Request.DraftTokenIds.Length > 0 && request.RemainingNewTokens == 0 && !request.IsContinuation;
        return carry ? session.Tokens.Count : Math.Min(cached, session.Tokens.Count - 1);
    }

    /// <summary>Input = the session's committed tokens not yet cached (at least its last one, unless its logits
    /// were kept) + context + drafts.</summary>
    private RunnerInput BuildInput(EngineRequest request, EngineSession session)
    {
        var id = session.SessionId;
        if (session.KvKeep is { } keep)
        {
            if (keep == 0) runner.KvCache.Release(id);
            else runner.KvCache.Truncate(id, Math.Min(keep, runner.KvCache.CachedLength(id)));
            session.KvKeep = null;
            session.NextLogits = null;
        }
        int cached = CachedFor(request, session);
        runner.KvCache.Truncate(id, cached);
        if (cached == 0 && session.Tokens.Count > 1 && !everCached.Add(id))
        {
            metrics.ReprefillTokens.Add(session.Tokens.Count - 1);
            Stats.ReprefillTokens += session.Tokens.Count - 1;
        }
        var r = request.Request;
        var input = new int[session.Tokens.Count - cached + r.NumTokens];
        session.Tokens.CopyTo(cached, input, 0, session.Tokens.Count - cached);
        r.ContextTokenIds.CopyTo(input, session.Tokens.Count - cached);
        r.DraftTokenIds.CopyTo(input, session.Tokens.Count - cached + r.ContextTokenIds.Length);
        // Logits of the last committed token predict the first draft (or the first context token, unused).
        // With nothing committed left to run and no context, the kept logits stand in for that row.
        var logitsFrom = session.Tokens.Count - 1 - cached + r.ContextTokenIds.Length;
        session.KeptRow = logitsFrom < 0 ? session.NextLogits : null;
        return new RunnerInput(id, input, cached, Math.Max(0, logitsFrom));
    }

    private void RunBatch(List<(EngineRequest request, EngineSession session, RunnerInput input)> work, List<(EngineSession?, Verdict)> verdicts)
    {
        var clock = Stopwatch.StartNew();
        var evictionsBefore = runner.KvCache.NumEvictions;
        IReadOnlyList<RunnerOutput> outputs;
        try
        {
            outputs = runner.Execute(work.Select(w => w.input).ToList());
        }
        catch (Exception e)
        {
            logger.LogError(e, "Batched forward of {Count} requests failed", work.Count);
            lock (gate)
                foreach (var (request, session, _) in work.Where(w => IsStillCurrent(w.session)))
                {
                    // The session's spans behind this one were built on it: drop them and start a new epoch at
                    // the committed tokens, which the device and the session grain resync to from the verdict.
                    runner.KvCache.Release(session.SessionId);
                    session.NextLogits = session.KeptRow = null;
                    session.CorrectionInProgress = false;   // the Failed verdict supersedes the correction and its stale followers
                    session.HeldVerdicts.Clear();
                    scheduler.RemoveSession(session.SessionId);
                    session.Epoch++;
                    session.QueuedEnd = session.Tokens.Count;
                    verdicts.Add((session, Make(request, session, VerdictKind.Failed, 0, -1, -1, e.Message)));
                }
            return;
        }
        var computeMs = clock.Elapsed.TotalMilliseconds;
        metrics.Evictions.Add(runner.KvCache.NumEvictions - evictionsBefore);   // slots taken from quiet sessions for this batch
        int numTokens = work.Sum(w => w.input.InputIds.Length);
        metrics.ComputeTime.Add(computeMs);
        metrics.BatchSize.Record(work.Count);
        metrics.TokensPerStep.Record(numTokens);
        Stats.RecordStep(computeMs, work.Count, numTokens);
        lock (gate)
        {
            for (int i = 0; i < work.Count; i++)
                if (IsStillCurrent(work[i].session)) Commit(work[i].request, work[i].session, outputs[i], verdicts);
        }
        metrics.StepTime.Record(clock.Elapsed.TotalMilliseconds);
        Load.Update(clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>
    /// Whether the session a step ran for is still the one held under its id. A session released while its step ran (a
    /// resync), or set up again after that (the device's next span brings the history in a new epoch), is not: the step's
    /// result belongs to the session that was, whose grain no longer waits for it. Committing it would reach the new
    /// session through the scheduler's queue, which is keyed by id: a correction took the new session's spans out of the
    /// queue to hold their verdicts in the old one, and they were never answered. Under the gate.
    /// </summary>
    private bool IsStillCurrent(EngineSession session) =>
        sessions.TryGetValue(session.SessionId, out var current) && ReferenceEquals(current, session);

    /// <summary>Judges the drafts, extends the committed tokens, rolls the KV cache back to them.</summary>
    private void Commit(EngineRequest request, EngineSession session, RunnerOutput rows, List<(EngineSession?, Verdict)> verdicts)
    {
        var r = request.Request;
        session.LastActive = Stopwatch.GetTimestamp();
        if (session.KeptRow is { } kept) rows = rows.WithFirstRow(kept);
        session.KeptRow = null;
        session.NextLogits = null;
        // Row 0 predicts the first draft, at this absolute position (the coupled noise is keyed by it).
        long firstDraftPosition = r.StartPosition + r.ContextTokenIds.Length;
        var judgement = AcceptanceRule.Judge(rows, r.DraftTokenIds, r.DraftProbs, session.Sampling, firstDraftPosition, session.Random);
        session.Tokens.AddRange(r.ContextTokenIds);
        session.Tokens.AddRange(r.DraftTokenIds.AsSpan(0, judgement.NumAccepted));
        metrics.DraftedTokens.Add(r.DraftTokenIds.Length);
        metrics.AcceptedTokens.Add(judgement.NumAccepted);
        Stats.DraftedTokens += r.DraftTokenIds.Length;
        Stats.AcceptedTokens += judgement.NumAccepted;

        if (request.Correction is not null)
        {
            ContinueCorrection(request, session, judgement.NextTokenId, verdicts);
        }
        else if (request.RemainingNewTokens > 0)
        {
            GenerateOne(request, session, judgement.NextTokenId, verdicts);
        }
        else
        {
            if (judgement.CorrectionTokenId >= 0)
            {
                session.Tokens.Add(judgement.CorrectionTokenId);
                session.Epoch++;                        // every span queued after this one was built on the rejected draft
                session.QueuedEnd = session.Tokens.Count;
            }
            if (judgement.CorrectionTokenId >= 0 && r.CorrectionLookahead > 0 && !runner.EosTokenIds.Contains(judgement.CorrectionTokenId)
                && session.Tokens.Count < runner.Info.MaxSequenceLength)
            {
                // The verdict waits for the LLM's next tokens after the correction (one engine step each).
                session.CorrectionInProgress = true;
                // The spans queued behind this one were built on the rejected draft: out of the queue now (not one step each
                // ahead of the continuation), their stale verdicts held until the correction's has left.
                foreach (var stale in scheduler.RemoveSession(session.SessionId)) session.HeldVerdicts.Add(Stale(stale, session));
                var pending = new PendingCorrection(r.StartPosition, judgement.NumAccepted, judgement.CorrectionTokenId);
                // It keeps the rejected span's arrival time: the verdict's latency is the whole wait.
                QueueNextStep(request, session, r.CorrectionLookahead, request.ArrivalTimestamp, pending);
            }
            else verdicts.Add((session, Make(request, session, VerdictKind.Verified, judgement.NumAccepted, judgement.CorrectionTokenId, judgement.NextTokenId)));
        }
        if (judgement.CorrectionTokenId < 0 && request.RemainingNewTokens == 0 && r.DraftTokenIds.Length > 0)
        {
            // Accepted whole: the cache holds every committed token and the last row predicts the next one.
            session.NextLogits = rows.Row(r.DraftTokenIds.Length).ToArray();
            runner.KvCache.Truncate(session.SessionId, session.Tokens.Count);
        }
        else runner.KvCache.Truncate(session.SessionId, session.Tokens.Count - 1);
        if (session.CorrectionInProgress) return;     // its verdict has not left yet: its latency is recorded when it does
        var latency = Stopwatch.GetElapsedTime(request.ArrivalTimestamp).TotalMilliseconds;
        metrics.VerifyLatency.Record(latency);
        Load.RecordLatency(latency);
        Stats.RecordLatency(latency);
    }

    /// <summary>One step of cloud-side generation (<c>llm</c> mode): commit the LLM's token and queue the next step.</summary>
    private void GenerateOne(EngineRequest request, EngineSession session, int token, List<(EngineSession?, Verdict)> verdicts)
    {
        bool end = runner.EosTokenIds.Contains(token) || session.Tokens.Count + 1 >= runner.Info.MaxSequenceLength;
        if (!runner.EosTokenIds.Contains(token))
        {
            session.Tokens.Add(token);
            verdicts.Add((session, Make(request, session, VerdictKind.Generated, 0, -1, token)));
        }
        session.QueuedEnd = session.Tokens.Count;
        var remaining = request.RemainingNewTokens - 1;
        if (end || remaining <= 0)
        {
            verdicts.Add((session, Make(request, session, VerdictKind.GenerationEnded, 0, -1, -1)));
            return;
        }
        QueueNextStep(request, session, remaining, Stopwatch.GetTimestamp());
    }

    /// <summary>One token of a correction's continuation: commit it, then queue the next or send the verdict with them all.</summary>
    private void ContinueCorrection(EngineRequest request, EngineSession session, int token, List<(EngineSession?, Verdict)> verdicts)
    {
        var pending = request.Correction!;
        pending.Continuation.Add(token);
        session.Tokens.Add(token);                  // an end of sequence too: the device commits it and the answer ends
        session.QueuedEnd = session.Tokens.Count;
        var remaining = request.RemainingNewTokens - 1;
        if (remaining > 0 && !runner.EosTokenIds.Contains(token) && session.Tokens.Count < runner.Info.MaxSequenceLength)
        {
            QueueNextStep(request, session, remaining, request.ArrivalTimestamp, pending);
            return;
        }
        verdicts.Add((session, new Verdict(request.SessionId, request.Request.Seq, session.Epoch, VerdictKind.Verified, pending.StartPosition,
            pending.NumAccepted, pending.CorrectionTokenId, -1, session.Tokens.Count, Stopwatch.GetElapsedTime(request.ArrivalTimestamp).TotalMilliseconds,
            ContinuationTokenIds: [.. pending.Continuation])));
        session.CorrectionInProgress = false;
        foreach (var held in session.HeldVerdicts) verdicts.Add((session, held));
        session.HeldVerdicts.Clear();
    }

    /// <summary>Queues a step that runs only the session's last committed token and writes the LLM's next one: cloud-side
    /// generation (<c>llm</c>), or a correction's continuation (<paramref name="correction"/>). It jumps the admission limits:
    /// its request was admitted once already.</summary>
    private void QueueNextStep(EngineRequest request, EngineSession session, int remaining, long arrivalTimestamp, PendingCorrection? correction = null)
    {
        var next = request.Request with { Epoch = session.Epoch, StartPosition = session.Tokens.Count, ContextTokenIds = [], DraftTokenIds = [], DraftProbs = [] };
        scheduler.TryAdd(new EngineRequest(next, arrivalTimestamp, session.LatencyTargetMs)
        {
            IsContinuation = true, RemainingNewTokens = remaining, Correction = correction, Parent = request.Parent,
        }, force: true);
    }

    private Verdict Stale(EngineRequest request, EngineSession session) =>
        Make(request, session, VerdictKind.Stale, 0, -1, -1, $"request drafted in epoch {request.Request.Epoch} at {request.Request.StartPosition}; session is in epoch {session.Epoch} at {session.Tokens.Count}");

    private static Verdict Make(EngineRequest request, EngineSession session, VerdictKind kind, int accepted, int correction, int next, string? message = null) =>
        new(request.SessionId, request.Request.Seq, session.Epoch, kind, request.Request.StartPosition, accepted, correction, next,
            session.Tokens.Count, Stopwatch.GetElapsedTime(request.ArrivalTimestamp).TotalMilliseconds, message);

    /// <summary>Hands verdicts to the sink, in order per session.</summary>
    private void Deliver(EngineSession? session, Verdict verdict, ActivityContext trace = default)
    {
        Task Send()
        {
            // The delivery call (and the session grain's stream publish behind it) joins the span's trace.
            using var delivery = trace == default ? null : VerifierTracing.Source.StartActivity("verdict", ActivityKind.Producer, trace);
            delivery?.SetTag("synera.session", verdict.SessionId).SetTag("synera.seq", verdict.Seq);
            return sink.DeliverAsync(verdict).ContinueWith(t =>
            {
                if (t.Exception is not null) logger.LogWarning(t.Exception, "Delivering verdict {Seq} of {Session} failed", verdict.Seq, verdict.SessionId);
            }, TaskScheduler.Default);
        }
        if (session is null) { _ = Send(); return; }
        // Engine thread only. A session whose last verdict has arrived hands this one over now, within the step (the
        // session stays busy for the in-flight watch meanwhile: it is still running); else it waits for that one.
        Task last;
        lock (gate) last = session.LastDelivery;
        var next = last.IsCompleted ? Send() : last.ContinueWith(_ => Send(), TaskScheduler.Default).Unwrap();
        lock (gate) session.LastDelivery = next;
    }

    /// <summary>Completes when every verdict handed out so far has reached the sink.</summary>
    public Task DeliveriesCompleted()
    {
        lock (gate) return Task.WhenAll(sessions.Values.Select(s => s.LastDelivery).ToArray());
    }

    /// <summary>The session's committed tokens as the engine sees them (tests).</summary>
    public int[]? CommittedTokens(string sessionId)
    {
        lock (gate) return sessions.TryGetValue(sessionId, out var s) ? [.. s.Tokens] : null;
    }

    public void Dispose()
    {
        stopping.Cancel();
        thread?.Join(TimeSpan.FromSeconds(10));
        runner.Dispose();
        metrics.Dispose();
    }
}

/// <summary>Running totals of the engine, for the benchmark and the cloud-cost metric.</summary>
public sealed class EngineStats
{
    public long NumSteps;
    public long NumRequests;
    public long ProcessedTokens;
    public double ComputeMs;
    public long DraftedTokens;
    public long AcceptedTokens;
    public long ReprefillTokens;
    public long ExpiredSessions;

    private readonly List<double> latencies = [];

    /// <summary>Verify latencies (arrival to verdict, ms) in order, for benchmarks; the first 1,000,000 are kept.</summary>
    public void RecordLatency(double ms)
    {
        lock (latencies) if (latencies.Count < 1_000_000) latencies.Add(ms);
    }

    public int NumLatencies { get { lock (latencies) return latencies.Count; } }

    /// <summary>The latencies recorded from index <paramref name="start"/> on.</summary>
    public double[] LatenciesSince(int start)
    {
        lock (latencies) return latencies.Skip(start).ToArray();
    }

    public void RecordStep(double ms, int requests, int tokens)
    {
        NumSteps++;
        NumRequests += requests;
        ProcessedTokens += tokens;
        ComputeMs += ms;
    }
}

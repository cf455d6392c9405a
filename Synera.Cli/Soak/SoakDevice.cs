using System.Diagnostics;
using System.Threading.Channels;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Abstractions.Messages;

namespace Synera.Cli.Soak;

/// <summary>How a simulated device behaves.</summary>
public enum SoakBehaviour { Steady, Disconnecting, Garbage }

/// <summary>
/// One lightweight simulated device speaking the real protocol to real grains and streams, without an SLM. Each answer:
/// open a session, then per span draft a few "confident" tokens of its own (sent as the span's context, as a real device
/// sends what it kept) and one or two uncertain drafts, wait for the verdict, follow it, report progress, pause. It keeps
/// the tokens it was refused (over budget, overloaded), and follows resyncs. At the end of each answer it compares the
/// tokens it acknowledged with what its session grain committed: any difference is a lost token.
/// </summary>
public sealed class SoakDevice(string deviceId, double budget, SoakBehaviour behaviour, IClusterClient client, int[] prompt, int vocabSize,
    int window, int maxSpanTokens, SoakOptions options, SoakMeter meter, Random random)
{
    private static readonly TimeSpan VerdictTimeout = TimeSpan.FromSeconds(20);
    private static int reported;

    public string DeviceId => deviceId;
    public SoakBehaviour Behaviour => behaviour;

    /// <summary>When the device last finished a step (<see cref="Stopwatch"/> timestamp): a device that stops advancing is stalled.</summary>
    public long LastProgress { get; private set; } = Stopwatch.GetTimestamp();
    public bool Away { get; private set; }

    /// <summary>Committed in the cloud but never acknowledged, plus acknowledged but missing from the cloud.</summary>
    public long TokensLost { get; private set; }
    public long TokensCommitted { get; private set; }
    public int Answers { get; private set; }

    // The number of "confident" tokens per uncertain one that makes the device's offload ratio its budget.
    // (At most what fits in one span beside two drafts.)
    private int OwnTokensPerSpan => budget >= 1 ? 0 : Math.Clamp((int)Math.Round(1 / budget) - 1, 0, maxSpanTokens - 2);

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try { await AnswerAsync(stop); }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            catch (SyneraRequestException e)
            {
                // A well-formed request of its own refused: a protocol bug, whatever the message.
                meter.Error($"unexpected:{Kind(e)}");
                if (Interlocked.Increment(ref reported) <= 3) Console.Error.WriteLine($"soak device {deviceId}: {e.Message}");
                await Task.Delay(1000, CancellationToken.None);
            }
            catch (Exception e) { meter.Error($"unexpected:{e.GetType().Name}"); await Task.Delay(1000, CancellationToken.None); }
            LastProgress = Stopwatch.GetTimestamp();
        }
    }

    private async Task AnswerAsync(CancellationToken stop)
    {
        var sessionId = $"{deviceId}/{++Answers}";
        var session = client.GetGrain<ISessionGrain>(sessionId);
        var verdicts = Channel.CreateUnbounded<Verdict>();
        var stream = client.GetStreamProvider(SyneraNames.StreamProvider).GetStream<Verdict>(StreamId.Create(SyneraNames.VerdictNamespace, sessionId));
        var subscription = await stream.SubscribeAsync((v, _) => { verdicts.Writer.TryWrite(v); return Task.CompletedTask; });
        SessionInfo info;
        try { info = await session.OpenAsync(new SessionOptions(new OffloadBudget(budget)), prompt); }
        catch (SyneraRequestException e)
        {
            meter.Error($"refused:open:{Kind(e)}");
            await subscription.UnsubscribeAsync();
            return;
        }
        List<int> acknowledged = [.. prompt];   // what this device holds as committed
        List<int> own = [];                     // its own tokens the cloud has not been told of yet
        int epoch = info.Epoch, seq = 0, generatedSinceReport = 0, offloadedSinceReport = 0;

        // Takes the session's committed tokens as the device's own (after a resync, or a verdict it could not follow);
        // the device redrafts from there.
        async Task CatchUpAsync(Task<SessionSnapshot> snapshotTask)
        {
            var snapshot = await snapshotTask;
            // Tokens it had acknowledged that the cloud no longer holds would be lost: the snapshot must extend them.
            TokensLost += acknowledged.Count - CommonPrefix(acknowledged, snapshot.CommittedTokenIds);
            own.Clear();
            generatedSinceReport += Math.Max(0, snapshot.CommittedTokenIds.Length - acknowledged.Count);
            acknowledged = [.. snapshot.CommittedTokenIds];
            epoch = snapshot.Epoch;
        }
        try
        {
            for (int span = 0; span < options.SpansPerAnswer && !stop.IsCancellationRequested; span++)
            {
                if (acknowledged.Count + own.Count + OwnTokensPerSpan + 3 >= window - 2) break;
                for (int i = 0; i < OwnTokensPerSpan; i++) own.Add(RandomToken());
                int[] drafts = [.. Enumerable.Range(0, random.Next(1, 3)).Select(_ => RandomToken())];
                if (behaviour == SoakBehaviour.Garbage && random.NextDouble() < 0.3) await SendGarbageAsync(session, sessionId, seq, epoch, acknowledged.Count);

                // Its own tokens go as the span's context, as many as fit (a backlog of refused ones waits for the next).
                int[] context = [.. own.Take(maxSpanTokens - drafts.Length)];
                var request = new VerifyRequest(sessionId, seq, epoch, acknowledged.Count, context, drafts, []);
                int waitingFor = seq++;
                var sent = Stopwatch.GetTimestamp();
                var status = await session.VerifyAsync(request);
                offloadedSinceReport++;
                switch (status)
                {
                    case EnqueueStatus.Queued:
                        if (behaviour == SoakBehaviour.Disconnecting && random.NextDouble() < 0.2)
                        {
                            // Gone with the span in flight: its verdict is published while no one listens.
                            Away = true;
                            await subscription.UnsubscribeAsync();
                            await Task.Delay(random.Next(1000, 4000), CancellationToken.None);
                            subscription = await stream.SubscribeAsync((v, _) => { verdicts.Writer.TryWrite(v); return Task.CompletedTask; });
                            Away = false;
                            meter.Error("expected:reconnect");
                            await CatchUpAsync(session.ResyncAsync());
                            break;
                        }
                        var verdict = await WaitForAsync(verdicts.Reader, waitingFor);   // a span in flight is seen through, even when the run stops
                        if (verdict is null)
                        {
                            meter.Error("verdict-timeout");
                            await CatchUpAsync(session.ResyncAsync());
                            break;
                        }
                        meter.Span(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
                        if (verdict.Kind == VerdictKind.Verified)
                        {
                            int before = acknowledged.Count;
                            acknowledged.AddRange(context);
                            acknowledged.AddRange(drafts.Take(verdict.NumAccepted));
                            if (verdict.CorrectionTokenId >= 0) acknowledged.Add(verdict.CorrectionTokenId);
                            own.RemoveRange(0, context.Length);
                            epoch = verdict.Epoch;
                            generatedSinceReport += acknowledged.Count - before;
                            if (acknowledged.Count != verdict.CommittedLength)
                            {
                                meter.Error("diverged");
                                await CatchUpAsync(session.GetSnapshotAsync());
                            }
                        }
                        else
                        {
                            meter.Error($"verdict:{verdict.Kind}");
                            await CatchUpAsync(session.GetSnapshotAsync());
                        }
                        break;
                    case EnqueueStatus.OverBudget or EnqueueStatus.Overloaded:
                        meter.Error($"expected:{status}");
                        own.AddRange(drafts);   // the device keeps its own tokens and tells the cloud with the next span
                        offloadedSinceReport--;
                        break;
                    default:   // Stale, NeedsHistory: the grain resynchronised; follow it
                        meter.Error($"status:{status}");
                        await CatchUpAsync(session.GetSnapshotAsync());
                        break;
                }
                if (span % 4 == 3)
                {
                    // Offloads are counted among committed tokens: a span the cloud resynchronised away committed none.
                    await session.ReportProgressAsync(new ProgressReport(generatedSinceReport, Math.Min(offloadedSinceReport, generatedSinceReport), 0, [], double.NaN));
                    generatedSinceReport = offloadedSinceReport = 0;
                }
                LastProgress = Stopwatch.GetTimestamp();
                await Task.Delay(TimeSpan.FromMilliseconds(options.ThinkMs * (0.5 + random.NextDouble())), stop);
            }
        }
        finally
        {
            // Whatever happened, compare what this device holds with what the cloud committed, then close.
            var snapshot = await session.GetSnapshotAsync();
            TokensLost += Difference(acknowledged, snapshot.CommittedTokenIds);
            int committed = snapshot.CommittedTokenIds.Length - prompt.Length;
            TokensCommitted += committed;
            meter.Committed(committed);
            await subscription.UnsubscribeAsync();
            await session.CloseAsync();
        }
    }

    private static async Task<Verdict?> WaitForAsync(ChannelReader<Verdict> verdicts, int seq)
    {
        using var timeout = new CancellationTokenSource(VerdictTimeout);
        try
        {
            while (true)
            {
                var v = await verdicts.ReadAsync(timeout.Token);
                if (v.Seq == seq) return v;   // older ones (a resync's notice for an earlier span) are already followed
            }
        }
        catch (OperationCanceledException) { return null; }
    }

    /// <summary>Tokens on which the device and the cloud disagree: everything past their common prefix, on both sides.</summary>
    public static int Difference(IReadOnlyList<int> device, IReadOnlyList<int> cloud)
    {
        int common = CommonPrefix(device, cloud);
        return device.Count - common + cloud.Count - common;
    }

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int common = 0;
        while (common < a.Count && common < b.Count && a[common] == b[common]) common++;
        return common;
    }

    private int RandomToken() => random.Next(3, vocabSize);

    /// <summary>One bad request; each must be refused on its own and change nothing.</summary>
    private async Task SendGarbageAsync(ISessionGrain session, string sessionId, int seq, int epoch, int position)
    {
        var kind = random.Next(6);
        try
        {
            switch (kind)
            {
                case 0: await session.VerifyAsync(new VerifyRequest(sessionId, seq, epoch, position, [], [vocabSize + 7], [])); break;
                case 1: await session.VerifyAsync(new VerifyRequest(sessionId, seq - 1, epoch, position, [], [5], [])); break;
                case 2: await session.VerifyAsync(new VerifyRequest(sessionId, seq, epoch, position, [], [.. Enumerable.Repeat(5, 5000)], [])); break;
                case 3: await session.OnVerdictAsync(new Verdict(sessionId, seq, epoch, VerdictKind.Verified, position, 5, -1, 9, position + 5, 1, null)); break;
                case 4: await client.GetGrain<ISessionGrain>($"{deviceId}/never-opened").VerifyAsync(new VerifyRequest($"{deviceId}/never-opened", 0, 0, 3, [], [5], [])); break;
                default: await client.GetGrain<ISessionGrain>($"{deviceId}/bad-{seq}").OpenAsync(new SessionOptions(OffloadBudget.Full, LatencyTargetMs: double.NaN), prompt); break;
            }
            meter.Error($"garbage-accepted:{kind}");   // should never happen
        }
        catch (SyneraRequestException e) { meter.Error($"refused:{Kind(e)}"); }
    }

    /// <summary>A refusal's kind, from its message (a stable, short label per check).</summary>
    private static string Kind(SyneraRequestException e) => e.Message switch
    {
        var m when m.Contains("vocabulary") => "out-of-vocabulary",
        var m when m.Contains("out of order") => "replayed-seq",
        var m when m.Contains("exceeds") || m.Contains("span of") => "oversized",
        var m when m.Contains("internal to the cluster") => "internal-method",
        var m when m.Contains("unknown session") => "unknown-session",
        var m when m.Contains("latency target") => "latency-target",
        var m when m.Contains("quota") => "session-quota",
        _ => "other",
    };
}

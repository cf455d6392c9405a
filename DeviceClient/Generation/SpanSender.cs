using System.Threading.Channels;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Link;

namespace Synera.DeviceClient.Generation;

/// <summary>
/// Sends verify requests in order on a background task, through the emulated uplink, so drafting never waits
/// for the network. When the cloud refuses a span (Overloaded, OverBudget), the spans queued behind it in the same
/// round are dropped unsent (they would start at a position the cloud no longer expects) and the loop is told.
/// </summary>
internal sealed class SpanSender : IAsyncDisposable
{
    private readonly Channel<(VerifyRequest request, int round)> queue = Channel.CreateUnbounded<(VerifyRequest, int)>(new() { SingleReader = true });
    private readonly ISessionGrain session;
    private readonly LinkEmulator<DeviceEvent> link;
    private readonly ChannelWriter<DeviceEvent> events;
    private readonly CancellationToken cancellation;
    private readonly Task pump;
    private int refusedRound = -1;

    public SpanSender(ISessionGrain session, LinkEmulator<DeviceEvent> link, ChannelWriter<DeviceEvent> events, CancellationToken cancellation)
    {
        this.session = session; this.link = link; this.events = events; this.cancellation = cancellation;
        pump = Task.Run(PumpAsync, cancellation);
    }

    /// <summary>Set when a send failed with an error (the loop rethrows it).</summary>
    public Exception? Error { get; private set; }

    /// <summary>Asks the session grain to resynchronise (the device saw a stall) and returns its committed tokens.</summary>
    public async Task<SessionSnapshot> ResyncAsync(CancellationToken cancellation)
    {
        await link.UplinkAsync(32, cancellation);
        return await session.ResyncAsync().WaitAsync(CallTimeout, cancellation);
    }

    /// <summary>How long one call to the session grain may take before the device treats it as lost in transit (a call to
    /// a silo that is going away can otherwise hang for Orleans' whole response timeout).</summary>
    public static TimeSpan CallTimeout { get; } = TimeSpan.FromSeconds(5);

    /// <summary>Queues a request; <paramref name="round"/> groups the requests sent since the last refusal.</summary>
    public void Send(VerifyRequest request, int round) => queue.Writer.TryWrite((request, round));

    private async Task PumpAsync()
    {
        try
        {
            await foreach (var (request, round) in queue.Reader.ReadAllAsync(cancellation))
            {
                if (round <= refusedRound) { await events.WriteAsync(new SpanRefused(request.Seq), cancellation); continue; }
                await link.UplinkAsync(request.WireBytes, cancellation);
                EnqueueStatus status;
                // The root of this span's trace: the session grain, the verifier and the verdict's delivery join it.
                using var activity = DeviceTracing.Source.StartActivity("span", System.Diagnostics.ActivityKind.Client);
                activity?.SetTag("synera.session", request.SessionId).SetTag("synera.seq", request.Seq)
                    .SetTag("synera.context_tokens", request.ContextTokenIds.Length).SetTag("synera.drafts", request.DraftTokenIds.Length);
                try
                {
                    status = await session.VerifyAsync(request).WaitAsync(CallTimeout, cancellation);
                    activity?.SetTag("synera.status", status.ToString());
                }
                catch (Exception e) when (TransportFailures.IsTransient(e) && !cancellation.IsCancellationRequested)
                {
                    // The grain's silo is stopping or gone: the loop resynchronises from the session grain.
                    refusedRound = round;
                    await events.WriteAsync(new SpanLost(request.Seq, e.Message), cancellation);
                    continue;
                }
                if (status is EnqueueStatus.Overloaded or EnqueueStatus.OverBudget)
                {
                    refusedRound = round;
                    await events.WriteAsync(new SpanRefused(request.Seq), cancellation);
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e)
        {
            Error = e;
            events.TryWrite(new SpanRefused(-1));   // wake the loop so it can surface the error
        }
    }

    /// <summary>How long disposing waits for a send in flight: a cloud that went away answers only when the
    /// call times out (Orleans' response timeout, 30 s by default), and the answer must not wait for that.</summary>
    public static TimeSpan DrainTimeout { get; } = TimeSpan.FromSeconds(2);

    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        try { await pump.WaitAsync(DrainTimeout); }
        catch (OperationCanceledException) { }
        catch (TimeoutException) { }   // left to finish on its own; nothing reads what it reports any more
    }
}

using System.Threading.Channels;

namespace Synera.DeviceClient.Link;

/// <summary>
/// Delays every device↔cloud message by half the RTT plus its size over the bandwidth (plus jitter, and a retransmission
/// timeout for a lost one, when the link is a poor one), and counts bytes each way. Uplink sends complete after the delay
/// (the caller sends on a background task, so drafting never waits); downlink messages are released to the receiver
/// after their delay. Each direction stays in order, as on one TCP connection: a message is never released before the
/// one sent ahead of it, so a loss holds back what follows.
/// </summary>
public sealed class LinkEmulator<TDown>(LinkOptions options, ChannelWriter<TDown> receiver)
{
    private long bytesUp, bytesDown, messagesUp, messagesDown;
    private Task downlinkTail = Task.CompletedTask;
    private DateTime uplinkDue = DateTime.MinValue, downlinkDue = DateTime.MinValue;
    private readonly Lock gate = new();

    public long BytesUp => Interlocked.Read(ref bytesUp);
    public long BytesDown => Interlocked.Read(ref bytesDown);
    public long MessagesUp => Interlocked.Read(ref messagesUp);
    public long MessagesDown => Interlocked.Read(ref messagesDown);

    /// <summary>One message's delay: half the RTT, its serialisation, and on a poor link jitter and a lost first transmission.</summary>
    public TimeSpan DelayFor(int bytes) => TimeSpan.FromMilliseconds(options.RttMs / 2 +
        (options.BandwidthBitsPerSecond > 0 ? bytes * 8 * 1000.0 / options.BandwidthBitsPerSecond : 0) +
        (options.JitterMs > 0 ? Random.Shared.NextDouble() * options.JitterMs : 0) +
        (options.LossRate > 0 && Random.Shared.NextDouble() < options.LossRate ? options.RetransmitMs : 0));

    /// <summary>When a message sent now is delivered: after its delay, and never before the one sent ahead of it.</summary>
    private DateTime Due(ref DateTime lastDue, int bytes)
    {
        lock (gate)
        {
            var due = DateTime.UtcNow + DelayFor(bytes);
            if (due < lastDue) due = lastDue;
            lastDue = due;
            return due;
        }
    }

    /// <summary>Waits out the uplink delay of a message of <paramref name="bytes"/>.</summary>
    public Task UplinkAsync(int bytes, CancellationToken cancellation)
    {
        Interlocked.Add(ref bytesUp, bytes);
        Interlocked.Increment(ref messagesUp);
        var wait = Due(ref uplinkDue, bytes) - DateTime.UtcNow;
        return wait <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(wait, cancellation);
    }

    /// <summary>Hands a downlink message to the receiver after its delay, never before earlier ones.</summary>
    public void Downlink(TDown message, int bytes)
    {
        Interlocked.Add(ref bytesDown, bytes);
        Interlocked.Increment(ref messagesDown);
        var due = Due(ref downlinkDue, bytes);
        lock (gate)
        {
            downlinkTail = downlinkTail.ContinueWith(async _ =>
            {
                var wait = due - DateTime.UtcNow;
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                await receiver.WriteAsync(message);
            }, TaskScheduler.Default).Unwrap();
        }
    }
}

using System.Threading.Channels;

namespace Synera.DeviceClient.Link;

/// <summary>
/// Delays every device↔cloud message by half the RTT plus its size over the bandwidth, and counts bytes
/// each way. Uplink sends complete after the delay (the caller sends on a background task, so drafting
/// never waits); downlink messages are released to the receiver in arrival order after their delay.
/// </summary>
public sealed class LinkEmulator<TDown>(LinkOptions options, ChannelWriter<TDown> receiver)
{
    private long bytesUp, bytesDown, messagesUp, messagesDown;
    private Task downlinkTail = Task.CompletedTask;
    private readonly Lock gate = new();

    public long BytesUp => Interlocked.Read(ref bytesUp);
    public long BytesDown => Interlocked.Read(ref bytesDown);
    public long MessagesUp => Interlocked.Read(ref messagesUp);
    public long MessagesDown => Interlocked.Read(ref messagesDown);

    public TimeSpan DelayFor(int bytes) => TimeSpan.FromMilliseconds(options.RttMs / 2 +
        (options.BandwidthBitsPerSecond > 0 ? bytes * 8 * 1000.0 / options.BandwidthBitsPerSecond : 0));

    /// <summary>Waits out the uplink delay of a message of <paramref name="bytes"/>.</summary>
    public Task UplinkAsync(int bytes, CancellationToken cancellation)
    {
        Interlocked.Add(ref bytesUp, bytes);
        Interlocked.Increment(ref messagesUp);
        var delay = DelayFor(bytes);
        return delay <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(delay, cancellation);
    }

    /// <summary>Hands a downlink message to the receiver after its delay, never before earlier ones.</summary>
    public void Downlink(TDown message, int bytes)
    {
        Interlocked.Add(ref bytesDown, bytes);
        Interlocked.Increment(ref messagesDown);
        var due = DateTime.UtcNow + DelayFor(bytes);
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

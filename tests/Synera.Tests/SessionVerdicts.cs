using System.Threading.Channels;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Abstractions.Messages;

namespace Synera.Tests;

/// <summary>A session opened by hand, as a device would, with its verdict stream subscribed first so no verdict is missed.</summary>
public sealed record OpenedSession(ISessionGrain Grain, Channel<Verdict> Verdicts, SessionInfo Info)
{
    /// <summary>Subscribes to <c>verdicts/{id}</c>, then opens the session with <paramref name="prompt"/>.</summary>
    public static async Task<OpenedSession> OpenAsync(IClusterClient client, string id, SessionOptions options, int[] prompt)
    {
        var verdicts = Channel.CreateUnbounded<Verdict>();
        await client.GetStreamProvider(SyneraNames.StreamProvider).GetStream<Verdict>(StreamId.Create(SyneraNames.VerdictNamespace, id))
            .SubscribeAsync((v, _) => verdicts.Writer.WriteAsync(v).AsTask());
        var grain = client.GetGrain<ISessionGrain>(id);
        return new OpenedSession(grain, verdicts, await grain.OpenAsync(options, prompt));
    }
}

public static class VerdictChannels
{
    /// <summary>The next verdict on a session's stream; fails the test after 30 s.</summary>
    public static async Task<Verdict> NextVerdictAsync(this Channel<Verdict> verdicts)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await verdicts.Reader.ReadAsync(timeout.Token);
    }
}

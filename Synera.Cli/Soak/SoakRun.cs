using System.Diagnostics;
using Synera.Abstractions;
using Synera.Abstractions.Messages;

namespace Synera.Cli.Soak;

/// <summary>What a soak found: totals, and per minute memory, latency and errors.</summary>
public sealed record SoakResult(
    int Devices, double Minutes, long TokensCommitted, long TokensLost, int Deadlocks, int Answers,
    IReadOnlyList<SoakMinute> PerMinute, SoakOptions Options)
{
    /// <summary>Memory growth from the end of minute 2 (after warm-up) to the last minute, as a fraction.</summary>
    public double? MemoryGrowth => PerMinute.Count >= 3 ? PerMinute[^1].MemoryMb / PerMinute[1].MemoryMb - 1 : null;
}

/// <summary>
/// The soak: many simulated devices (<see cref="SoakDevice"/>) against a real cluster for a bounded time. A mix of
/// budgets (<see cref="SoakOptions.Budgets"/>), some devices that disconnect and return, a few that send garbage. It stops
/// by itself: after the time is up each device finishes its answer (compares, closes); one that has not finished a minute
/// later is counted as deadlocked.
/// </summary>
public static class SoakRun
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(1);

    public static async Task<SoakResult> RunAsync(IClusterClient client, IReadOnlyList<int[]> prompts, SoakOptions options,
        Action<SoakMinute>? onMinute = null, CancellationToken cancellation = default)
    {
        if (options.Problem() is { } problem) throw new ArgumentException(problem);
        if (prompts.Count == 0) throw new ArgumentException("no prompts");
        var model = await ProbeModelAsync(client, prompts[0]);
        var meter = new SoakMeter();
        var runId = Guid.NewGuid().ToString("N")[..8];
        var devices = CreateDevices(client, prompts, model, options, meter, runId);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var started = Stopwatch.GetTimestamp();
        // Devices arrive spread over the first think time, not all in the same millisecond.
        var spread = TimeSpan.FromMilliseconds(Math.Min(options.ThinkMs, 10_000));
        var tasks = devices.Select((d, i) => Task.Run(async () =>
        {
            await Task.Delay(spread * i / devices.Count, stop.Token);
            await d.RunAsync(stop.Token);
        }, CancellationToken.None)).ToList();

        var duration = TimeSpan.FromMinutes(options.Minutes);
        for (var next = TimeSpan.FromMinutes(1); ; next += TimeSpan.FromMinutes(1))
        {
            var end = next < duration ? next : duration;
            var wait = end - Stopwatch.GetElapsedTime(started);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellation);
            if (end >= duration) break;
            var minute = meter.CloseMinute(devices.Count, Stalled(devices, options));   // (not inside ?.Invoke: it must run)
            onMinute?.Invoke(minute);
        }
        stop.Cancel();
        var all = Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        await Task.WhenAny(all, Task.Delay(Grace, CancellationToken.None));
        int deadlocks = tasks.Count(t => !t.IsCompleted);
        var last = meter.CloseMinute(devices.Count, deadlocks);
        onMinute?.Invoke(last);
        return new SoakResult(devices.Count, options.Minutes, devices.Sum(d => d.TokensCommitted), devices.Sum(d => d.TokensLost), deadlocks,
            devices.Sum(d => d.Answers), meter.Minutes, options);
    }

    /// <summary>Devices that have not finished a step for far longer than their pauses and a verdict timeout allow.</summary>
    private static int Stalled(IReadOnlyList<SoakDevice> devices, SoakOptions options)
    {
        var limit = TimeSpan.FromMilliseconds(options.ThinkMs * 1.5) + TimeSpan.FromSeconds(60);
        return devices.Count(d => !d.Away && Stopwatch.GetElapsedTime(d.LastProgress) > limit);
    }

    private static List<SoakDevice> CreateDevices(IClusterClient client, IReadOnlyList<int[]> prompts, VerifierModelInfo model, SoakOptions options,
        SoakMeter meter, string runId)
    {
        int n = options.Devices;
        int garbage = (int)Math.Round(n * options.GarbageFraction), disconnecting = (int)Math.Round(n * options.DisconnectFraction);
        // Behaviours spread over the devices (and so over budgets) by a seeded shuffle.
        var order = Enumerable.Range(0, n).ToArray();
        new Random(options.Seed).Shuffle(order);
        var behaviour = new SoakBehaviour[n];
        for (int k = 0; k < n; k++)
            behaviour[order[k]] = k < garbage ? SoakBehaviour.Garbage : k < garbage + disconnecting ? SoakBehaviour.Disconnecting : SoakBehaviour.Steady;
        return [.. Enumerable.Range(0, n).Select(i => new SoakDevice($"soak{runId}-{i}", SoakOptions.Budgets[i % SoakOptions.Budgets.Length], behaviour[i],
            client, prompts[i % prompts.Count], model.VocabSize, model.MaxSequenceLength, model.MaxSpanTokens, options, meter, new Random(options.Seed * 7919 + i)))];
    }

    /// <summary>The served model's vocabulary and window, from a real session.</summary>
    private static async Task<VerifierModelInfo> ProbeModelAsync(IClusterClient client, int[] prompt)
    {
        var probe = client.GetGrain<ISessionGrain>($"soak-probe-{Guid.NewGuid():N}/0");
        var info = await probe.OpenAsync(new SessionOptions(OffloadBudget.Full), prompt);
        await probe.CloseAsync();
        return info.Model;
    }
}

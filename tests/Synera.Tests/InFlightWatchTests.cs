using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Silo.Hosting;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>
/// The session grain's in-flight watch fires one <c>InFlightCheckPeriod</c> after the oldest span in flight was sent (it
/// is moved on every span and verdict rather than ticking): a span whose verdict is lost on the way is noticed about a
/// period after it was sent, and the device resynchronised; a session whose spans are answered is never checked. The verdict is lost on the real
/// path: a silo call filter swallows one verdict before the session grain sees it, after the engine has handed it over
/// (so the verifier counts the session as answered, Idle).
/// </summary>
public class InFlightWatchTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(500);
    private static readonly int[] Prompt = [1, .. TestModels.Tokenizer.Encode("user: What is 1+1?\nassistant: ")];

    [Fact]
    public async Task ALostVerdictIsNoticedAboutAPeriodAfterItsSpanWasSentAndAnsweredSpansAreNeverChecked()
    {
        var filter = new LoseOneVerdictFilter();
        await using var cluster = await EmbeddedCluster.StartAsync(v => { v.ModelPath = TestModels.TinyTarget; v.InFlightCheckPeriod = Period; },
            configureLogging: logging => logging.AddProvider(new TestOutputLoggerProvider(output, LogLevel.Error)),
            configureSilo: silo => silo.AddIncomingGrainCallFilter(filter));
        const string id = "watch-1";
        var (grain, verdicts, info) = await OpenedSession.OpenAsync(cluster.Client, id, new SessionOptions(OffloadBudget.Full), Prompt);
        var drafts = TestModels.Tokenizer.Encode("2");

        // Answered spans, one after another for longer than several periods: the watch never asks the verifier.
        long seq = 0;
        int epoch = info.Epoch, start = Prompt.Length;
        var busy = Stopwatch.StartNew();
        while (busy.Elapsed < 4 * Period && start + 4 < info.Model.MaxSequenceLength)
        {
            await Task.Delay(50);
            Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest(id, seq++, epoch, start, [], drafts, [0.6f])));
            var v = await verdicts.NextVerdictAsync();
            Assert.Equal(VerdictKind.Verified, v.Kind);
            (epoch, start) = (v.Epoch, v.CommittedLength);
        }
        Assert.Equal(0, filter.ActivityChecks);

        // The next span's verdict is lost: the verifier answered it, the grain never hears of it.
        filter.LoseNext = true;
        var sent = Stopwatch.StartNew();
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest(id, seq, epoch, start, [], drafts, [0.6f])));
        var resync = await verdicts.NextVerdictAsync();
        var noticed = sent.Elapsed;
        output.WriteLine($"lost verdict noticed after {noticed.TotalMilliseconds:F0} ms (period {Period.TotalMilliseconds:F0} ms); {filter.ActivityChecks} activity check(s)");
        Assert.Equal(1, filter.Lost);
        Assert.Equal(VerdictKind.Failed, resync.Kind);
        Assert.Contains("never arrived", resync.Message);
        Assert.Equal(start, resync.CommittedLength);                       // nothing committed is lost
        // Due one period after the span was sent (not before: the span might still be answered), plus the check's round
        // trip and the stream; the slack is for a loaded machine.
        Assert.InRange(noticed, Period, Period + TimeSpan.FromSeconds(2));
        Assert.Equal(1, filter.ActivityChecks);

        // The device resends from there and is answered.
        Assert.Equal(EnqueueStatus.Queued, await grain.VerifyAsync(new VerifyRequest(id, seq + 1, resync.Epoch, resync.CommittedLength, [], drafts, [0.6f])));
        Assert.Equal(VerdictKind.Verified, (await verdicts.NextVerdictAsync()).Kind);
    }

    /// <summary>Swallows the next verdict once armed; counts the session grains' activity checks at the verifier.</summary>
    private sealed class LoseOneVerdictFilter : IIncomingGrainCallFilter
    {
        private int lost, activityChecks;
        public volatile bool LoseNext;
        public int Lost => Volatile.Read(ref lost);
        public int ActivityChecks => Volatile.Read(ref activityChecks);

        public Task Invoke(IIncomingGrainCallContext context)
        {
            var method = context.Request.GetMethodName();
            if (method == nameof(IVerifierGrain.GetSessionActivityAsync)) Interlocked.Increment(ref activityChecks);
            if (LoseNext && method == nameof(ISessionGrain.OnVerdictAsync))
            {
                LoseNext = false;
                Interlocked.Increment(ref lost);
                return Task.CompletedTask;   // acknowledged to the engine, never seen by the grain
            }
            return context.Invoke();
        }
    }
}

using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Synera.Grains.Options;
using Synera.Grains.Verification;

namespace Synera.Grains.Placement;

/// <summary>
/// On a verifier silo: one log line per <see cref="VerifierOptions.ActivityLogPeriod"/> saying what this verifier served
/// (spans, engine steps, sessions held, p99, load factor, and the committed tokens it had to run again because their
/// K/V was evicted or lost: a verifier short of KV memory shows it there, and how its verdicts travelled), so an operator (or the Aspire dashboard's logs) sees every verifier silo
/// at work, or idle. Quiet when nothing was served.
/// </summary>
internal sealed class VerifierActivityLog(VerificationEngine engine, OrleansVerdictSink verdicts, ILocalSiloDetails silo, IOptions<VerifierOptions> options, ILogger<VerifierActivityLog> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var period = options.Value.ActivityLogPeriod;
        if (period <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(period);
        var stats = engine.Stats;
        long served = Interlocked.Read(ref stats.NumRequests), tokens = Interlocked.Read(ref stats.ProcessedTokens);
        long steps = Interlocked.Read(ref stats.NumSteps), reprefilled = Interlocked.Read(ref stats.ReprefillTokens);
        double computeMs = Volatile.Read(ref stats.ComputeMs);
        var relayed = verdicts.Relayed;
        while (await timer.WaitForNextTickAsync(stopping))
        {
            long nowServed = Interlocked.Read(ref stats.NumRequests), nowTokens = Interlocked.Read(ref stats.ProcessedTokens);
            long nowSteps = Interlocked.Read(ref stats.NumSteps), nowReprefilled = Interlocked.Read(ref stats.ReprefillTokens);
            double nowComputeMs = Volatile.Read(ref stats.ComputeMs);
            var nowRelayed = verdicts.Relayed;
            if (nowServed > served)
            {
                var load = engine.CurrentLoad;
                logger.LogInformation("Verifier {Silo} verified {Spans} spans ({Tokens} tokens) in {Steps} steps in the last {Period}, forward passes {Busy:F0} % of it ({PerStep:F1} ms a step); holds {Sessions} sessions, p99 {P99:F0} ms, load factor {Load:F2}, re-prefilled {Reprefilled} tokens; {Relayed} verdicts to frontend relays in {RelayCalls} calls",
                    silo.SiloAddress.ToParsableString(), nowServed - served, nowTokens - tokens, nowSteps - steps, period,
                    100 * (nowComputeMs - computeMs) / period.TotalMilliseconds, (nowComputeMs - computeMs) / Math.Max(1, nowSteps - steps), load.NumSessions, load.P99VerifyMs, load.LoadFactor,
                    nowReprefilled - reprefilled, nowRelayed.Verdicts - relayed.Verdicts, nowRelayed.Calls - relayed.Calls);
            }
            (served, tokens, steps, reprefilled, computeMs, relayed) = (nowServed, nowTokens, nowSteps, nowReprefilled, nowComputeMs, nowRelayed);
        }
    }
}

using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Synera.Grains.Options;
using Synera.Grains.Verification;

namespace Synera.Grains.Placement;

/// <summary>
/// On a verifier silo: one log line per <see cref="VerifierOptions.ActivityLogPeriod"/> saying what this verifier served
/// (spans, sessions held, p99, load factor), so an operator (or the Aspire dashboard's logs) sees every verifier silo
/// at work, or idle. Quiet when nothing was served.
/// </summary>
internal sealed class VerifierActivityLog(VerificationEngine engine, ILocalSiloDetails silo, IOptions<VerifierOptions> options, ILogger<VerifierActivityLog> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var period = options.Value.ActivityLogPeriod;
        if (period <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(period);
        long served = Interlocked.Read(ref engine.Stats.NumRequests), tokens = Interlocked.Read(ref engine.Stats.ProcessedTokens);
        while (await timer.WaitForNextTickAsync(stopping))
        {
            long nowServed = Interlocked.Read(ref engine.Stats.NumRequests), nowTokens = Interlocked.Read(ref engine.Stats.ProcessedTokens);
            if (nowServed > served)
            {
                var load = engine.CurrentLoad;
                logger.LogInformation("Verifier {Silo} verified {Spans} spans ({Tokens} tokens) in the last {Period}; holds {Sessions} sessions, p99 {P99:F0} ms, load factor {Load:F2}",
                    silo.SiloAddress.ToParsableString(), nowServed - served, nowTokens - tokens, period, load.NumSessions, load.P99VerifyMs, load.LoadFactor);
            }
            (served, tokens) = (nowServed, nowTokens);
        }
    }
}

using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Synera.Grains.Verification;

namespace Synera.Grains.Placement;

/// <summary>On a verifier silo: reports the engine's load to the <see cref="IVerifierLoadBoardGrain"/> twice a second.</summary>
internal sealed class VerifierLoadPublisher(VerificationEngine engine, IGrainFactory grains, ILocalSiloDetails silo, ILogger<VerifierLoadPublisher> logger)
    : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(500);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(Period);
        int failures = 0;
        while (await timer.WaitForNextTickAsync(stopping))
        {
            try
            {
                await grains.GetGrain<IVerifierLoadBoardGrain>(0).ReportAsync(silo.SiloAddress.ToParsableString(), engine.CurrentLoad);
                failures = 0;
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                // The silo is still starting, or the board is moving after a failover: try again next tick.
                if (++failures % 20 == 1) logger.LogDebug(e, "Reporting verifier load failed ({Failures} in a row)", failures);
            }
        }
    }
}

using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Offloading;

namespace Synera.DeviceClient.Generation;

/// <summary>
/// Sends a generation's progress reports to its session grain, one after another (the device grain keeps the account,
/// and the latest report's policy state must win), without making drafting wait; the last one is flushed when the answer
/// ends, so the next answer — or a restarted device — starts from an up-to-date account. When load-aware, the advised
/// budget comes back into the policy.
/// </summary>
internal sealed class ProgressReporter(ISessionGrain session, DeviceGenerator? loadAware)
{
    private Task chain = Task.CompletedTask;

    /// <summary>Modes whose progress the cloud accounts for (the budget cap is enforced on them).</summary>
    public bool Reports(GenerationMode mode) => mode is GenerationMode.Synera or GenerationMode.Route;

    public void Send(ProgressReport report, IOffloadPolicy policy) => chain = chain.ContinueWith(_ => SendAsync(report, policy), TaskScheduler.Default).Unwrap();

    /// <summary>Sends the rest and waits for every report, at most <paramref name="timeout"/> (a cloud that went away
    /// must not hold the answer back; the account then trails by this answer's tail).</summary>
    public async Task FlushAsync(ProgressReport last, IOffloadPolicy policy, TimeSpan timeout)
    {
        if (last.NumGenerated > 0 || last.NumOffloaded != 0 || last.Confidences.Length > 0) Send(last, policy);
        try { await chain.WaitAsync(timeout); }
        catch (TimeoutException) { }
    }

    private async Task SendAsync(ProgressReport report, IOffloadPolicy policy)
    {
        try
        {
            var advice = await session.ReportProgressAsync(report);
            if (loadAware is null) return;
            loadAware.AdviseLoadFactor(advice.LoadFactor);
            policy.Budget = advice.EffectiveFraction;
        }
        catch (Exception) { }   // a lost report only delays the account; the cloud's own charges still bound the device
    }
}

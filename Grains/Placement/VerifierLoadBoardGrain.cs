using Synera.Abstractions.Messages;

namespace Synera.Grains.Placement;

/// <summary>Keeps the verifier silos' latest load reports in memory; a silo that stopped reporting drops out after
/// <see cref="Expiry"/>. Nothing to persist: after a failover the reports refill within half a second.</summary>
public sealed class VerifierLoadBoardGrain : Grain, IVerifierLoadBoardGrain
{
    public static readonly TimeSpan Expiry = TimeSpan.FromSeconds(5);
    private readonly Dictionary<string, (VerifierLoad load, DateTime at)> reports = [];

    Task IVerifierLoadBoardGrain.ReportAsync(string silo, VerifierLoad load)
    {
        reports[silo] = (load, DateTime.UtcNow);
        return Task.CompletedTask;
    }

    Task<Dictionary<string, VerifierLoad>> IVerifierLoadBoardGrain.GetLoadsAsync()
    {
        var cutoff = DateTime.UtcNow - Expiry;
        foreach (var stale in reports.Where(r => r.Value.at < cutoff).Select(r => r.Key).ToList()) reports.Remove(stale);
        return Task.FromResult(reports.ToDictionary(r => r.Key, r => r.Value.load));
    }
}

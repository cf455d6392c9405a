using Microsoft.Extensions.Logging;
using Synera.Abstractions;
using Microsoft.Extensions.Options;
using Synera.Abstractions.Messages;
using Synera.Grains.Options;
using Synera.Grains.Placement;

namespace Synera.Grains;

/// <summary>
/// A device's long-run offload account (DESIGN §1.1, §2): what it has committed and offloaded over its whole life, the
/// threshold controller's state and its recent confidences, persisted so that a restarted device continues its account.
/// The cloud's budget cap is enforced here, on the cloud's own count of charged spans: a device that ignores its
/// budget is refused (<see cref="EnqueueStatus.OverBudget"/>) and keeps its own tokens, so nothing committed is lost.
/// </summary>
[FrontendPlacement]   // off the verifier silos: their cores belong to the engine
public sealed class DeviceGrain(
    [PersistentState("device", SyneraNames.SessionStorage)] IPersistentState<DeviceState> state,
    IOptions<VerifierOptions> options,
    ILogger<DeviceGrain> logger) : Grain, IDeviceGrain
{
    private string DeviceId => this.GetPrimaryKeyString();

    // Open sessions and when each was last opened. Kept in memory: after a reactivation the count starts again, and a
    // session that is never closed stops counting after the idle timeout (the engine forgets it then too).
    private readonly Dictionary<string, DateTime> openSessions = [];

    Task<bool> IDeviceGrain.TryOpenSessionAsync(string sessionId)
    {
        var now = DateTime.UtcNow;
        foreach (var stale in openSessions.Where(kv => now - kv.Value > options.Value.SessionIdleTimeout).Select(kv => kv.Key).ToList())
            openSessions.Remove(stale);
        if (!openSessions.ContainsKey(sessionId) && openSessions.Count >= options.Value.MaxSessionsPerDevice)
        {
            logger.LogWarning("Device {Device} refused a session: {Open} already open (quota {Quota})", DeviceId, openSessions.Count, options.Value.MaxSessionsPerDevice);
            return Task.FromResult(false);
        }
        openSessions[sessionId] = now;
        return Task.FromResult(true);
    }

    Task IDeviceGrain.CloseSessionAsync(string sessionId)
    {
        openSessions.Remove(sessionId);
        return Task.CompletedTask;
    }

    Task<DeviceAccount?> IDeviceGrain.GetAccountAsync() => Task.FromResult(state.State.Exists ? Snapshot() : null);

    async Task<DeviceAccount> IDeviceGrain.RecordProgressAsync(ProgressReport report, double budget)
    {
        var s = state.State;
        if (report.NumGenerated < 0) throw new SyneraRequestException($"progress report counts {report.NumGenerated} committed tokens");
        if (report.NumOffloaded > report.NumGenerated + report.Confidences.Length || s.NumOffloaded + report.NumOffloaded < 0)
            throw new SyneraRequestException($"progress counts are inconsistent ({report.NumOffloaded} offloaded, {report.NumGenerated} committed)");
        if (!(budget is >= 0 and <= 1)) throw new SyneraRequestException($"budget {budget} is outside [0, 1]");
        s.Exists = true;
        s.Budget = budget;
        RebaseCap(budget);
        s.GeneratedUnderCap += report.NumGenerated;
        s.NumGenerated += report.NumGenerated;
        s.NumOffloaded += report.NumOffloaded;
        s.BytesSent += Math.Max(0, report.BytesSent);
        if (double.IsFinite(report.Credit)) s.Credit = report.Credit;
        if (double.IsFinite(report.TargetRatio) && report.TargetRatio > 0) s.TargetRatio = report.TargetRatio;
        if (double.IsFinite(report.Demand)) s.Demand = Math.Clamp(report.Demand, 0, 1);
        if (double.IsFinite(report.Threshold)) s.Threshold = report.Threshold;
        s.RecentConfidences.AddRange(report.Confidences.Where(float.IsFinite));
        if (s.RecentConfidences.Count > DeviceState.MaxHistory)
            s.RecentConfidences.RemoveRange(0, s.RecentConfidences.Count - DeviceState.MaxHistory);
        await state.WriteStateAsync();
        return Snapshot();
    }

    async Task<bool> IDeviceGrain.TryChargeAsync(double budget)
    {
        var s = state.State;
        RebaseCap(budget);
        if (s.ChargedUnderCap + 1 > DeviceAccount.CloudAllowance(budget, s.GeneratedUnderCap))
        {
            logger.LogWarning("Device {Device} is over its budget: {Charged} spans charged for {Generated} committed tokens at {Budget:P1}",
                DeviceId, s.ChargedUnderCap, s.GeneratedUnderCap, budget);
            return false;
        }
        s.Exists = true;
        s.NumCharged++;
        s.ChargedUnderCap++;
        await state.WriteStateAsync();
        return true;
    }

    async Task IDeviceGrain.RefundAsync(int numSpans)
    {
        if (numSpans <= 0 || state.State.NumCharged == 0) return;
        state.State.NumCharged = Math.Max(0, state.State.NumCharged - numSpans);
        state.State.ChargedUnderCap = Math.Max(0, state.State.ChargedUnderCap - numSpans);
        await state.WriteStateAsync();
    }

    /// <summary>A budget other than the one the cap is counted at starts a new cap.</summary>
    private void RebaseCap(double budget)
    {
        var s = state.State;
        if (s.CapBudget == budget) return;
        s.CapBudget = budget;
        s.GeneratedUnderCap = s.ChargedUnderCap = 0;
    }

    private DeviceAccount Snapshot()
    {
        var s = state.State;
        return new DeviceAccount(DeviceId, s.Budget, s.NumGenerated, s.NumOffloaded, s.Credit, s.TargetRatio, s.Demand, s.Threshold,
            [.. s.RecentConfidences], s.NumCharged);
    }
}

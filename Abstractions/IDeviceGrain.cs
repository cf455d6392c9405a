using Synera.Abstractions.Messages;

namespace Synera.Abstractions;

/// <summary>
/// One device (key: device id), across all its answers and restarts: the long-run offload account (tokens committed,
/// offloaded, credit), the threshold controller's state and a window of recent confidences, persisted. The cloud
/// enforces the budget here: a session grain charges each verification span before it reaches a verifier.
/// </summary>
public interface IDeviceGrain : IGrainWithStringKey
{
    /// <summary>The device's account, or null for a device the cluster has never seen. A device reads it when it connects.</summary>
    Task<DeviceAccount?> GetAccountAsync();

    /// <summary>Adds a progress report to the account (called by the device's session grain, which relays the device's reports).</summary>
    /// <remarks>Throws <see cref="SyneraRequestException"/> for inconsistent counts; the account is unchanged then.</remarks>
    [ClusterOnly]
    Task<DeviceAccount> RecordProgressAsync(ProgressReport report, double budget);

    /// <summary>
    /// Charges one verification span at <paramref name="budget"/>: false (and nothing charged) when the device has
    /// already offloaded more than <see cref="DeviceAccount.CloudAllowance"/> allows. Called by session grains.
    /// </summary>
    [ClusterOnly]
    Task<bool> TryChargeAsync(double budget);

    /// <summary>Returns the charges of spans that were never verified: not queued (overload), or voided by an earlier
    /// span's rejection (the verifier drops them unrun). The device returns them on its side too.</summary>
    [ClusterOnly]
    Task RefundAsync(int numSpans);

    /// <summary>Counts a session as open for this device; false when the device already holds its quota of open sessions.</summary>
    [ClusterOnly]
    Task<bool> TryOpenSessionAsync(string sessionId);

    /// <summary>The session closed: it no longer counts against the device's quota.</summary>
    [ClusterOnly]
    Task CloseSessionAsync(string sessionId);
}

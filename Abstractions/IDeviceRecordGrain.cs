using Synera.Abstractions.Messages;

namespace Synera.Abstractions;

/// <summary>
/// A device's registration (key: device id): its hashed key and the limits the cloud enforces on it, persisted in grain
/// storage. Operators write it; silos read it to authenticate the device and to set its sessions' tier, budget ceiling
/// and byte cap. No device may call it.
/// </summary>
public interface IDeviceRecordGrain : IGrainWithStringKey
{
    /// <summary>Registers the device (or replaces its key and limits): stores <paramref name="keyHash"/>, never the key.</summary>
    /// <remarks>Throws <see cref="SyneraRequestException"/> for a bad id, hash, tier or limits; nothing changes then.</remarks>
    [OperatorOnly]
    Task<DeviceRecord> RegisterAsync(string keyHash, DeviceLimits limits);

    /// <summary>Forgets the device: its key stops working (within the silos' record cache time).</summary>
    [OperatorOnly]
    Task<bool> RevokeAsync();

    /// <summary>The record, or null for a device never registered (or revoked).</summary>
    [ClusterOnly]
    Task<DeviceRecord?> GetAsync();
}

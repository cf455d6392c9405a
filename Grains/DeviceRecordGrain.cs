using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Options;

namespace Synera.Grains;

/// <summary>A device's registration: its hashed key and the limits the cloud holds it to (see <see cref="IDeviceRecordGrain"/>).</summary>
public sealed class DeviceRecordGrain(
    [PersistentState("record", SyneraNames.SessionStorage)] IPersistentState<DeviceRecordState> state,
    IOptions<VerifierOptions> verifierOptions,
    ILogger<DeviceRecordGrain> logger) : Grain, IDeviceRecordGrain
{
    private string DeviceId => this.GetPrimaryKeyString();

    async Task<DeviceRecord> IDeviceRecordGrain.RegisterAsync(string keyHash, DeviceLimits limits)
    {
        if (DeviceIdentity.ProblemWithId(DeviceId) is { } badId) throw new SyneraRequestException(badId);
        if (keyHash is not { Length: 64 } || !keyHash.All(Uri.IsHexDigit)) throw new SyneraRequestException("the key hash must be a SHA-256 in hex (64 digits)");
        if (limits is null) throw new SyneraRequestException("no limits given");
        if (verifierOptions.Value.TierProblem(limits.Tier) is { } badTier) throw new SyneraRequestException(badTier);
        if (!(limits.BudgetCeiling is >= 0 and <= 1)) throw new SyneraRequestException($"budget ceiling {limits.BudgetCeiling} is outside [0, 1]");
        if (!(limits.MaxBytesPerSecond >= 0) || double.IsInfinity(limits.MaxBytesPerSecond)) throw new SyneraRequestException($"byte cap {limits.MaxBytesPerSecond} B/s must be ≥ 0 (0 = none)");
        var record = new DeviceRecord(DeviceId, keyHash.ToUpperInvariant(), limits.Tier, limits.BudgetCeiling, limits.MaxBytesPerSecond, DateTime.UtcNow);
        state.State.Record = record;
        await state.WriteStateAsync();
        logger.LogInformation("Device {Device} registered: tier {Tier}, budget ceiling {Budget:P0}, byte cap {Bytes} B/s", DeviceId, record.Tier, record.BudgetCeiling, record.MaxBytesPerSecond);
        return record with { KeyHash = "" };   // the hash stays in the cluster
    }

    async Task<bool> IDeviceRecordGrain.RevokeAsync()
    {
        if (state.State.Record is null) return false;
        await state.ClearStateAsync();
        state.State = new DeviceRecordState();
        logger.LogInformation("Device {Device} revoked", DeviceId);
        return true;
    }

    Task<DeviceRecord?> IDeviceRecordGrain.GetAsync() => Task.FromResult(state.State.Record);
}

/// <summary>Persisted registration of one device.</summary>
[GenerateSerializer]
public sealed class DeviceRecordState
{
    [Id(0)] public DeviceRecord? Record { get; set; }
}

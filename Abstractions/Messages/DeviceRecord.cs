namespace Synera.Abstractions.Messages;

/// <summary>
/// What an operator registered for a device: its key (hashed), and the limits the cloud holds it to whatever it asks
/// for: its tier, the largest budget it may use and its uplink cap for verification.
/// </summary>
/// <param name="KeyHash">SHA-256 of the device key (<see cref="DeviceIdentity.Hash"/>); the key itself is never stored.</param>
/// <param name="Tier">The device's fair-share tier; a session's own claim is ignored.</param>
/// <param name="BudgetCeiling">The largest token fraction the device's sessions get; a session asking more gets this.</param>
/// <param name="MaxBytesPerSecond">The device's verification uplink cap (0 = none): a session asking more, or none, gets this.</param>
[GenerateSerializer, Immutable]
public sealed record DeviceRecord(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] string KeyHash,
    [property: Id(2)] string Tier,
    [property: Id(3)] double BudgetCeiling,
    [property: Id(4)] double MaxBytesPerSecond,
    [property: Id(5)] DateTime RegisteredUtc);

/// <summary>The limits an operator registers a device with (<c>synera devices add ID --tier T --budget B</c>).</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceLimits(
    [property: Id(0)] string Tier = SessionOptions.DefaultTier,
    [property: Id(1)] double BudgetCeiling = 1.0,
    [property: Id(2)] double MaxBytesPerSecond = 0);

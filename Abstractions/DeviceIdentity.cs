using System.Security.Cryptography;
using System.Text;

namespace Synera.Abstractions;

/// <summary>
/// How a device proves who it is. An operator registers a device (<c>synera devices add ID</c>), which mints a random
/// 256-bit key, prints it once and stores only its SHA-256 in the device's record. The device's client attaches its id
/// and key to every call (request-context entries below); the silos check them when
/// <c>Synera:Security:RequireDeviceKeys</c> is on. A fast hash is the right one here: the key is random, not a
/// password, so there is nothing to brute-force (as with API tokens); the comparison is constant-time.
/// </summary>
public static class DeviceIdentity
{
    /// <summary>Request-context entries a client's calls carry.</summary>
    public const string DeviceIdEntry = "synera-device", DeviceKeyEntry = "synera-device-key", OperatorKeyEntry = "synera-operator-key";

    private const string KeyPrefix = "sdk_";

    /// <summary>A fresh device key: <c>sdk_</c> and 32 random bytes, base64url.</summary>
    public static string NewKey() => KeyPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>What the cluster stores of a key: its SHA-256, hex.</summary>
    public static string Hash(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Whether <paramref name="key"/> is the one <paramref name="hash"/> was made from (constant-time).</summary>
    public static bool Matches(string? key, string hash) =>
        key is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(key)), Encoding.ASCII.GetBytes(hash));

    /// <summary>Constant-time equality of two secrets (the operator key).</summary>
    public static bool SecretEquals(string? presented, string expected) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(Hash(presented)), Encoding.UTF8.GetBytes(Hash(expected)));

    /// <summary>The device a session belongs to: the key's part before the first '/' (<c>{deviceId}/{answer}</c>).</summary>
    public static string DeviceOfSession(string sessionId) => sessionId.Split('/', 2)[0];

    /// <summary>Device ids are path-free names: they are the first segment of session keys.</summary>
    public static string? ProblemWithId(string? deviceId) =>
        string.IsNullOrWhiteSpace(deviceId) ? "a device id must not be empty"
        : deviceId.Length > 128 ? "a device id is at most 128 characters"
        : deviceId.Any(c => c == '/' || char.IsWhiteSpace(c) || char.IsControl(c)) ? $"device id '{deviceId}' must not contain '/', spaces or control characters"
        : null;
}

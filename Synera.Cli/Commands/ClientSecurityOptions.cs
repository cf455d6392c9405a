using System.CommandLine;
using Synera.DeviceClient.Hosting;

namespace Synera.Cli.Commands;

/// <summary>
/// The options a client command connects to a secured cluster with: <c>--device-key</c> (or <c>SYNERA_DEVICE_KEY</c>),
/// <c>--tls</c> and <c>--tls-thumbprint</c>. The embedded default needs none of them.
/// </summary>
public sealed class ClientSecurityOptions
{
    private readonly Option<string?> deviceKey = new("--device-key") { Description = "this device's key from `synera devices add` (default: $SYNERA_DEVICE_KEY); needs --device-id" };
    private readonly Option<bool> tls = new("--tls") { Description = "connect over TLS, trusting certificates that chain to this machine's roots" };
    private readonly Option<string?> thumbprint = new("--tls-thumbprint") { Description = "connect over TLS, trusting the cluster certificate with this SHA-1 thumbprint (`synera tls create` prints it)" };

    public void AddTo(Command command)
    {
        command.Options.Add(deviceKey);
        command.Options.Add(tls);
        command.Options.Add(thumbprint);
    }

    /// <summary>What to present, for the device <paramref name="deviceId"/> (null: a new, anonymous device).</summary>
    public ClientSecurity Resolve(ParseResult parse, string? deviceId, string? operatorKey = null)
    {
        var key = parse.GetValue(deviceKey) ?? Environment.GetEnvironmentVariable("SYNERA_DEVICE_KEY");
        if (!string.IsNullOrEmpty(key) && string.IsNullOrEmpty(deviceId))
            throw new ArgumentException("--device-key needs --device-id: a key belongs to one registered device");
        var pin = parse.GetValue(thumbprint);
        var clientTls = parse.GetValue(tls) || !string.IsNullOrEmpty(pin) ? new ClientTls(pin) : null;
        return new ClientSecurity(string.IsNullOrEmpty(key) ? null : deviceId, key, operatorKey, clientTls);
    }
}

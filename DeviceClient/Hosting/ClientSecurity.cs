using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;
using Synera.Abstractions;

namespace Synera.DeviceClient.Hosting;

/// <summary>What a client presents to the cluster: a device's id and key, an operator's key, and TLS settings.</summary>
/// <param name="DeviceId">The device this client acts for; sent with its key on every call.</param>
/// <param name="DeviceKey">The key <c>synera devices add</c> printed for it (<c>SYNERA_DEVICE_KEY</c>).</param>
/// <param name="OperatorKey">The cluster's operator key, for <c>synera devices</c> (<c>SYNERA_OPERATOR_KEY</c>).</param>
/// <param name="Tls">Connect over TLS; null for plain TCP.</param>
public sealed record ClientSecurity(string? DeviceId = null, string? DeviceKey = null, string? OperatorKey = null, ClientTls? Tls = null)
{
    public static ClientSecurity None { get; } = new();
}

/// <summary>
/// TLS to the gateways. The silo's certificate must chain to a root this machine trusts, or have the pinned
/// <paramref name="TrustedThumbprint"/> (a self-signed cluster certificate, <c>synera tls create</c>). Anything else is
/// refused before a byte of Orleans traffic.
/// </summary>
/// <param name="TargetHost">The name the certificate must carry (SNI and name check); default the gateway's address. A
/// pinned certificate is trusted whatever its name.</param>
public sealed record ClientTls(string? TrustedThumbprint = null, string? TargetHost = null)
{
    internal void Configure(TlsOptions o)
    {
        o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        o.RemoteCertificateValidation = (certificate, _, errors) => Trusts(certificate, errors);
        if (TargetHost is { Length: > 0 } host) o.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = host;
    }

    /// <summary>A pinned certificate is trusted whatever its chain or name (that is what pinning means); otherwise only a
    /// certificate that passes the system's validation is.</summary>
    private bool Trusts(X509Certificate? certificate, SslPolicyErrors errors)
    {
        var pin = TrustedThumbprint?.Replace(":", "").Trim();
        return errors == SslPolicyErrors.None
            || (!string.IsNullOrEmpty(pin) && certificate is not null && string.Equals(certificate.GetCertHashString(), pin, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// One TLS handshake with the gateway under this client's trust rules, before Orleans connects: Orleans only logs a
    /// failed handshake and retries, so without this an untrusted certificate would look like a gateway that never answers.
    /// </summary>
    /// <exception cref="AuthenticationException">The gateway's certificate is not trusted.</exception>
    internal async Task ProbeAsync(IPEndPoint gateway, CancellationToken cancellation)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(gateway, cancellation);
        await using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, certificate, _, errors) => Trusts(certificate, errors));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = TargetHost is { Length: > 0 } host ? host : gateway.Address.ToString(),
            ApplicationProtocols = [new SslApplicationProtocol("Orleans1")],   // Orleans' ALPN name (OrleansApplicationProtocol.Orleans1)
        }, cancellation);
    }
}

/// <summary>Stamps the client's credentials on every call it makes (request-context entries the silos check).</summary>
internal sealed class CredentialsCallFilter(ClientSecurity security) : IOutgoingGrainCallFilter
{
    public Task Invoke(IOutgoingGrainCallContext context)
    {
        if (security.DeviceId is { Length: > 0 } id) RequestContext.Set(DeviceIdentity.DeviceIdEntry, id);
        if (security.DeviceKey is { Length: > 0 } key) RequestContext.Set(DeviceIdentity.DeviceKeyEntry, key);
        if (security.OperatorKey is { Length: > 0 } op) RequestContext.Set(DeviceIdentity.OperatorKeyEntry, op);
        return context.Invoke();
    }
}

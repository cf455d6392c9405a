using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Orleans.Connections.Security;

namespace Synera.Silo.Hosting;

/// <summary>
/// TLS on every silo and gateway connection (section <c>Synera:Tls</c>: <c>Certificate</c> = a PKCS#12 file with the
/// cluster's certificate and key, <c>Password</c>). Silos present it to each other and to devices; a silo trusts a peer
/// that presents the same certificate or one that chains to a trusted root. Devices need no certificate of their own:
/// they prove who they are with their device key, inside the encrypted connection.
/// </summary>
public static class SyneraTlsExtensions
{
    public static ISiloBuilder UseSyneraTls(this ISiloBuilder silo, IConfiguration configuration)
    {
        var section = configuration.GetSection("Synera:Tls");
        if (section["Certificate"] is not { Length: > 0 } path) return silo;
        if (!File.Exists(path)) throw new FileNotFoundException($"Synera:Tls:Certificate '{path}' does not exist (make one with `synera tls create --out {path}`)", path);
        var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, section["Password"]);
        return silo.UseSyneraTls(certificate);
    }

    public static ISiloBuilder UseSyneraTls(this ISiloBuilder silo, X509Certificate2 certificate)
    {
        if (!certificate.HasPrivateKey) throw new InvalidOperationException($"the TLS certificate {certificate.Subject} has no private key");
        var name = certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false);
        return silo.UseTls(certificate, o =>
        {
            o.ClientCertificateMode = RemoteCertificateMode.AllowCertificate;   // devices authenticate with keys
            o.RemoteCertificateMode = RemoteCertificateMode.AllowCertificate;
            o.RemoteCertificateValidation = (remote, _, errors) =>
                errors == SslPolicyErrors.None || remote.Thumbprint == certificate.Thumbprint;
            o.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = name;   // silo to silo: the cluster certificate's name
        });
    }
}

/// <summary>A self-signed cluster certificate (RSA 2048, server and client authentication), for <c>synera tls create</c> and tests.</summary>
public static class SelfSignedCertificate
{
    public static X509Certificate2 Create(string name = "synera-cluster", TimeSpan? validFor = null)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow + (validFor ?? TimeSpan.FromDays(365)));
        // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}

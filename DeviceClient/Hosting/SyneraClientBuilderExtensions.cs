using Microsoft.Extensions.DependencyInjection;
using Synera.Abstractions;

namespace Synera.DeviceClient.Hosting;

/// <summary>Client-side registration: the verdict stream provider the session grains publish on, credentials and TLS.</summary>
public static class SyneraClientBuilderExtensions
{
    public static IClientBuilder AddSyneraClient(this IClientBuilder client, ClientSecurity? security = null)
    {
        client.AddMemoryStreams(SyneraNames.StreamProvider);
        client.AddActivityPropagation();   // a span's trace continues through the grains it calls
        if (security is null) return client;
        client.Services.AddSingleton(security);
        client.AddOutgoingGrainCallFilter<CredentialsCallFilter>();
        if (security.Tls is { } tls) client.UseTls(tls.Configure);
        return client;
    }
}

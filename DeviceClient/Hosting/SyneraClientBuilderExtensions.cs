using Synera.Abstractions;

namespace Synera.DeviceClient.Hosting;

/// <summary>Client-side registration: the verdict stream provider the session grains publish on.</summary>
public static class SyneraClientBuilderExtensions
{
    public static IClientBuilder AddSyneraClient(this IClientBuilder client) => client.AddMemoryStreams(SyneraNames.StreamProvider);
}

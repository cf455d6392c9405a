using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Synera.DeviceClient.Hosting;

/// <summary>A device's Orleans client host connected to a cluster through a gateway on this machine.</summary>
public sealed class SyneraClientHost : IAsyncDisposable
{
    private readonly IHost host;
    private SyneraClientHost(IHost host) => this.host = host;

    public IClusterClient Client => host.Services.GetRequiredService<IClusterClient>();

    /// <summary>Connects to the gateway at localhost:<paramref name="gatewayPort"/>, retrying while the silo starts.</summary>
    public static async Task<SyneraClientHost> ConnectAsync(int gatewayPort, string clusterId = "synera", TimeSpan? timeout = null, CancellationToken cancellation = default)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(2));
        while (true)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
            builder.UseOrleansClient(c => c.UseLocalhostClustering(gatewayPort, "synera", clusterId).AddSyneraClient());
            var host = builder.Build();
            try
            {
                await host.StartAsync(cancellation);
                return new SyneraClientHost(host);
            }
            catch (Exception) when (DateTime.UtcNow < deadline && !cancellation.IsCancellationRequested)
            {
                host.Dispose();
                await Task.Delay(TimeSpan.FromSeconds(2), cancellation);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync();
        host.Dispose();
    }
}

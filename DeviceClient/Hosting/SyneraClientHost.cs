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
    public static Task<SyneraClientHost> ConnectAsync(int gatewayPort, string clusterId = "synera", TimeSpan? timeout = null, CancellationToken cancellation = default) =>
        ConnectAsync("127.0.0.1", gatewayPort, clusterId, timeout, cancellation);

    /// <summary>Parses <c>HOST:PORT</c> (a gateway of a running cluster).</summary>
    public static (string host, int port) ParseGateway(string text)
    {
        var i = text.LastIndexOf(':');
        if (i <= 0 || !int.TryParse(text[(i + 1)..], out var port) || port is <= 0 or > 65535)
            throw new ArgumentException($"'{text}' is not HOST:PORT (e.g. localhost:30000)");
        return (text[..i], port);
    }

    /// <summary>Connects to the gateway at <paramref name="host"/>:<paramref name="gatewayPort"/>, retrying while the silo starts.</summary>
    public static async Task<SyneraClientHost> ConnectAsync(string host, int gatewayPort, string clusterId = "synera", TimeSpan? timeout = null, CancellationToken cancellation = default)
    {
        var address = System.Net.IPAddress.TryParse(host, out var ip) ? ip
            : (await System.Net.Dns.GetHostAddressesAsync(host, cancellation)).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
        var gateway = new System.Net.IPEndPoint(address, gatewayPort);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(2));
        while (true)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
            builder.UseOrleansClient(c => c
                .Configure<Orleans.Configuration.ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = "synera"; })
                .UseStaticClustering(gateway)
                .AddSyneraClient());
            var client = builder.Build();
            try
            {
                await client.StartAsync(cancellation);
                return new SyneraClientHost(client);
            }
            catch (Exception) when (DateTime.UtcNow < deadline && !cancellation.IsCancellationRequested)
            {
                client.Dispose();
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

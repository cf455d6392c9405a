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
    public static Task<SyneraClientHost> ConnectAsync(int gatewayPort, string clusterId = "synera", TimeSpan? timeout = null, CancellationToken cancellation = default,
        ClientSecurity? security = null) =>
        ConnectAsync("127.0.0.1", gatewayPort, clusterId, timeout, cancellation, security);

    /// <summary>Parses <c>HOST:PORT</c> (a gateway of a running cluster).</summary>
    public static (string host, int port) ParseGateway(string text)
    {
        var i = text.LastIndexOf(':');
        if (i <= 0 || !int.TryParse(text[(i + 1)..], out var port) || port is <= 0 or > 65535)
            throw new ArgumentException($"'{text}' is not HOST:PORT (e.g. localhost:30000)");
        return (text[..i], port);
    }

    /// <summary>Connects to the gateway at <paramref name="host"/>:<paramref name="gatewayPort"/>, retrying while the silo starts.</summary>
    /// <param name="security">Device or operator credentials and TLS (none: a trusted device over plain TCP).</param>
    public static async Task<SyneraClientHost> ConnectAsync(string host, int gatewayPort, string clusterId = "synera", TimeSpan? timeout = null, CancellationToken cancellation = default,
        ClientSecurity? security = null) =>
        await ConnectAsync([(host, gatewayPort)], clusterId, timeout, cancellation, security);

    /// <summary>Connects through any of <paramref name="gateways"/> (HOST, PORT), retrying while the silos start. The client
    /// keeps all of them: when the silo behind one gateway dies, its calls go through another.</summary>
    public static async Task<SyneraClientHost> ConnectAsync(IReadOnlyList<(string host, int port)> gateways, string clusterId = "synera", TimeSpan? timeout = null,
        CancellationToken cancellation = default, ClientSecurity? security = null)
    {
        if (gateways.Count == 0) throw new ArgumentException("no gateway given", nameof(gateways));
        var endpoints = new List<System.Net.IPEndPoint>();
        foreach (var (host, port) in gateways)
        {
            var address = System.Net.IPAddress.TryParse(host, out var ip) ? ip
                : (await System.Net.Dns.GetHostAddressesAsync(host, cancellation)).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
            endpoints.Add(new System.Net.IPEndPoint(address, port));
        }
        var gateway = endpoints[0];
        var (firstHost, gatewayPort) = gateways[0];
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(2));
        while (true)
        {
            if (security?.Tls is { } tls)
            {
                try { await tls.ProbeAsync(gateway, cancellation); }
                catch (System.Security.Authentication.AuthenticationException e)
                {
                    // A certificate this client does not trust will not become trusted by retrying: say so now.
                    throw new InvalidOperationException($"TLS to the gateway {firstHost}:{gatewayPort} failed: {e.Message} " +
                        "(trust the cluster's certificate: --tls-thumbprint, or one chaining to a root this machine trusts)", e);
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(TimeSpan.FromSeconds(2), cancellation);   // the gateway is not up yet
                    continue;
                }
            }
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.AddStderrConsole(LogLevel.Warning);
            builder.UseOrleansClient(c => c
                .Configure<Orleans.Configuration.ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = "synera"; })
                .UseStaticClustering([.. endpoints])
                .AddSyneraClient(security));
            var client = builder.Build();
            // One attempt may not outlast the deadline (Orleans' own connection retries would).
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            attempt.CancelAfter(Max(deadline - DateTime.UtcNow, TimeSpan.FromSeconds(1)));
            try
            {
                await client.StartAsync(attempt.Token);
                return new SyneraClientHost(client);
            }
            catch (Exception) when (DateTime.UtcNow < deadline && !cancellation.IsCancellationRequested)
            {
                client.Dispose();
                await Task.Delay(TimeSpan.FromSeconds(2), cancellation);
            }
            catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
            {
                client.Dispose();
                throw new TimeoutException($"no gateway of cluster '{clusterId}' answered at {string.Join(", ", gateways.Select(g => $"{g.host}:{g.port}"))} within {timeout ?? TimeSpan.FromMinutes(2)}");
            }
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync();
        host.Dispose();
    }
}

using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Synera.DeviceClient.Hosting;
using Synera.Grains.Hosting;
using Synera.Grains.Options;

namespace Synera.Silo.Hosting;

/// <summary>
/// The embedded default: one verifier silo in this process on free localhost ports, and a real Orleans
/// client host connected through that silo's gateway (TCP), exactly as a device would connect.
/// </summary>
public sealed class EmbeddedCluster : IAsyncDisposable
{
    private readonly IHost silo;
    private readonly IHost client;
    private readonly StrongBox<bool> siloStopping;

    private EmbeddedCluster(IHost silo, IHost client, int gatewayPort, string clusterId, StrongBox<bool> siloStopping)
    {
        this.silo = silo; this.client = client; GatewayPort = gatewayPort; ClusterId = clusterId; this.siloStopping = siloStopping;
    }

    public IClusterClient Client => client.Services.GetRequiredService<IClusterClient>();

    /// <summary>The silo's gateway port and cluster id, for more clients (another device process).</summary>
    public int GatewayPort { get; }
    public string ClusterId { get; }
    public IServiceProvider SiloServices => silo.Services;

    /// <param name="configureLogging">Adds log providers to the silo (e.g. a test's output).</param>
    /// <param name="configureSilo">More silo configuration (security options, TLS).</param>
    /// <param name="clientSecurity">What the embedded client presents (credentials, TLS); none by default.</param>
    public static async Task<EmbeddedCluster> StartAsync(Action<VerifierOptions> configureVerifier, LogLevel logLevel = LogLevel.Warning,
        CancellationToken cancellation = default, Action<ILoggingBuilder>? configureLogging = null,
        Action<ISiloBuilder>? configureSilo = null, ClientSecurity? clientSecurity = null)
    {
        int siloPort = FreePort(), gatewayPort = FreePort();
        var config = new Dictionary<string, string?>
        {
            ["Synera:Role"] = "verifier",
            ["Synera:Cluster:Mode"] = "localhost",
            ["Synera:Cluster:SiloPort"] = siloPort.ToString(),
            ["Synera:Cluster:GatewayPort"] = gatewayPort.ToString(),
            ["Synera:Cluster:ClusterId"] = $"embedded-{siloPort}",
        };
        var siloBuilder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        siloBuilder.Configuration.AddInMemoryCollection(config);
        siloBuilder.Logging.AddStderrConsole(logLevel);
        // The watchdog reports start-up stalls of a freshly loaded process (JIT, model load) as warnings.
        siloBuilder.Logging.AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error);
        siloBuilder.Logging.AddFilter("Orleans.Runtime.Silo", LogLevel.Error);   // start-up advice about server GC
        // Stopping cancels the verdict stream's queue reads in flight, which Orleans logs as errors with a stack trace
        // after an answer that was fine. Nothing is lost then (the answer is over), so once the silo stops they go unsaid.
        // (A filter function is a rule of its own: it keeps the minimum level itself.)
        var siloStopping = new StrongBox<bool>();
        siloBuilder.Logging.AddFilter((category, level) => level >= logLevel && !(siloStopping.Value && category is not null &&
            (category.StartsWith("Orleans.Streams", StringComparison.Ordinal) || category.StartsWith("Orleans.Providers.MemoryAdapterReceiver", StringComparison.Ordinal))));
        configureLogging?.Invoke(siloBuilder.Logging);
        siloBuilder.UseOrleans(s =>
        {
            s.UseSyneraClustering(siloBuilder.Configuration).UseSyneraTls(siloBuilder.Configuration).AddSynera(siloBuilder.Configuration, configureVerifier);
            configureSilo?.Invoke(s);
        });
        var siloHost = siloBuilder.Build();
        await siloHost.StartAsync(cancellation);

        var clientBuilder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        clientBuilder.Configuration.AddInMemoryCollection(config);
        clientBuilder.Logging.AddStderrConsole(logLevel);
        clientBuilder.UseOrleansClient(c => c.UseSyneraClustering(clientBuilder.Configuration).AddSyneraClient(clientSecurity));
        var clientHost = clientBuilder.Build();
        await clientHost.StartAsync(cancellation);
        return new EmbeddedCluster(siloHost, clientHost, gatewayPort, config["Synera:Cluster:ClusterId"]!, siloStopping);
    }

    /// <summary>Stops the silo while the client stays up (the cloud going away under a device).</summary>
    public Task StopSiloAsync(CancellationToken cancellation = default)
    {
        siloStopping.Value = true;
        return silo.StopAsync(cancellation);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await client.StopAsync();
        client.Dispose();
        siloStopping.Value = true;
        await silo.StopAsync();
        silo.Dispose();
    }
}

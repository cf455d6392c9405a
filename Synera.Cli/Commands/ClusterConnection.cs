using Microsoft.Extensions.Logging;
using Synera.DeviceClient.Hosting;
using Synera.Silo.Hosting;

namespace Synera.Cli.Commands;

/// <summary>The cluster a command talks to: a running one through its gateway, or else the embedded default (an
/// in-process silo whose verifier <c>configureVerifier</c> sets up, whose services benchmarks read the engine's totals from).</summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    private readonly SyneraClientHost? external;
    private readonly EmbeddedCluster? embedded;

    private ClusterConnection(SyneraClientHost? external, EmbeddedCluster? embedded) => (this.external, this.embedded) = (external, embedded);

    public IClusterClient Client => external?.Client ?? embedded!.Client;

    /// <summary>The in-process silo's services; null when connected to a running cluster.</summary>
    public IServiceProvider? SiloServices => embedded?.SiloServices;

    /// <param name="security">What the client presents to a running cluster (keys, TLS); the embedded one needs nothing.</param>
    /// <param name="siloLogLevel">What the in-process silo logs (a soak's expected refusals would flood Warning).</param>
    public static async Task<ClusterConnection> OpenAsync((string host, int port)? gateway, Action<Grains.Options.VerifierOptions> configureVerifier,
        CancellationToken cancellation, ClientSecurity? security = null, LogLevel siloLogLevel = LogLevel.Warning) =>
        gateway is var (host, port)
            ? new(await SyneraClientHost.ConnectAsync(host, port, cancellation: cancellation, security: security), null)
            : new(null, await EmbeddedCluster.StartAsync(configureVerifier, siloLogLevel, cancellation));

    /// <summary>The same, the embedded verifier serving <paramref name="targetModel"/> with the defaults.</summary>
    public static Task<ClusterConnection> OpenAsync((string host, int port)? gateway, string targetModel, CancellationToken cancellation, ClientSecurity? security = null,
        LogLevel siloLogLevel = LogLevel.Warning) =>
        OpenAsync(gateway, v => v.ModelPath = targetModel, cancellation, security, siloLogLevel);

    public async ValueTask DisposeAsync()
    {
        if (external is not null) await external.DisposeAsync();
        if (embedded is not null) await embedded.DisposeAsync();
    }
}

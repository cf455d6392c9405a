using System.Net.Sockets;
using Orleans.Runtime;
using Synera.DeviceClient.Hosting;

namespace Synera.Cli.Bench.Faults;

/// <summary>
/// A cluster across hosts on one machine, for fault injection: the store (<c>synera store</c> with its data on disk), one
/// or two frontend silos and two verifier silos, each process on a host of its own (a network namespace behind a link
/// that can be cut, <see cref="NetworkNamespaces"/>), all on the standard ports as on separate machines. The device is
/// this process, on the bridge's address, with an Orleans client that knows every frontend's gateway. Each process's
/// output is appended to its log file in <c>logDir</c>.
/// </summary>
public sealed class FaultCluster : IAsyncDisposable
{
    public const int SiloPort = 11111, GatewayPort = 30000, StorePort = 6390;
    private readonly NetworkNamespaces hosts;
    private readonly string logDir, dataDir;

    public SiloProcess Store { get; private set; } = null!;
    public SiloProcess[] Frontends { get; }
    public SiloProcess[] Verifiers { get; } = new SiloProcess[2];
    public SyneraClientHost Device { get; private set; } = null!;
    public IClusterClient Client => Device.Client;
    public IManagementGrain Management => Client.GetGrain<IManagementGrain>(0);
    public int SiloCount => Frontends.Length + Verifiers.Length;

    public int StoreHost => 0;
    public int FrontendHost(int i) => 1 + i;
    public int VerifierHost(int j) => 1 + Frontends.Length + j;
    public string Redis => $"{hosts.Address(StoreHost)}:{StorePort}";
    public NetworkNamespaces Hosts => hosts;
    public string LogDir => logDir;

    private FaultCluster(int frontends, string logDir)
    {
        this.logDir = logDir;
        dataDir = Path.Combine(logDir, "store-data");
        if (Directory.Exists(dataDir)) Directory.Delete(dataDir, recursive: true);   // a fresh store for every configuration
        Frontends = new SiloProcess[frontends];
        hosts = new NetworkNamespaces(1 + frontends + 2);
    }

    /// <summary>Starts the store, the frontends, connects the device, then the verifiers (once the frontends are active,
    /// so the verdict streams' queue grains activate on a frontend), and waits for every silo to be active.</summary>
    public static async Task<FaultCluster> StartAsync(int frontends, string logDir, CancellationToken cancellation)
    {
        Directory.CreateDirectory(logDir);
        var cluster = new FaultCluster(frontends, logDir);
        try
        {
            await cluster.StartStoreAsync(cancellation);
            for (int i = 0; i < frontends; i++) cluster.StartFrontend(i);
            (string, int)[] gateways = [.. Enumerable.Range(0, frontends).Select(i => (cluster.hosts.Address(cluster.FrontendHost(i)), GatewayPort))];
            cluster.Device = await SyneraClientHost.ConnectAsync(gateways, cancellation: cancellation);
            await SiloProcess.WaitForActiveSilosAsync(cluster.Management, frontends, null, cancellation);
            for (int j = 0; j < 2; j++) cluster.StartVerifier(j);
            await SiloProcess.WaitForActiveSilosAsync(cluster.Management, cluster.SiloCount, null, cancellation);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts (or restarts, on the data it kept) the store, and waits until it takes connections.</summary>
    public async Task StartStoreAsync(CancellationToken cancellation)
    {
        Store = SiloProcess.StartStore(StorePort, "0.0.0.0", dataDir, Log("store"), hosts.Wrap(StoreHost));
        await WaitForPortAsync(hosts.Address(StoreHost), StorePort, Store, cancellation);
    }

    private static async Task WaitForPortAsync(string host, int port, SiloProcess process, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(host, port, cancellation);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.Process.HasExited) { await Task.Delay(200, cancellation); }
        }
    }

    public void StartFrontend(int i) => Frontends[i] = SiloProcess.Start("frontend", Redis, SiloPort, GatewayPort, 1, Log($"frontend-{(char)('a' + i)}"),
        launcher: hosts.Wrap(FrontendHost(i)), advertise: hosts.Address(FrontendHost(i)));

    public void StartVerifier(int j) => Verifiers[j] = SiloProcess.Start("verifier", Redis, SiloPort, GatewayPort, 1, Log($"verifier-{(char)('a' + j)}"),
        launcher: hosts.Wrap(VerifierHost(j)), advertise: hosts.Address(VerifierHost(j)));

    /// <summary>A process's log file; each start appends a line saying when, so a restart's lines can be told apart.</summary>
    public string Log(string name)
    {
        var path = Path.Combine(logDir, $"{name}.log");
        File.AppendAllText(path, $"==== synera bench faults: {name} started {DateTime.UtcNow:O}{Environment.NewLine}");
        return path;
    }

    /// <summary>The silo holding an activation of <paramref name="grainType"/> whose key contains <paramref name="key"/>.</summary>
    public Task<SiloAddress?> SiloOfAsync(string grainType, string key) => SiloProcess.ActivationSiloAsync(Management, grainType, key);

    /// <summary>Which host a silo address is on (an index into <see cref="Frontends"/> or <see cref="Verifiers"/>).</summary>
    public int FrontendAt(SiloAddress address) => Enumerable.Range(0, Frontends.Length).FirstOrDefault(i => hosts.Address(FrontendHost(i)) == address.Endpoint.Address.ToString(), -1);
    public int VerifierAt(SiloAddress address) => Enumerable.Range(0, 2).FirstOrDefault(j => hosts.Address(VerifierHost(j)) == address.Endpoint.Address.ToString(), -1);

    /// <summary>Waits until every silo is active and none of <paramref name="gone"/> is.</summary>
    public Task WaitForFullStrengthAsync(IReadOnlyCollection<SiloAddress>? gone, CancellationToken cancellation) =>
        SiloProcess.WaitForActiveSilosAsync(Management, SiloCount, gone, cancellation);

    public Task WaitForFullStrengthAsync(SiloAddress? gone, CancellationToken cancellation) =>
        WaitForFullStrengthAsync(gone is null ? null : [gone], cancellation);

    public async ValueTask DisposeAsync()
    {
        if (Device is not null)
        {
            try { await Device.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)); } catch (Exception) { }
        }
        foreach (var p in Verifiers.Concat(Frontends)) p?.Dispose();
        Store?.Dispose();
        hosts.Dispose();
    }
}

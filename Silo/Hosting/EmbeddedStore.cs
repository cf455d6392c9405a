using System.Net.Sockets;
using Garnet;

namespace Synera.Silo.Hosting;

/// <summary>
/// A Redis-protocol store hosted in this process (Microsoft Garnet): real Orleans Redis membership and grain storage
/// for multi-silo tests and the developer cluster, with no system package to install. Production points
/// <c>Synera:Cluster:Redis</c> at a real Redis instead; the Orleans providers are the same.
/// </summary>
public sealed class EmbeddedStore : IDisposable
{
    private readonly GarnetServer server;

    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <param name="port">The port to listen on (0 = a free one).</param>
    /// <param name="dataDir">Where to keep the data across restarts (an append-only file committed on every write, replayed
    /// when the store starts again); null: in memory only.</param>
    public EmbeddedStore(int port = 0, string bind = "127.0.0.1", string? dataDir = null)
    {
        Port = port == 0 ? EmbeddedCluster.FreePort() : port;
        // Lua scripting on: Orleans' Redis providers use scripts for conditional writes.
        string[] options = ["--port", Port.ToString(), "--bind", bind, "--lua", "true"];
        if (dataDir is not null)
        {
            Directory.CreateDirectory(dataDir);
            // Every write committed to the log before it is acknowledged (commit frequency 0), so a killed store loses
            // nothing it acknowledged; on start the log is replayed.
            options = [.. options, "--aof", "--aof-commit-freq", "0", "--recover", "--checkpointdir", dataDir, "--device-type", "RandomAccess"];
        }
        server = new GarnetServer(options);
        server.Start();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try { using var c = new TcpClient("127.0.0.1", Port); return; }
            catch (SocketException) when (DateTime.UtcNow < deadline) { Thread.Sleep(50); }
        }
    }

    public void Dispose() => server.Dispose();
}

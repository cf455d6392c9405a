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
    public EmbeddedStore(int port = 0, string bind = "127.0.0.1")
    {
        Port = port == 0 ? EmbeddedCluster.FreePort() : port;
        // Lua scripting on: Orleans' Redis providers use scripts for conditional writes.
        server = new GarnetServer(["--port", Port.ToString(), "--bind", bind, "--lua", "true"]);
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

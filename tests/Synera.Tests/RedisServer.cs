using System.Diagnostics;
using System.Net.Sockets;
using Synera.Silo.Hosting;

namespace Synera.Tests;

/// <summary>A real redis-server on a free port for the duration of a test (installed by .ci/run).</summary>
public sealed class RedisServer : IDisposable
{
    private readonly Process process;
    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    public RedisServer()
    {
        Port = EmbeddedCluster.FreePort();
        var path = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server; .ci/run does this)");
        process = Process.Start(new ProcessStartInfo(path, $"--port {Port} --save \"\" --appendonly no --bind 127.0.0.1")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        }) ?? throw new InvalidOperationException("could not start redis-server");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try { using var c = new TcpClient("127.0.0.1", Port); return; }
            catch (SocketException) when (DateTime.UtcNow < deadline) { Thread.Sleep(50); }
        }
    }

    public void Dispose()
    {
        if (!process.HasExited) process.Kill();
        process.WaitForExit(5000);
        process.Dispose();
    }
}

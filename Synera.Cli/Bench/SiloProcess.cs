using System.Diagnostics;

namespace Synera.Cli.Bench;

/// <summary>A silo in a process of its own (<c>synera silo …</c>), so a benchmark can kill it like a machine failing.</summary>
public sealed class SiloProcess : IDisposable
{
    private SiloProcess(Process process, string role, int siloPort, int gatewayPort)
    {
        Process = process; Role = role; SiloPort = siloPort; GatewayPort = gatewayPort;
    }

    public Process Process { get; }
    public string Role { get; }
    public int SiloPort { get; }
    public int GatewayPort { get; }

    /// <summary>Starts <c>synera silo</c> with this program's own binary; its output goes to <paramref name="logPath"/>.</summary>
    public static SiloProcess Start(string role, string redis, int siloPort, int gatewayPort, int threads, string logPath, double probeTimeoutSeconds = 1)
    {
        var dll = typeof(SiloProcess).Assembly.Location;
        var info = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { dll, "silo", "--role", role, "--redis", redis, "--silo-port", siloPort.ToString(), "--gateway-port", gatewayPort.ToString(),
                     "--threads", threads.ToString(), "--probe-timeout", probeTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            info.ArgumentList.Add(a);
        info.Environment["DOTNET_gcServer"] = "0";
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start a silo process");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new SiloProcess(process, role, siloPort, gatewayPort);
    }

    /// <summary>SIGKILL: the silo gets no chance to leave; its membership row stays until the others declare it dead.</summary>
    public void Kill()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        Kill();
        Process.Dispose();
    }
}

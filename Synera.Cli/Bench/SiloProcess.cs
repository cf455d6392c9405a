using System.Diagnostics;
using Orleans.Runtime;

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
    /// <param name="steadyState">JIT every method fully optimised at its first call (no tiered compilation): a
    /// throughput measurement then does not share the cores with the JIT re-compiling hot methods in the background,
    /// which took a third of a core per silo for the first minute here.</param>
    /// <param name="modelPath">The target model a verifier silo serves (default: the shipped one).</param>
    public static SiloProcess Start(string role, string redis, int siloPort, int gatewayPort, int threads, string logPath, double probeTimeoutSeconds = 1,
        bool steadyState = false, string? modelPath = null, string? cpus = null, IReadOnlyDictionary<string, string>? environment = null,
        string[]? launcher = null, string? advertise = null)
    {
        string[] arguments = ["silo", "--role", role, "--redis", redis, "--silo-port", siloPort.ToString(), "--gateway-port", gatewayPort.ToString(),
            "--threads", threads.ToString(), "--probe-timeout", probeTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        if (modelPath is not null) arguments = [.. arguments, "--model", modelPath];
        if (advertise is not null) arguments = [.. arguments, "--advertise", advertise];
        var env = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["DOTNET_gcServer"] = "0" };
        if (steadyState) env["DOTNET_TieredCompilation"] = "0";
        return new SiloProcess(Launch(arguments, logPath, cpus, env, launcher), role, siloPort, gatewayPort);
    }

    /// <summary>Starts <c>synera store</c> (Garnet) in a process of its own, so it can be killed and restarted like a machine;
    /// with <paramref name="dataDir"/> it keeps its data across restarts.</summary>
    public static SiloProcess StartStore(int port, string bind, string? dataDir, string logPath, string[]? launcher = null)
    {
        string[] arguments = ["store", "--port", port.ToString(), "--bind", bind];
        if (dataDir is not null) arguments = [.. arguments, "--data-dir", dataDir];
        return new SiloProcess(Launch(arguments, logPath, null, new Dictionary<string, string>(), launcher), "store", port, port);
    }

    /// <summary>Runs this program (<c>synera ARGUMENTS</c>) with its output appended to <paramref name="logPath"/>.</summary>
    private static Process Launch(string[] arguments, string logPath, string? cpus, IReadOnlyDictionary<string, string> environment, string[]? launcher)
    {
        var dll = typeof(SiloProcess).Assembly.Location;
        // Pinned with taskset from its first instruction, so every thread the runtime makes inherits the cores; a launcher
        // (ip netns exec …) runs it on another host. Both exec the program, so the process started is the silo's.
        string[] command = [.. launcher ?? [], .. cpus is null ? Array.Empty<string>() : ["taskset", "-c", cpus], Environment.ProcessPath ?? "dotnet"];
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in command.Skip(1)) info.ArgumentList.Add(a);
        info.ArgumentList.Add(dll);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        foreach (var (key, value) in environment) info.Environment[key] = value;
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start synera {arguments[0]}");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>CPU time the process has used so far (all its threads).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            Process.Refresh();
            return Process.HasExited ? TimeSpan.Zero : Process.TotalProcessorTime;
        }
    }

    /// <summary>SIGSTOP (frozen: it holds its connections and answers nothing, as a host in a long GC pause or with a stuck
    /// GPU does) or SIGCONT.</summary>
    public void Signal(bool stop)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [stop ? "-STOP" : "-CONT", Process.Id.ToString()])) ?? throw new InvalidOperationException("kill did not start");
        kill.WaitForExit();
    }

    /// <summary>SIGKILL: the silo gets no chance to leave; its membership row stays until the others declare it dead.</summary>
    public void Kill()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.WaitForExit(10_000);
    }

    /// <summary>Waits until <paramref name="count"/> silos are active and none of <paramref name="gone"/> (silos killed or
    /// stopped: after a full restart the store still lists them as active until the new ones declare them dead) is among
    /// them, then a little longer for load reports and grain manifests to reach every silo.</summary>
    public static async Task WaitForActiveSilosAsync(IManagementGrain management, int count, IReadOnlyCollection<SiloAddress>? gone, CancellationToken cancellation,
        TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromMinutes(3);
        var deadline = DateTime.UtcNow + limit;
        string last = "no answer";
        while (true)
        {
            try
            {
                var hosts = await management.GetHosts(onlyActive: true);
                if (hosts.Count >= count && (gone is null || !hosts.Keys.Any(gone.Contains))) break;
                last = $"active: {string.Join(", ", hosts.Keys)}";
            }
            catch (Exception e) when (DateTime.UtcNow < deadline) { last = e.Message; }   // the gateway's silo is still joining
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the cluster did not reach {count} active silos in {limit.TotalSeconds:F0} s (last: {last})");
            await Task.Delay(250, cancellation);
        }
        await Task.Delay(TimeSpan.FromSeconds(3), cancellation);
    }

    /// <summary>The silo holding an activation of <paramref name="grainType"/> whose key contains <paramref name="key"/>
    /// (asked for a second, while the activation may still be on its way), or null.</summary>
    public static async Task<SiloAddress?> ActivationSiloAsync(IManagementGrain management, string grainType, string key)
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var stats = await management.GetDetailedGrainStatistics();
            var activation = stats.FirstOrDefault(s => s.GrainType.Contains(grainType) && s.GrainId.ToString().Contains(key));
            if (activation is not null) return activation.SiloAddress;
            await Task.Delay(20);
        }
        return null;
    }

    public void Dispose()
    {
        Kill();
        Process.Dispose();
    }
}

using System.Diagnostics;

namespace Synera.Cli.Bench;

/// <summary>
/// Hosts on one machine: a Linux bridge with this machine at <see cref="HostAddress"/> and one network namespace per
/// host, each behind a veth pair, so a process started in a namespace is reachable only through its link, and taking
/// the link down cuts that host off while its processes live on (a partition, not a crash). Needs root and iproute2;
/// everything it made is removed on dispose, and leftovers of an interrupted run are removed before it starts.
/// </summary>
public sealed class NetworkNamespaces : IDisposable
{
    private const string Bridge = "synbr0";
    private const string Prefix = "synera-h";
    private readonly int count;

    public string HostAddress => "10.77.0.1";
    public string Address(int host) => $"10.77.0.{11 + host}";
    public string Namespace(int host) => $"{Prefix}{host}";
    private static string HostSide(int host) => $"synv{host}";

    public NetworkNamespaces(int hosts)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("network namespaces are Linux's");
        if (Environment.UserName != "root" && Run("id", "-u", check: false).Trim() != "0")
            throw new UnauthorizedAccessException("a partition needs separate network namespaces, which only root can make: run as root (CI does)");
        count = hosts;
        RemoveLeftovers();
        Run("ip", $"link add {Bridge} type bridge");
        Run("ip", $"addr add {HostAddress}/24 dev {Bridge}");
        Run("ip", $"link set {Bridge} up");
        for (int h = 0; h < hosts; h++)
        {
            Run("ip", $"link del {HostSide(h)}", check: false);    // a link left by a namespace a dying process still held
            Run("ip", $"netns add {Namespace(h)}");
            Run("ip", $"link add {HostSide(h)} type veth peer name eth0 netns {Namespace(h)}");
            Run("ip", $"link set {HostSide(h)} master {Bridge}");
            Run("ip", $"link set {HostSide(h)} up");
            Run("ip", $"netns exec {Namespace(h)} ip addr add {Address(h)}/24 dev eth0");
            Run("ip", $"netns exec {Namespace(h)} ip link set eth0 up");
            Run("ip", $"netns exec {Namespace(h)} ip link set lo up");
        }
    }

    /// <summary>The command line that runs a program inside host <paramref name="host"/>'s namespace.</summary>
    public string[] Wrap(int host) => ["ip", "netns", "exec", Namespace(host)];

    /// <summary>Takes host <paramref name="host"/>'s link down: nothing reaches it, nothing leaves it.</summary>
    public void Cut(int host) => Run("ip", $"link set {HostSide(host)} down");

    public void Heal(int host) => Run("ip", $"link set {HostSide(host)} up");

    public void Dispose()
    {
        for (int h = 0; h < count; h++)
        {
            Run("ip", $"link del {HostSide(h)}", check: false);
            Run("ip", $"netns del {Namespace(h)}", check: false);
        }
        Run("ip", $"link del {Bridge}", check: false);
    }

    private static void RemoveLeftovers()
    {
        foreach (var line in Run("ip", "netns list", check: false).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            if (line.Split(' ')[0] is var name && name.StartsWith(Prefix)) Run("ip", $"netns del {name}", check: false);
        Run("ip", $"link del {Bridge}", check: false);
    }

    private static string Run(string program, string arguments, bool check = true)
    {
        var info = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(info) ?? throw new InvalidOperationException($"{program} did not start");
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (check && p.ExitCode != 0) throw new InvalidOperationException($"{program} {arguments}: {error.Trim()}");
        return output;
    }
}

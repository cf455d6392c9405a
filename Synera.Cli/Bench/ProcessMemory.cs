namespace Synera.Cli.Bench;

/// <summary>This process's memory as the kernel counts it (Linux /proc/self/status).</summary>
public static class ProcessMemory
{
    /// <summary>Resident and peak resident memory (VmRSS, VmHWM), in bytes; 0 where /proc is not there.</summary>
    public static (long Resident, long Peak) Read()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return (0, 0);
        var lines = File.ReadAllLines(status);
        long Value(string key) => lines.Where(l => l.StartsWith(key)).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024).FirstOrDefault();
        return (Value("VmRSS:"), Value("VmHWM:"));
    }
}

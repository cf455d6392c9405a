namespace Synera.Cli.Bench;

/// <summary>How result files name the machine they were measured on.</summary>
public static class MachineDescription
{
    public static string Current => $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
}

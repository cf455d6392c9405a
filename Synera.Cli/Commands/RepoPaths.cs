namespace Synera.Cli.Commands;

/// <summary>Finds the repository's shipped files (models/, data/) from the working folder or the program's folder.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Models => Path.Combine(Root, "models");
    public static string DraftModel => Path.Combine(Models, "draft");
    public static string TargetModel => Path.Combine(Models, "target");
    public static string HeldOutSuite => Path.Combine(Root, "data", "heldout.jsonl");

    private static string FindRoot()
    {
        foreach (var start in new[] { Environment.GetEnvironmentVariable("SYNERA_ROOT"), Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = start is null ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Synera.sln"))) return dir.FullName;
        }
        return Directory.GetCurrentDirectory();
    }
}

using System.CommandLine;
using System.Text;

namespace Synera.Cli;

/// <summary>
/// The command-line reference as markdown, from the command tree itself: every command and each of its options with
/// its description and default. docs/configuration.md holds it between markers, and a test keeps the two equal.
/// </summary>
public static class CliReference
{
    public const string Begin = "<!-- cli-reference: generated from the command tree; a test keeps it equal -->";
    public const string End = "<!-- end cli-reference -->";

    public static string Render(Command root)
    {
        var text = new StringBuilder();
        foreach (var (path, command) in Walk(root, "synera"))
        {
            if (command.Options.Count(o => !o.Hidden && o.Name is not ("--help" or "--version")) == 0 && command.Subcommands.Count > 0) continue;
            text.Append("### `").Append(path).Append("`\n\n").Append(command.Description).Append("\n\n");
            var options = command.Options.Where(o => !o.Hidden && o.Name is not ("--help" or "--version" or "-h" or "-?")).ToList();
            if (options.Count == 0) { text.Append("No options.\n\n"); continue; }
            text.Append("| option | meaning | default |\n|---|---|---|\n");
            foreach (var o in options)
            {
                var names = string.Join(", ", new[] { o.Name }.Concat(o.Aliases).Select(n => $"`{n}`"));
                var fallback = o.HasDefaultValue ? Format(o.GetDefaultValue()) : o.Required ? "required" : "—";
                text.Append($"| {names} | {Escape(o.Description ?? "")} | {fallback} |\n");
            }
            text.Append('\n');
        }
        return text.ToString().TrimEnd() + "\n";
    }

    private static IEnumerable<(string Path, Command Command)> Walk(Command command, string path)
    {
        yield return (path, command);
        foreach (var sub in command.Subcommands.OrderBy(c => c.Name, StringComparer.Ordinal))
            foreach (var item in Walk(sub, $"{path} {sub.Name}")) yield return item;
    }

    private static string Format(object? value) => value switch
    {
        null => "—",
        string s when s.Length == 0 => "(empty)",
        string s => $"`{Escape(s.Replace(Commands.RepoPaths.Root, "."))}`",
        bool b => b ? "`true`" : "`false`",
        IFormattable f => $"`{f.ToString(null, System.Globalization.CultureInfo.InvariantCulture)}`",
        _ => $"`{Escape(value.ToString() ?? "")}`",
    };

    private static string Escape(string s) => s.Replace("|", "\\|").Replace("\n", " ");
}

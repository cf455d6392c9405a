using System.Reflection;
using System.Text.RegularExpressions;
using Synera.Cli;
using Synera.Grains.Options;

namespace Synera.Tests;

/// <summary>
/// The docs cannot drift from the code: every configuration key of the options classes is documented, the command-line
/// reference in docs/configuration.md is the command tree's own, and every command line in README.md and docs/ parses
/// (a renamed or removed option fails here, not in a reader's terminal).
/// </summary>
public class DocsTests
{
    private static string Read(string relative) => File.ReadAllText(Path.Combine(TestModels.RepoRoot, relative));

    private static IEnumerable<string> DocFiles() =>
        new[] { "README.md" }.Concat(Directory.GetFiles(Path.Combine(TestModels.RepoRoot, "docs"), "*.md").Select(f => Path.GetRelativePath(TestModels.RepoRoot, f)));

    [Fact]
    public void EveryOptionsPropertyIsAConfigurationKeyInTheDocs()
    {
        var doc = Read("docs/configuration.md").Split('\n');
        var missing = new List<string>();
        foreach (var (section, type) in new[] { (VerifierOptions.Section, typeof(VerifierOptions)), (SecurityOptions.Section, typeof(SecurityOptions)) })
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
                if (!doc.Any(line => line.StartsWith('|') && line.Contains($"`{section}:") && Regex.IsMatch(line, $@"\b{p.Name}\b")))
                    missing.Add($"{section}:{p.Name}");
        Assert.True(missing.Count == 0, "docs/configuration.md lacks " + string.Join(", ", missing));
    }

    [Fact]
    public void TheCommandLineReferenceIsTheCommandTreesOwn()
    {
        var path = Path.Combine(TestModels.RepoRoot, "docs", "configuration.md");
        var doc = File.ReadAllText(path);
        int begin = doc.IndexOf(CliReference.Begin, StringComparison.Ordinal), end = doc.IndexOf(CliReference.End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, "docs/configuration.md has no cli-reference markers");
        var expected = CliReference.Render(SyneraCommands.CreateRoot());
        var current = doc[(begin + CliReference.Begin.Length)..end].Trim('\n') + "\n";
        if (current != expected && Environment.GetEnvironmentVariable("SYNERA_WRITE_DOCS") == "1")
        {
            File.WriteAllText(path, doc[..(begin + CliReference.Begin.Length)] + "\n\n" + expected + "\n" + doc[end..]);
            return;
        }
        Assert.True(current == expected, "the command-line reference in docs/configuration.md is stale: rerun this test with SYNERA_WRITE_DOCS=1");
    }

    [Fact]
    public void TheBenchmarksPageIsWhatTheResultFilesSay()
    {
        var page = Path.Combine(TestModels.RepoRoot, "docs", "benchmarks.md");
        var expected = Synera.Cli.Bench.BenchmarksPage.Render(Path.Combine(TestModels.RepoRoot, "docs", "measurements", Synera.Cli.Bench.BenchmarksPage.ManifestFile), page);
        if (File.ReadAllText(page) != expected && Environment.GetEnvironmentVariable("SYNERA_WRITE_DOCS") == "1") File.WriteAllText(page, expected);
        Assert.True(File.ReadAllText(page) == expected, "docs/benchmarks.md differs from its result files: run ./synera bench report --markdown docs/benchmarks.md");
        // Every result file in docs/measurements is one the page cites.
        var cited = System.Text.RegularExpressions.Regex.Matches(expected, @"`measurements/([^`]+)`").Select(m => m.Groups[1].Value).ToHashSet();
        var json = Directory.GetFiles(Path.Combine(TestModels.RepoRoot, "docs", "measurements"), "*.json", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Path.Combine(TestModels.RepoRoot, "docs", "measurements"), f).Replace('\\', '/'))
            .Where(f => f != Synera.Cli.Bench.BenchmarksPage.ManifestFile && !f.StartsWith("2026-12-01/grid/") && !f.StartsWith("2026-12-01/soak") && f != "2026-12-01/sampling.json");
        Assert.DoesNotContain(json, f => !cited.Contains(f));
    }

    /// <summary>`./synera …` lines of fenced code blocks, with a comment after `#` and a trailing `&amp;` cut off.</summary>
    public static IEnumerable<(string File, string Line)> CommandLines(string file, string text)
    {
        bool inBlock = false;
        foreach (var raw in text.Split('\n'))
        {
            if (raw.TrimStart().StartsWith("```")) { inBlock = !inBlock; continue; }
            var line = Regex.Replace(Regex.Replace(raw, @"\s+#.*$", ""), @"\s*&$", "").Trim();   // a comment, a trailing '&'
            if (inBlock && line.StartsWith("./synera")) yield return (file, line);
        }
    }

    /// <summary>Splits a shell line into arguments: single and double quotes group, the program name is dropped.</summary>
    public static string[] Arguments(string line) =>
        Regex.Matches(line, @"""([^""]*)""|'([^']*)'|(\S+)").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value)
            .Skip(1).ToArray();

    private static IReadOnlyList<string> ParseErrors(string line) =>
        SyneraCommands.CreateRoot().Parse(Arguments(line)).Errors.Select(e => e.Message).ToList();

    [Fact]
    public void EveryCommandLineInTheReadmeAndDocsParses()
    {
        var lines = DocFiles().SelectMany(f => CommandLines(f, Read(f))).ToList();
        Assert.True(lines.Count >= 10, $"only {lines.Count} command lines found");
        var failures = lines.Select(l => (l.File, l.Line, Errors: ParseErrors(l.Line))).Where(r => r.Errors.Count > 0)
            .Select(r => $"{r.File}: {r.Line}: {string.Join("; ", r.Errors)}").ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>The cheap commands run as written: the README's random-pair block writes a Qwen-shaped pair and answers
    /// through it (the rest of the docs' commands start clusters, train or benchmark for minutes: parsed above).</summary>
    [Fact]
    public async Task TheReadmesRandomPairCommandsRunAsWritten()
    {
        var readme = Read("README.md");
        var block = readme.Split("```").Where((_, i) => i % 2 == 1).Single(b => b.Contains("models random"));
        var lines = CommandLines("README.md", "```" + block + "```").Select(l => l.Line).ToList();
        Assert.Equal(3, lines.Count);
        foreach (var line in lines)
        {
            var exit = await SyneraCommands.CreateRoot().Parse(Arguments(line)).InvokeAsync(new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false });
            Assert.True(exit == 0, $"{line}: exit code {exit}");
        }
        Assert.True(File.Exists("/tmp/qwen-target/model.safetensors.index.json") && File.Exists("/tmp/qwen-draft/model.onnx_data"));
    }

    [Fact]
    public void ADocWithARenamedOptionFailsTheCheck()
    {
        var doc = "```bash\n./synera generate --budjet 0.2 \"What is 1+1?\"   # a typo\n```\n";
        var line = Assert.Single(CommandLines("doc.md", doc)).Line;
        Assert.NotEmpty(ParseErrors(line));            // the typo becomes the prompt, and the rest is refused
        Assert.Empty(ParseErrors("./synera generate --budget 0.2 \"What is 1+1?\""));
    }
}

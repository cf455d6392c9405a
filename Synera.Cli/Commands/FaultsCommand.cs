using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Synera.Cli.Bench;
using Synera.Cli.Bench.Faults;
using Synera.DeviceClient.Drafting;
using Synera.Models.Data;
using Synera.Tokenizer;

namespace Synera.Cli.Commands;

/// <summary><c>synera bench faults [--runs N] [--only KIND] [--frontends 1|2]</c>: every fault kind injected into a
/// multi-host cluster mid-answer; writes faults.json.</summary>
public static class FaultsCommand
{
    public static Command Create(Option<string> output)
    {
        var runs = new Option<int>("--runs") { Description = "answers disturbed per kind", DefaultValueFactory = _ => 5 };
        var only = new Option<string[]>("--only")
        {
            Description = $"only these kinds: {string.Join(", ", Enum.GetValues<FaultKind>().Select(k => k.Name()))}", AllowMultipleArgumentsPerToken = true,
        };
        var frontends = new Option<int>("--frontends") { Description = "frontend silos (2: the device can move to another gateway; 1: the developer cluster's shape)", DefaultValueFactory = _ => 2 };
        var command = new Command("faults", "Inject faults into a cluster whose silos and store run on separate hosts (network namespaces; needs root): " +
            "verifier kill, partition and pause, frontend kill, store restart and outage, a poor WAN link, a full restart; compare each answer with the undisturbed one")
        {
            output, runs, only, frontends,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            if (parse.GetValue(runs) <= 0) throw new ArgumentException("--runs must be positive");
            if (parse.GetValue(frontends) is not (1 or 2)) throw new ArgumentException("--frontends must be 1 or 2");
            var kinds = (parse.GetValue(only) is { Length: > 0 } names ? names.Select(FaultKinds.Parse) : Enum.GetValues<FaultKind>()).Distinct().ToList();
            var dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var tokenizer = SyneraTokenizer.Load(Path.Combine(RepoPaths.DraftModel, "tokenizer.json"));
            using var runner = new OnnxDraftRunner(Path.Combine(RepoPaths.DraftModel, "model.onnx"));
            // Prose answers: the longest the shipped pair gives, so a fault lands well inside one.
            var prompts = TaskGenerator.ReadJsonl(RepoPaths.HeldOutSuite).Where(e => e.Task == "prose").Take(parse.GetValue(runs)).Select(e => e.Prompt).ToList();
            var suite = new FaultSuite(runner, tokenizer, Path.Combine(dir, "logs"), line => AnsiConsole.MarkupLine(Markup.Escape(line)), parse.GetValue(frontends));
            var results = new List<object>();
            var path = Path.Combine(dir, "faults.json");
            foreach (var kind in kinds)
            {
                AnsiConsole.MarkupLine($"[bold]{kind.Name()}[/]: {parse.GetValue(runs)} runs");
                try { results.Add(Summary(kind, await suite.RunAsync(kind, prompts, cancellation))); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One kind that could not run is recorded and the suite goes on with the next.
                    AnsiConsole.MarkupLine($"[red]{kind.Name()} failed:[/] {Markup.Escape(e.Message)}");
                    results.Add(new { kind = kind.Name(), error = e.Message });
                }
                // Written after every kind: a long suite stopped part-way keeps what it measured.
                File.WriteAllText(path, JsonSerializer.Serialize(new
                {
                    frontends = parse.GetValue(frontends), verifiers = 2, store = "synera store (Garnet), data on disk",
                    hosts = "network namespaces on one machine", date = DateTime.UtcNow.ToString("u"), kinds = results,
                }, new JsonSerializerOptions { WriteIndented = true }));
            }
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            return 0;
        });
        return command;
    }

    private static object Summary(FaultKind kind, List<FaultRun> runs)
    {
        var recoveries = runs.Select(r => r.RecoveryMs).Where(double.IsFinite).ToList();
        return new
        {
            kind = kind.Name(),
            runs = runs.Count,
            tokens_lost = runs.Sum(r => r.TokensLost),
            tokens_duplicated = runs.Sum(r => r.TokensDuplicated),
            answers_differing = runs.Count(r => r.Differs),
            slm_fallbacks = runs.Count(r => r.SlmFallback),
            slm_tokens = runs.Sum(r => r.SlmTokens),
            recovery_ms_p50 = recoveries.Count == 0 ? (double?)null : ModesBenchmark.Percentile(recoveries, 0.5),
            recovery_ms_max = recoveries.Count == 0 ? (double?)null : recoveries.Max(),
            accounts_kept = runs.Any(r => r.AccountKept is not null) ? runs.Count(r => r.AccountKept == true) : (int?)null,
            details = runs,
        };
    }
}

using MathNet.Numerics.Distributions;
using Synera.Abstractions.Sampling;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Tokenizer;

namespace Synera.Cli.Bench;

/// <summary>One sampled configuration: how often each opening (the first tokens of the answer) came out.</summary>
public sealed record SamplingRow(string Name, string Mode, double Budget, string Rule, int Samples, Dictionary<string, int> Openings,
    double AcceptanceRate, double BytesUpPerToken);

/// <summary>
/// Is sampled synera distributed as the LLM alone? Every configuration draws many short answers to one prompt at
/// temperature 1 through the real cluster, each with its own seed. Seeds never repeat across configurations: with coupled
/// sampling one seed gives synera@1 and llm the very same answer, so sharing seeds would compare a sample with itself.
/// </summary>
public sealed class SamplingBenchmark(IClusterClient client, string draftModel, SyneraTokenizer tokenizer, int workers)
{
    public async Task<SamplingRow> RunAsync(string name, GenerationOptions options, string prompt, int firstSeed, int samples, int openingTokens,
        IProgress<int>? progress = null)
    {
        var openings = new Dictionary<string, int>();
        long judged = 0, accepted = 0, bytesUp = 0, tokens = 0;
        int done = 0;
        var gate = new object();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            using var runner = new OnnxDraftRunner(draftModel);
            using var generator = new DeviceGenerator(client, runner, tokenizer, $"sampling-{name.Replace('/', '-').Replace('@', '-')}-{w}-{Guid.NewGuid():N}");
            for (int i = w; i < samples; i += workers)
            {
                var r = await generator.GenerateAsync(prompt, options with { Seed = firstSeed + i, MaxNewTokens = openingTokens });
                if (r.Stats.CloudError is { } error) throw new InvalidOperationException($"{name}: sample {i} fell back to the SLM: {error}");
                var key = string.Join(" ", r.TokenIds.Take(openingTokens).Select(t => t.ToString()));
                lock (gate)
                {
                    openings[key] = openings.GetValueOrDefault(key) + 1;
                    judged += r.Stats.NumJudged; accepted += r.Stats.NumAccepted; bytesUp += r.Stats.BytesUp; tokens += r.Stats.NumGenerated;
                    progress?.Report(++done);
                }
            }
        })));
        return new SamplingRow(name, options.Mode.ToString().ToLowerInvariant(), options.Budget, options.SamplingRule.ToString(), samples, openings,
            judged == 0 ? 1 : (double)accepted / judged, tokens == 0 ? 0 : (double)bytesUp / tokens);
    }

    /// <summary>Acceptance rate and uplink bytes per generated token over whole answers to <paramref name="prompts"/>.</summary>
    public async Task<(double acceptance, double bytesUpPerToken, long tokens)> EfficiencyAsync(GenerationOptions options, IReadOnlyList<string> prompts)
    {
        using var runner = new OnnxDraftRunner(draftModel);
        using var generator = new DeviceGenerator(client, runner, tokenizer, $"sampling-efficiency-{Guid.NewGuid():N}");
        long judged = 0, accepted = 0, bytesUp = 0, tokens = 0;
        for (int i = 0; i < prompts.Count; i++)
        {
            var r = await generator.GenerateAsync(prompts[i], options with { Seed = 1_000_000 + i });
            judged += r.Stats.NumJudged; accepted += r.Stats.NumAccepted; bytesUp += r.Stats.BytesUp; tokens += r.Stats.NumGenerated;
        }
        return (judged == 0 ? 1 : (double)accepted / judged, tokens == 0 ? 0 : (double)bytesUp / tokens, tokens);
    }

    /// <summary>Readable form of an opening key (token ids) for the report.</summary>
    public string Describe(string key) => tokenizer.Decode(key.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList());

    /// <summary>
    /// Chi-square test of homogeneity between two samples of openings. Openings seen fewer than <paramref name="minPooled"/>
    /// times in both samples together are pooled into one "other" cell, so that every expected count is large enough
    /// for the chi-square approximation. Returns the statistic, its degrees of freedom and the p-value.
    /// </summary>
    public static (double chi2, int df, double p) Homogeneity(IReadOnlyDictionary<string, int> a, IReadOnlyDictionary<string, int> b, int minPooled = 10)
    {
        double na = a.Values.Sum(), nb = b.Values.Sum();
        var cells = new List<(double a, double b)>();
        double otherA = 0, otherB = 0;
        foreach (var key in a.Keys.Union(b.Keys))
        {
            double x = a.GetValueOrDefault(key), y = b.GetValueOrDefault(key);
            if (x + y >= minPooled) cells.Add((x, y));
            else { otherA += x; otherB += y; }
        }
        if (otherA + otherB > 0) cells.Add((otherA, otherB));
        if (cells.Count < 2) return (0, 0, 1);
        double chi2 = 0;
        foreach (var (x, y) in cells)
        {
            double total = x + y, ea = total * na / (na + nb), eb = total * nb / (na + nb);
            chi2 += (x - ea) * (x - ea) / ea + (y - eb) * (y - eb) / eb;
        }
        int df = cells.Count - 1;
        return (chi2, df, 1 - ChiSquared.CDF(df, chi2));
    }

    /// <summary>Total variation distance between the two samples' empirical distributions of openings.</summary>
    public static double Distance(IReadOnlyDictionary<string, int> a, IReadOnlyDictionary<string, int> b)
    {
        double na = a.Values.Sum(), nb = b.Values.Sum();
        return 0.5 * a.Keys.Union(b.Keys).Sum(k => Math.Abs(a.GetValueOrDefault(k) / na - b.GetValueOrDefault(k) / nb));
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Link;
using Synera.Grains.Verification;
using Synera.Models.Data;
using Synera.Silo.Hosting;
using Synera.Tokenizer;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>
/// Many devices through one verifier (real silo, client, session grains, engine and shipped models): when they
/// outnumber what it sustains, the load controller shrinks every device's offload budget by the same factor,
/// every device keeps generating, verify latency stays near its target and below that of the same crowd with
/// budgets that ignore load, and budgets come back when the crowd leaves. Here the crowd of devices shares the
/// verifier's two cores, so single 100-ms windows still spike past the target (see the closing note of issue 5).
/// </summary>
public class OverloadTests(ITestOutputHelper output)
{
    private const double TargetP99Ms = 60;
    private const double Budget = 0.3;
    private const int Crowd = 32;

    private sealed record DeviceRun(long Generated, long Offloaded, int Answers, IReadOnlyList<string> CloudErrors)
    {
        public double Ratio => Generated == 0 ? 0 : (double)Offloaded / Generated;
    }

    [Fact]
    public async Task BudgetsShrinkFairlyUnderOverloadAndRecoverAfterwards()
    {
        // One torch thread: the in-process devices keep one of the two cores busy, and two torch threads would
        // wait on each other at every barrier. This stands in for a verifier with cores of its own.
        var threads = TorchSharp.torch.get_num_threads();
        try
        {
            await Run();
        }
        finally
        {
            TorchSharp.torch.set_num_threads(threads);   // process-wide: leave it as the other tests expect
        }
    }

    private async Task Run()
    {
        await using var cluster = await EmbeddedCluster.StartAsync(v => { v.ModelPath = TestModels.ShippedTarget; v.TargetP99Ms = TargetP99Ms; v.Threads = 1; },
            configureLogging: logging => logging.AddProvider(new TestOutputLoggerProvider(output)));
        var engine = cluster.SiloServices.GetRequiredService<VerificationEngine>();
        var options = new GenerationOptions
        {
            Mode = GenerationMode.Synera, Budget = Budget, LoadAware = true, MaxNewTokens = 64,
            Link = new LinkOptions(RttMs: 10, DeviceMsPerToken: 8),
        };

        var (uncontrolled, uncontrolledP99, _) = await RunPhase(cluster, engine, "uncontrolled", devices: Crowd, TimeSpan.FromSeconds(12), options with { LoadAware = false });
        var (crowd, crowdP99, crowdFactor) = await RunPhase(cluster, engine, "crowd", devices: Crowd, TimeSpan.FromSeconds(12), options);
        var (_, _, recoveringFactor) = await RunPhase(cluster, engine, "recovering", devices: 2, TimeSpan.FromSeconds(6), options);
        var (few, fewP99, fewFactor) = await RunPhase(cluster, engine, "few", devices: 2, TimeSpan.FromSeconds(8), options);

        string Describe(DeviceRun[] runs) => string.Join(" ", runs.Select(r => $"{r.Ratio:P1}/{r.Generated}"));
        string Series(IEnumerable<double> values, string format) => string.Join(" ", values.Select(v => v.ToString(format)));
        output.WriteLine($"{Crowd} devices, budgets not load-aware: offload ratio/tokens {Describe(uncontrolled)}");
        output.WriteLine($"  window p99 (2nd half) {Series(uncontrolledP99, "F0")} ms");
        output.WriteLine($"{Crowd} devices: offload ratio/tokens {Describe(crowd)}");
        output.WriteLine($"  window p99 (2nd half) {Series(crowdP99, "F0")} ms; load factor {Series(crowdFactor, "F2")}");
        output.WriteLine($"recovering: load factor {Series(recoveringFactor, "F2")}");
        output.WriteLine($" 2 devices: offload ratio/tokens {Describe(few)}; window p99 {Series(fewP99, "F0")} ms; load factor {Series(fewFactor, "F2")}");

        // Overload is answered with back-pressure, not errors. A request the cloud refused as out of step would
        // show here (the device finishes that answer with its SLM); one such desync was seen once in CI before the
        // session grain learned to resynchronise, so a rare one is reported, not fatal, and more than 1 % fails.
        var all = uncontrolled.Concat(crowd).Concat(few).ToList();
        var errors = all.SelectMany(r => r.CloudErrors).ToList();
        foreach (var e in errors) output.WriteLine($"cloud error (answer finished by the SLM): {e}");
        Assert.True(errors.Count <= Math.Max(1, all.Sum(r => r.Answers) / 100),
            $"{errors.Count} of {all.Sum(r => r.Answers)} answers fell back to the SLM after a cloud error, first: {errors.FirstOrDefault()}");
        // Overload: the verifier sees it, and every device keeps generating with a budget shrunk by the same factor.
        Assert.True(crowdFactor.Average() < 0.5, $"mean load factor {crowdFactor.Average():F2} under {Crowd} devices: no pressure detected");
        Assert.All(crowd, r => Assert.True(r.Generated >= 100, $"a device generated only {r.Generated} tokens under overload"));
        Assert.All(crowd, r => Assert.True(r.Ratio < Budget / 2, $"a device kept offloading {r.Ratio:P1} under overload (budget {Budget:P0})"));
        Assert.True(crowd.Max(r => r.Ratio) - crowd.Min(r => r.Ratio) <= 0.05, $"offload ratios spread over {crowd.Min(r => r.Ratio):P1}..{crowd.Max(r => r.Ratio):P1}");
        // Against the same crowd with budgets that ignore load: latency does not collapse, devices get further.
        double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        Assert.True(Median(uncontrolledP99) > TargetP99Ms,
            $"the crowd does not overload the verifier: median window p99 {Median(uncontrolledP99):F0} ms at full budgets, target {TargetP99Ms} ms (add devices)");
        Assert.True(Median(crowdP99) <= 2 * TargetP99Ms, $"median window p99 {Median(crowdP99):F0} ms under the crowd, target {TargetP99Ms} ms");
        Assert.True(Median(crowdP99) < Median(uncontrolledP99),
            $"median window p99 {Median(crowdP99):F0} ms with load control vs {Median(uncontrolledP99):F0} ms without");
        Assert.True(crowd.Sum(r => r.Generated) > 1.25 * uncontrolled.Sum(r => r.Generated),
            $"{crowd.Sum(r => r.Generated)} tokens generated with load control vs {uncontrolled.Sum(r => r.Generated)} without");
        // Recovery: with the crowd gone the factor returns to 1 and devices offload their budget again.
        Assert.Equal(1.0, fewFactor.Last(), 2);
        // A device's ratio at full budget is what its ~30 answers' uncertain tokens add up to, below the cap: 22.3 % for
        // one device and 25.7-26.2 % for the other in two local runs, 20.5 % on a clean-clone CI run (550 tokens).
        // Under the crowd it is below Budget / 2.
        Assert.All(few, r => Assert.InRange(r.Ratio, Budget - 0.11, Budget + 0.03));
        Assert.True(fewP99.Average() < TargetP99Ms, $"mean window p99 {fewP99.Average():F0} ms with 2 devices exceeds the {TargetP99Ms} ms target");
    }

    /// <summary>
    /// Runs <paramref name="devices"/> fresh devices for <paramref name="duration"/>; samples the engine's window p99
    /// and load factor in the second half. Device ids carry the phase's name: a device's offload account is persisted
    /// in its grain, so reusing ids would carry credit saved under one phase's shrunk budget into the next.
    /// </summary>
    private static async Task<(DeviceRun[] runs, List<double> p99, List<double> factor)> RunPhase(EmbeddedCluster cluster, VerificationEngine engine, string phase, int devices, TimeSpan duration, GenerationOptions options)
    {
        var suite = TaskGenerator.ReadJsonl(TestModels.HeldOut);
        var tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
        var stopAt = DateTime.UtcNow + duration;
        var tasks = Enumerable.Range(0, devices).Select(d => Task.Run(async () =>
        {
            using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
            using var generator = new DeviceGenerator(cluster.Client, runner, tokenizer, $"{phase}-device{d}");
            long generated = 0, offloaded = 0;
            var errors = new List<string>();
            int answers = 0;
            for (int i = d; DateTime.UtcNow < stopAt; i += devices)
            {
                var result = await generator.GenerateAsync(suite[(i * 37) % suite.Count].Prompt, options);
                generated += result.Stats.NumGenerated;
                offloaded += result.Stats.NumOffloaded;
                answers++;
                if (result.Stats.CloudError is { } error) errors.Add(error);
            }
            return new DeviceRun(generated, offloaded, answers, errors);
        })).ToArray();
        var p99 = new List<double>();
        var factor = new List<double>();
        await Task.Delay(duration / 2);
        while (DateTime.UtcNow < stopAt)
        {
            await Task.Delay(200);
            p99.Add(engine.Load.P99Ms);
            factor.Add(engine.Load.LoadFactor);
        }
        return (await Task.WhenAll(tasks), p99, factor);
    }
}

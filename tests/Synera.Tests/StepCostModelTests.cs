using Synera.Cli.Bench;
using Synera.Grains.Verification;
using Synera.Models;
using static TorchSharp.torch;

namespace Synera.Tests;

/// <summary>The verifier's step cost model: its arithmetic against a hand count, its regimes, its fit and its runner.</summary>
public class StepCostModelTests
{
    private static string CostFile(string name) => Path.Combine(TestModels.RepoRoot, "models", "cost", name + ".json");

    [Fact]
    public void ADecodeStepOfTheSevenBReadsItsWeightsOnce()
    {
        var model = StepCostModel.Load(CostFile("h100-qwen2.5-7b"));
        var c = model.Model;
        // Every parameter but the embedding table (gathered by row), less norms and biases (a fraction of a per mille).
        long weights = c.NumParameters - (long)c.VocabSize * c.HiddenSize;
        var (flops, bytes) = model.Work([new StepCostModel.Sequence(1, 0, 1)]);
        Assert.InRange(bytes / 2.0, weights * 0.999, weights * 1.0 + 1);
        Assert.InRange(flops, 2.0 * weights * 0.999, 2.0 * weights * 1.001 + 1e6);
        var (ms, computeBound) = model.StepTime([new StepCostModel.Sequence(1, 0, 1)]);
        Assert.False(computeBound);
        double memoryMs = bytes / (model.Hardware.MemoryGBps * 1e9 * model.Hardware.MemoryEfficiency) * 1e3;
        Assert.Equal(model.Hardware.StepOverheadMs + model.Hardware.PerSequenceOverheadMs + memoryMs, ms, 6);
    }

    [Fact]
    public void SpansCostAboutADecodeOnAGpuAndTheirLengthOnThisCpu()
    {
        var gpu = StepCostModel.Load(CostFile("h100-qwen2.5-7b"));
        StepCostModel.Sequence[] Batch(int n, int tokens) => [.. Enumerable.Repeat(new StepCostModel.Sequence(tokens, 200, tokens), n)];
        // On the H100 a span of 5 costs within 5 % of one token: the weights' bytes dominate, not the FLOPs.
        Assert.InRange(gpu.StepTime(Batch(8, 5)).ms / gpu.StepTime(Batch(8, 1)).ms, 1, 1.05);
        // A long prefill turns it compute-bound.
        Assert.True(gpu.StepTime(Batch(1, 4096)).computeBound);
        // On this machine's fitted model the same span costs clearly more than a token.
        var cpu = StepCostModel.Load(CostFile("cpu-target"));
        Assert.True(cpu.StepTime(Batch(8, 5)).ms > 1.2 * cpu.StepTime(Batch(8, 1)).ms);
    }

    [Fact]
    public void TheFitRecoversTheLimitsThatMadeItsPoints()
    {
        var truth = StepCostModel.Load(CostFile("cpu-target")) with
        {
            Hardware = new HardwareLimits("synthetic", 0.05, 20, 1, 1, 1.5, 0.2),
        };
        var points = (from n in new[] { 1, 4, 16, 64 } from t in new[] { 1, 4, 16 } from cached in new[] { 32, 160 }
                      let batch = Enumerable.Repeat(new StepCostModel.Sequence(t, cached, t), n).ToArray()
                      select (batch, truth.StepTime(batch).ms)).ToList();
        var fitted = StepCostFit.Fit("fit", truth, points);
        foreach (var (batch, ms) in points) Assert.InRange((truth with { Hardware = fitted }).StepTime(batch).ms / ms, 0.93, 1.07);
        Assert.InRange(fitted.StepOverheadMs, 1.2, 1.8);
    }

    [Fact]
    public void ABadCostModelFileIsRefusedByName()
    {
        Assert.Throws<FileNotFoundException>(() => StepCostModel.Load(CostFile("no-such-model")));
        var dir = Directory.CreateTempSubdirectory("synera-cost-");
        var path = Path.Combine(dir.FullName, "bad.json");
        File.WriteAllText(path, File.ReadAllText(CostFile("h100-qwen2.5-7b")).Replace("\"memoryEfficiency\": 0.8", "\"memoryEfficiency\": 1.8"));
        var e = Assert.Throws<InvalidDataException>(() => StepCostModel.Load(path));
        Assert.Contains("efficiencies", e.Message);
        File.WriteAllText(path, "{ not json");
        Assert.Throws<InvalidDataException>(() => StepCostModel.Load(path));
    }

    [Fact]
    public void AModelledStepTakesItsModelledTimeAndKeepsTheRealLogits()
    {
        var (model, tokenizer) = ModelCheckpoint.Load(TestModels.ShippedTarget, CPU, ScalarType.Float32);
        using var plain = new TorchModelRunner(model, CPU, 64L << 20, "target", 64, tokenizer);
        var cost = StepCostModel.Load(CostFile("cpu-target")) with { Hardware = new HardwareLimits("slow", 1, 1, 1, 1, 60, 0) };
        using var timed = new CostModelledRunner(new TorchModelRunner(model, CPU, 64L << 20, "target", 64, tokenizer), cost, 1);
        RunnerInput Input(string id) => new(id, [1, 20, 21, 22, 23], 0, 0);
        var expected = plain.Execute([Input("a")])[0];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var actual = timed.Execute([Input("a")])[0];
        Assert.True(clock.Elapsed.TotalMilliseconds >= cost.StepMs([Input("a")]), $"the step took {clock.Elapsed.TotalMilliseconds:F1} ms");
        Assert.True(cost.StepMs([Input("a")]) >= 60);
        Assert.Equal(expected.Logits, actual.Logits);
        Assert.Equal(0, timed.NumOverruns);
        // A model faster than this machine: the real forward outlasts it, and the step says so.
        using var fast = new CostModelledRunner(new TorchModelRunner(model, CPU, 64L << 20, "target", 64, tokenizer),
            cost with { Hardware = new HardwareLimits("fast", 1e6, 1e6, 1, 1, 0, 0) }, 1);
        fast.Execute([Input("b")]);
        Assert.Equal(1, fast.NumOverruns);
    }
}

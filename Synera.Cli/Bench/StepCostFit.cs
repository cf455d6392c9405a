using System.Diagnostics;
using Synera.Grains.Verification;
using Synera.Models;
using static TorchSharp.torch;

namespace Synera.Cli.Bench;

/// <summary>
/// <c>synera bench cost-fit</c>: measures the real batched runner's step time over a grid of batch shapes (sequences ×
/// new tokens × cached tokens), fits a <see cref="StepCostModel"/>'s hardware limits to them (an effective compute rate,
/// an effective bandwidth, a fixed and a per-sequence overhead) and writes the model with every measured point beside
/// its modelled time, so the fit's error is in the file.
/// </summary>
public sealed class StepCostFit(string modelDir, Device device, string dtype, Action<string> report)
{
    public static readonly int[] SequenceCounts = [1, 2, 4, 8, 16, 32, 64];
    public static readonly int[] NewTokenCounts = [1, 4, 16];
    public static readonly int[] CachedTokenCounts = [32, 160];

    /// <summary>Median step time (ms) of each shape, <paramref name="repeats"/> timed runs after one untimed.</summary>
    public List<(StepCostModel.Sequence[] batch, double ms)> Measure(int repeats = 5, int maxStepTokens = 1024)
    {
        var resolved = ModelCheckpoint.ResolveDtype(modelDir, dtype, device);
        var (model, tokenizer) = ModelCheckpoint.Load(modelDir, device, resolved);
        int context = Math.Min(model.Config.MaxPositions, TorchModelRunner.DefaultMaxContext);
        using var runner = new TorchModelRunner(model, device, 1L << 40, "fit", 1024, tokenizer, context);
        runner.WarmUp(maxStepTokens);
        var random = new Random(1);
        var points = new List<(StepCostModel.Sequence[], double)>();
        foreach (var cached in CachedTokenCounts)
            foreach (var newTokens in NewTokenCounts)
                foreach (var n in SequenceCounts)
                {
                    if (n * newTokens > maxStepTokens || cached + newTokens > context) continue;
                    var ids = Enumerable.Range(0, n).Select(i => $"fit-{cached}-{newTokens}-{n}-{i}").ToArray();
                    int[] Random(int count) => [.. Enumerable.Range(0, count).Select(_ => random.Next(4, tokenizer.VocabSize))];
                    runner.Execute([.. ids.Select(id => new RunnerInput(id, Random(cached), 0, cached - 1))]);   // the context, untimed
                    var times = new List<double>();
                    for (int r = 0; r <= repeats; r++)
                    {
                        var inputs = ids.Select(id => new RunnerInput(id, Random(newTokens), cached, 0)).ToList();
                        var clock = Stopwatch.StartNew();
                        runner.Execute(inputs);
                        if (r > 0) times.Add(clock.Elapsed.TotalMilliseconds);
                        foreach (var id in ids) runner.KvCache.Truncate(id, cached);
                    }
                    foreach (var id in ids) runner.KvCache.Release(id);
                    times.Sort();
                    var batch = Enumerable.Repeat(new StepCostModel.Sequence(newTokens, cached, newTokens), n).ToArray();
                    points.Add((batch, times[times.Count / 2]));
                    report($"  {n,3} sequences × {newTokens,2} new tokens after {cached,3} cached: {times[times.Count / 2],8:F2} ms");
                }
        model.Dispose();
        return points;
    }

    /// <summary>
    /// The hardware limits that make the model closest to the points in relative error: the two rates over a log grid
    /// (the roofline's max makes them non-linear), the overheads by least squares for each pair (kept non-negative).
    /// Efficiencies are 1: the fitted rates are what this machine reaches, not its peaks.
    /// </summary>
    public static HardwareLimits Fit(string name, StepCostModel shape, IReadOnlyList<(StepCostModel.Sequence[] batch, double ms)> points)
    {
        var work = points.Select(p => (w: shape.Work(p.batch), n: (double)p.batch.Length, p.ms)).ToArray();
        HardwareLimits? best = null;
        double bestLoss = double.MaxValue;
        for (int i = 0; i <= 120; i++)
            for (int j = 0; j <= 120; j++)
            {
                double flopsPerMs = Math.Pow(10, 6 + 6.0 * i / 120), bytesPerMs = Math.Pow(10, 6 + 6.0 * j / 120);   // 1 GFLOP/s … 1 PFLOP/s
                var roof = work.Select(x => Math.Max(x.w.flops / flopsPerMs, x.w.bytes / bytesPerMs)).ToArray();
                // Weighted least squares for ms ≈ roof + a + b n, weights 1/ms² (relative error).
                double sw = 0, sn = 0, snn = 0, sr = 0, snr = 0;
                for (int k = 0; k < work.Length; k++)
                {
                    double w = 1 / (work[k].ms * work[k].ms), r = work[k].ms - roof[k], n = work[k].n;
                    sw += w; sn += w * n; snn += w * n * n; sr += w * r; snr += w * n * r;
                }
                double det = sw * snn - sn * sn;
                double b = det == 0 ? 0 : Math.Max(0, (sw * snr - sn * sr) / det);
                double a = Math.Max(0, (sr - b * sn) / sw);
                double loss = 0;
                for (int k = 0; k < work.Length; k++) { double e = (roof[k] + a + b * work[k].n - work[k].ms) / work[k].ms; loss += e * e; }
                if (loss < bestLoss)
                {
                    bestLoss = loss;
                    best = new HardwareLimits(name, flopsPerMs * 1e3 / 1e12, bytesPerMs * 1e3 / 1e9, 1, 1, a, b);
                }
            }
        return best!;
    }
}

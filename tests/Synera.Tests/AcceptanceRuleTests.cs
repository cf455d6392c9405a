using Synera.Abstractions.Sampling;
using Synera.Grains.Verification;

namespace Synera.Tests;

/// <summary>The verdict rule: greedy reproduces the LLM's argmax; coupled sampling keeps the LLM's distribution exactly,
/// whatever the drafter; the older q(x)-only rule does so only for a certain drafter.</summary>
public class AcceptanceRuleTests
{
    private static readonly float[] Logits = [2.0f, 1.0f, 0.5f, -1.0f, 0.0f];
    /// <summary>A drafter that disagrees with the LLM: it prefers token 1 and spreads mass differently.</summary>
    private static readonly float[] DraftLogits = [0.5f, 2.0f, 1.5f, 0.0f, -0.5f];

    private static double[] Softmax(float[] logits, float temperature)
    {
        var e = logits.Select(l => Math.Exp(l / temperature)).ToArray();
        return e.Select(x => x / e.Sum()).ToArray();
    }

    private static RunnerOutput Rows(params float[][] rows) => new([.. rows.SelectMany(r => r)], rows.Length, rows[0].Length);

    [Fact]
    public void GreedyAcceptsExactlyTheArgmaxAndCorrectsToIt()
    {
        var rows = Rows(Logits, Logits);
        Assert.Equal(new Judgement(1, -1, 0), AcceptanceRule.Judge(rows, [0], [0.3f], SamplingSettings.Greedy, 10, new Random(1)));
        Assert.Equal(new Judgement(0, 0, -1), AcceptanceRule.Judge(rows, [2], [], SamplingSettings.Greedy, 10, new Random(1)));
    }

    /// <summary>Runs the device's draw and the cloud's verdict at one position for many seeds; returns the committed
    /// tokens' frequencies and the acceptance rate.</summary>
    private static (double[] freq, double acceptance) Coupled(float[] draft, float[] target, SamplingSettings settings, int n = 40_000)
    {
        var rows = Rows(target, target);
        var counts = new int[target.Length];
        int accepted = 0;
        for (int seed = 0; seed < n; seed++)
        {
            var s = settings with { Seed = seed };
            long position = 17 + seed % 5;
            int x = CoupledSampler.Sample(draft, s, position);
            var j = AcceptanceRule.Judge(rows, [x], [], s, position, new Random(seed));
            Assert.Equal(CoupledSampler.Sample(target, s, position), j.NumAccepted == 1 ? x : j.CorrectionTokenId);   // the cloud's own draw
            counts[j.NumAccepted == 1 ? x : j.CorrectionTokenId]++;
            accepted += j.NumAccepted;
        }
        return (counts.Select(c => (double)c / n).ToArray(), (double)accepted / n);
    }

    [Theory]
    [InlineData(1.0f)]
    [InlineData(0.7f)]
    public void CoupledVerdictsFollowTheLlmDistributionWhateverTheDrafter(float temperature)
    {
        var p = Softmax(Logits, temperature);
        var (freq, acceptance) = Coupled(DraftLogits, Logits, new SamplingSettings(temperature));
        for (int t = 0; t < p.Length; t++) Assert.InRange(freq[t], p[t] - 0.01, p[t] + 0.01);
        Assert.InRange(acceptance, 0.05, 0.95);   // the drafter is wrong often, and right sometimes
        // A drafter equal to the LLM is always accepted: same distribution, same noise, same draw.
        Assert.Equal(1.0, Coupled(Logits, Logits, new SamplingSettings(temperature), 2000).acceptance);
    }

    [Fact]
    public void TopPAndTopKFilterTheLlmsDistributionBeforeTheDraw()
    {
        // Top-p 0.8 at T = 1 keeps tokens 0, 1, 2 (0.56 + 0.21 + 0.13 ≥ 0.8); top-k 2 keeps 0 and 1.
        foreach (var settings in new[] { new SamplingSettings(1f, TopP: 0.8f), new SamplingSettings(1f, TopK: 2) })
        {
            var expected = CoupledSampler.Distribution(Logits, settings);
            var (freq, _) = Coupled(DraftLogits, Logits, settings);
            for (int t = 0; t < expected.Length; t++) Assert.InRange(freq[t], expected[t] - 0.01, expected[t] + 0.01);
            Assert.Equal(0, freq[3]);
            Assert.Equal(0, freq[4]);
        }
    }

    /// <summary>
    /// The older rule: a drafter that is sure of its token (q(x) = 1) gets the LLM's own distribution; one that samples
    /// (q(x) &lt; 1) does not, because the residual treats q as zero everywhere but x.
    /// </summary>
    [Fact]
    public void DraftProbabilityRuleIsExactOnlyForACertainDrafter()
    {
        var settings = new SamplingSettings(1f, Rule: SamplingRule.DraftProbability);
        var p = Softmax(Logits, 1f);
        var q = Softmax(DraftLogits, 1f);
        var rows = Rows(Logits, Logits);
        var random = new Random(42);
        const int N = 40_000;
        var certain = new int[Logits.Length];
        var sampling = new int[Logits.Length];
        for (int n = 0; n < N; n++)
        {
            var j = AcceptanceRule.Judge(rows, [3], [1f], settings, 0, random);
            certain[j.NumAccepted == 1 ? 3 : j.CorrectionTokenId]++;
            int x = CoupledSampler.Sample(DraftLogits, settings with { Seed = n }, 0);
            j = AcceptanceRule.Judge(rows, [x], [(float)q[x]], settings, 0, random);
            sampling[j.NumAccepted == 1 ? x : j.CorrectionTokenId]++;
        }
        for (int t = 0; t < p.Length; t++) Assert.InRange((double)certain[t] / N, p[t] - 0.01, p[t] + 0.01);
        var worst = Enumerable.Range(0, p.Length).Max(t => Math.Abs((double)sampling[t] / N - p[t]));
        Assert.True(worst > 0.05, $"the q(x) rule matched p within {worst:F3} for a sampling drafter; this test can no longer tell the rules apart");
    }
}

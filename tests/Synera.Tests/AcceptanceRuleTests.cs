using Synera.Grains.Verification;

namespace Synera.Tests;

/// <summary>The verdict rule: greedy reproduces the LLM's argmax; sampled keeps the LLM's distribution.</summary>
public class AcceptanceRuleTests
{
    private static readonly float[] Logits = [2.0f, 1.0f, 0.5f, -1.0f, 0.0f];

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
        Assert.Equal(new Judgement(1, -1, 0), AcceptanceRule.Judge(rows, [0], [0.3f], 0, new Random(1)));
        Assert.Equal(new Judgement(0, 0, -1), AcceptanceRule.Judge(rows, [2], [0.9f], 0, new Random(1)));
    }

    /// <summary>
    /// A drafter that is sure of its token (q(x) = 1) gets the LLM's own distribution at temperature T, whatever
    /// it drafted: x stands with probability p(x), otherwise the correction is drawn from p without x.
    /// </summary>
    [Theory]
    [InlineData(0, 1.0f)]
    [InlineData(3, 1.0f)]
    [InlineData(1, 0.7f)]
    public void SampledVerdictsFollowTheLlmDistributionForACertainDrafter(int draft, float temperature)
    {
        var p = Softmax(Logits, temperature);
        var rows = Rows(Logits, Logits);
        var random = new Random(42);
        const int N = 40_000;
        var counts = new int[Logits.Length];
        for (int n = 0; n < N; n++)
        {
            var j = AcceptanceRule.Judge(rows, [draft], [1f], temperature, random);
            counts[j.NumAccepted == 1 ? draft : j.CorrectionTokenId]++;
        }
        for (int t = 0; t < p.Length; t++)
            Assert.InRange((double)counts[t] / N, p[t] - 0.01, p[t] + 0.01);
    }

    [Fact]
    public void DraftTheLlmLikesMoreThanTheDrafterIsAlwaysAccepted()
    {
        var rows = Rows(Logits, Logits);
        var p = Softmax(Logits, 1f);
        var random = new Random(7);
        // q(x) below p(x): min(1, p/q) = 1, so the draft always stands and the look-ahead token is sampled.
        for (int n = 0; n < 1000; n++)
            Assert.Equal(1, AcceptanceRule.Judge(rows, [0], [(float)p[0] / 2], 1f, random).NumAccepted);
    }
}

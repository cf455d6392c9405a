using Synera.Abstractions.Sampling;

namespace Synera.Grains.Verification;

/// <summary>The outcome of judging one span of drafts against the LLM's distributions.</summary>
/// <param name="NumAccepted">Drafts accepted, in order.</param>
/// <param name="CorrectionTokenId">The LLM's token at the first rejected position, or -1.</param>
/// <param name="NextTokenId">When all were accepted: the LLM's token after the span (look-ahead), else -1.</param>
public readonly record struct Judgement(int NumAccepted, int CorrectionTokenId, int NextTokenId);

/// <summary>
/// Decides which drafts stand. Greedy (temperature 0): a draft stands iff it is the LLM's argmax, so the result
/// reproduces greedy LLM decoding exactly. Sampled, with the default <see cref="SamplingRule.Coupled"/> rule: the cloud
/// draws each position's token from the LLM (after top-k/top-p) with the noise the device drew its draft with
/// (<see cref="CoupledSampler"/>); a draft stands iff it equals that draw, and otherwise the draw is the correction. Every
/// committed token is therefore an exact LLM sample, whatever the drafter did, and the device sends no probabilities.
/// The older <see cref="SamplingRule.DraftProbability"/> rule (speculative sampling with only q(x) on the wire) is kept
/// to measure against: it accepts with min(1, p(x)/q(x)) and resamples p with x removed, which is exact only when q(x) = 1.
/// </summary>
public static class AcceptanceRule
{
    /// <param name="rows">Logits rows: row i predicts draft i; row drafts.Length predicts the token after the span.</param>
    /// <param name="firstPosition">Absolute position of draft 0 in the session's sequence (keys the coupled noise).</param>
    public static Judgement Judge(RunnerOutput rows, ReadOnlySpan<int> drafts, ReadOnlySpan<float> draftProbs, SamplingSettings sampling,
        long firstPosition, Random random)
    {
        bool coupled = !sampling.IsGreedy && sampling.Rule == SamplingRule.Coupled;
        for (int i = 0; i < drafts.Length; i++)
        {
            var row = rows.Row(i);
            if (sampling.IsGreedy || coupled)
            {
                int draw = CoupledSampler.Sample(row, sampling, firstPosition + i);   // greedy: the argmax
                if (draw != drafts[i]) return new Judgement(i, draw, -1);
                continue;
            }
            var p = CoupledSampler.Distribution(row, sampling);
            var q = Math.Max(draftProbs[i], 1e-12f);
            if (random.NextDouble() < Math.Min(1.0, p[drafts[i]] / q)) continue;
            p[drafts[i]] = 0;   // residual max(0, p − q) with q concentrated on the drafted token
            return new Judgement(i, Sample(p, random), -1);
        }
        var last = rows.Row(drafts.Length);
        long next = firstPosition + drafts.Length;
        return new Judgement(drafts.Length, -1, sampling.IsGreedy || coupled ? CoupledSampler.Sample(last, sampling, next)
            : Sample(CoupledSampler.Distribution(last, sampling), random));
    }

    private static int Sample(double[] weights, Random random)
    {
        var total = weights.Sum();
        var r = random.NextDouble() * total;
        for (int i = 0; i < weights.Length; i++)
        {
            r -= weights[i];
            if (r <= 0 && weights[i] > 0) return i;
        }
        return Array.FindLastIndex(weights, w => w > 0);
    }
}

namespace Synera.Grains.Verification;

/// <summary>The outcome of judging one span of drafts against the LLM's distributions.</summary>
/// <param name="NumAccepted">Drafts accepted, in order.</param>
/// <param name="CorrectionTokenId">The LLM's token at the first rejected position, or -1.</param>
/// <param name="NextTokenId">When all were accepted: the LLM's token after the span (look-ahead), else -1.</param>
public readonly record struct Judgement(int NumAccepted, int CorrectionTokenId, int NextTokenId);

/// <summary>
/// Decides which drafts stand. Greedy (temperature 0): a draft stands iff it is the LLM's argmax, so the
/// result reproduces greedy LLM decoding exactly. Sampled: the speculative-sampling rule — accept draft x
/// with probability min(1, p(x)/q(x)); on rejection sample from the residual max(0, p − q), normalised.
/// The device sends only q(x) for the drafted token (no full distributions), so the residual treats q as
/// zero elsewhere, i.e. p with x removed. That is exact when q(x) = 1 (AcceptanceRuleTests); for a device that
/// samples (q(x) &lt; 1) it is an approximation that leans towards the drafter, the price of not sending q.
/// </summary>
public static class AcceptanceRule
{
    /// <param name="rows">Logits rows: row i predicts draft i; row drafts.Length predicts the token after the span.</param>
    public static Judgement Judge(RunnerOutput rows, ReadOnlySpan<int> drafts, ReadOnlySpan<float> draftProbs, float temperature, Random random)
    {
        for (int i = 0; i < drafts.Length; i++)
        {
            var row = rows.Row(i);
            if (temperature <= 0)
            {
                int best = ArgMax(row);
                if (best != drafts[i]) return new Judgement(i, best, -1);
                continue;
            }
            var p = Softmax(row, temperature);
            var q = Math.Max(draftProbs[i], 1e-12f);
            if (random.NextDouble() < Math.Min(1.0, p[drafts[i]] / q)) continue;
            p[drafts[i]] = 0;   // residual max(0, p − q) with q concentrated on the drafted token
            return new Judgement(i, Sample(p, random), -1);
        }
        var last = rows.Row(drafts.Length);
        return new Judgement(drafts.Length, -1, temperature <= 0 ? ArgMax(last) : Sample(Softmax(last, temperature), random));
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    private static double[] Softmax(ReadOnlySpan<float> row, float temperature)
    {
        var max = row[ArgMax(row)];
        var p = new double[row.Length];
        double sum = 0;
        for (int i = 0; i < row.Length; i++) sum += p[i] = Math.Exp((row[i] - max) / temperature);
        for (int i = 0; i < row.Length; i++) p[i] /= sum;
        return p;
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

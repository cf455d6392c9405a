namespace Synera.DeviceClient.Offloading;

/// <summary>The policy's verdict on one drafted token.</summary>
/// <param name="Offload">Send it for verification.</param>
/// <param name="Confidence">The draft's confidence (metric-dependent, in [0, 1]).</param>
/// <param name="Importance">The token's importance weight (≥ 1).</param>
public readonly record struct OffloadDecision(bool Offload, float Confidence, float Importance);

/// <summary>
/// Selective offloading under a budget. Each drafted token gets a score = confidence / importance; it is
/// offloaded when the score is below the adaptive threshold and the session has budget credit. The
/// threshold is the quantile of recent scores at twice the budget (so roughly twice as many tokens qualify
/// as the budget allows, and credit is spent on the least confident of them); the credit is a token
/// bucket filled by <c>budget</c> per generated token and capped, so the offload ratio tracks the budget
/// from above and below. Budget 0 → never offload (SLM only); budget 1 → offload everything.
/// </summary>
public sealed class OffloadPolicy
{
    private const int Window = 256;
    private const double MaxCredit = 2.0;
    private readonly IConfidenceMetric metric;
    private readonly float[] recentScores = new float[Window];
    private int numScores, nextScore;
    private double credit = 1;   // a fresh device may offload its first uncertain token

    public OffloadPolicy(ConfidenceMetric metric, double budget)
    {
        Metric = metric;
        this.metric = ConfidenceMetrics.Create(metric);
        Budget = budget;
    }

    public ConfidenceMetric Metric { get; }

    /// <summary>Target offload ratio in [0, 1] (after load scaling).</summary>
    public double Budget { get; set; }

    public double Threshold { get; private set; }
    public long NumGenerated { get; private set; }
    public long NumOffloaded { get; private set; }
    public double OffloadRatio => NumGenerated == 0 ? 0 : (double)NumOffloaded / NumGenerated;

    /// <summary>Decides for one drafted token from its probability distribution and importance.</summary>
    public OffloadDecision Decide(ReadOnlySpan<float> probabilities, float importance)
    {
        var confidence = metric.Confidence(probabilities);
        var score = confidence / Math.Max(1f, importance);
        NumGenerated++;
        credit = Math.Min(MaxCredit, credit + Budget);
        bool offload;
        if (Budget >= 1) offload = true;
        else if (Budget <= 0) offload = false;
        else
        {
            Threshold = Quantile(Math.Min(1, 2 * Budget));
            offload = credit >= 1 && (score <= Threshold || credit >= MaxCredit);
        }
        recentScores[nextScore] = score;
        nextScore = (nextScore + 1) % Window;
        numScores = Math.Min(numScores + 1, Window);
        if (offload)
        {
            credit = Math.Max(0, credit - 1);
            NumOffloaded++;
        }
        return new OffloadDecision(offload, confidence, importance);
    }

    /// <summary>Drafts dropped by a rollback leave the accounting: their budget accrual is undone and the credit
    /// of those that were flagged is returned, so the ratio is over the tokens that reach the output.</summary>
    public void Discard(int numDiscarded, int numDiscardedOffloaded)
    {
        NumGenerated -= numDiscarded;
        NumOffloaded -= numDiscardedOffloaded;
        credit = Math.Clamp(credit - Budget * numDiscarded + numDiscardedOffloaded, 0, MaxCredit);
    }

    private double Quantile(double q)
    {
        if (numScores == 0) return double.PositiveInfinity;
        Span<float> sorted = stackalloc float[numScores];
        recentScores.AsSpan(0, numScores).CopyTo(sorted);
        sorted.Sort();
        return sorted[Math.Min(numScores - 1, (int)(q * numScores))];
    }
}

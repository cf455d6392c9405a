namespace Synera.DeviceClient.Offloading;

/// <summary>
/// The token-routing baseline's policy (<c>route</c> mode, DESIGN §3): the budget as a per-token ration, as in routers
/// that send "the least confident fraction b of tokens". A token is routed when its score is in the lowest 2b of the last
/// <see cref="Window"/> scores and a small credit bucket (filled by b per token, capped at <see cref="MaxCredit"/>) has
/// a whole credit; a full bucket routes the next token whatever its confidence. Kept as the baseline Synera's
/// <see cref="OffloadPolicy"/> is measured against (it loses bursts of errors: credit is capped at two tokens).
/// </summary>
public sealed class RationedRoutingPolicy(ConfidenceMetric metric, double budget) : IOffloadPolicy
{
    private const int Window = 256;
    private const double MaxCredit = 2.0;
    private readonly IConfidenceMetric confidenceMetric = ConfidenceMetrics.Create(metric);
    private readonly float[] recentScores = new float[Window];
    private int numScores, nextScore;
    private double credit = 1;

    public ConfidenceMetric Metric { get; } = metric;
    public double Budget { get; set; } = budget;
    public double Threshold { get; private set; }

    public OffloadDecision Decide(ReadOnlySpan<float> probabilities, float importance)
    {
        var confidence = confidenceMetric.Confidence(probabilities);
        var score = confidence / Math.Max(1f, importance);
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
        if (offload) credit = Math.Max(0, credit - 1);
        return new OffloadDecision(offload, confidence, importance);
    }

    public void OnCommitted(int numTokens) { }

    public void Refund(int numOffloads) => credit = Math.Min(MaxCredit, credit + numOffloads);

    /// <summary>Dropped drafts leave the ration: their accrual is undone and their flags' credit returned.</summary>
    public void OnDiscarded(int numDiscarded, int numDiscardedOffloaded) =>
        credit = Math.Clamp(credit - Budget * numDiscarded + numDiscardedOffloaded, 0, MaxCredit);

    private double Quantile(double q)
    {
        if (numScores == 0) return double.PositiveInfinity;
        Span<float> sorted = stackalloc float[numScores];
        recentScores.AsSpan(0, numScores).CopyTo(sorted);
        sorted.Sort();
        return sorted[Math.Min(numScores - 1, (int)(q * numScores))];
    }
}

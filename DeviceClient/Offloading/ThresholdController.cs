namespace Synera.DeviceClient.Offloading;

/// <summary>
/// The slow threshold controller. The threshold is the calibrated one for a target offload ratio (it starts at the
/// budget: <see cref="OffloadCalibration.ThresholdFor"/>). The controller keeps a moving average of the demand — the
/// fraction of drafted tokens whose score falls below the threshold — over <see cref="HorizonTokens"/> tokens, and moves
/// the target ratio by a small step only when that long-run demand drifts from the budget by more than
/// <see cref="Deadband"/>. A hard stretch (a burst of arithmetic) therefore does not move the threshold: its tokens are
/// offloaded while the account allows. The target ratio never rises past the calibration's saturation point (see
/// <see cref="OffloadCalibration.SaturationRatio"/>). Without a calibration the threshold is the target-ratio quantile of
/// the device's recent scores.
/// </summary>
public sealed class ThresholdController
{
    /// <summary>Time constant of the demand average (tokens).</summary>
    public const int HorizonTokens = 2000;
    /// <summary>Tokens between two adjustments, and before the first one.</summary>
    public const int AdjustEvery = 64;
    public const int WarmUpTokens = 256;
    /// <summary>Relative drift of demand from the budget that the controller tolerates without acting.</summary>
    public const double Deadband = 0.05;
    /// <summary>Multiplicative step of the target ratio per adjustment (≈ 2.5 % per 64 tokens: a factor of 2 takes ~1,800 tokens).</summary>
    public const double Step = 1.025;
    private const int WindowSize = 1024;

    /// <summary>
    /// A fresh device starts at the calibrated threshold of budget × this. The calibration is teacher-forced, and in closed
    /// loop fewer tokens fall below a threshold (after a correction the draft is back on the LLM's track): on the 450
    /// held-out examples, thresholds 0.8 and 0.9 offloaded 10.5 and 11.7 % where the calibration expects 11.3 and 12.8 %.
    /// </summary>
    public const double ClosedLoopCorrection = 1.1;

    private readonly OffloadCalibration? calibration;
    private readonly ConfidenceMetric metric;
    private readonly float[] window = new float[WindowSize];
    private int numInWindow, next;
    private long numObserved;
    private double budget;

    public ThresholdController(OffloadCalibration? calibration, ConfidenceMetric metric, double budget,
        double restoredTargetRatio = 0, double restoredDemand = double.NaN, IReadOnlyList<float>? restoredScores = null, long restoredObserved = 0)
    {
        this.calibration = calibration;
        this.metric = metric;
        this.budget = budget;
        TargetRatio = restoredTargetRatio > 0 ? Clamp(restoredTargetRatio) : Clamp(budget * ClosedLoopCorrection);
        Demand = double.IsFinite(restoredDemand) ? restoredDemand : budget;
        numObserved = restoredObserved;
        if (restoredScores is not null) foreach (var x in restoredScores.TakeLast(WindowSize)) Remember(x);
        Threshold = LookUp();
    }

    /// <summary>The budget the controller steers demand to; a new budget (load scaling) rescales the target ratio.</summary>
    public double Budget
    {
        get => budget;
        set
        {
            if (value == budget) return;
            TargetRatio = budget > 0 && value > 0 ? TargetRatio * value / budget : value;
            budget = value;
            TargetRatio = Clamp(TargetRatio);
            Threshold = LookUp();
        }
    }

    public double TargetRatio { get; private set; }
    public double Threshold { get; private set; }
    public double Demand { get; private set; }
    public bool IsCalibrated => calibration?.ThresholdFor(metric, 0.1) is not null;

    /// <summary>The most recent scores, oldest first.</summary>
    public float[] RecentScores()
    {
        var result = new float[numInWindow];
        for (int i = 0; i < numInWindow; i++) result[i] = window[(next - numInWindow + i + WindowSize) % WindowSize];
        return result;
    }

    /// <summary>Takes one drafted token's score; returns whether it is below the threshold. The demand is counted when the
    /// token is committed (<see cref="Count"/>), because the budget is a fraction of committed tokens: drafts that a
    /// rollback drops (often uncertain, drafted on a wrong token) must not pull the threshold down.</summary>
    public bool Observe(float score)
    {
        Remember(score);
        return score < Threshold;
    }

    /// <summary>Counts one committed token: whether its score was below the threshold when it was drafted.</summary>
    public void Count(bool below)
    {
        ++numObserved;
        // A plain mean until the horizon is reached (an unbiased estimate from the first tokens on), then the moving average.
        Demand += ((below ? 1 : 0) - Demand) / Math.Min(numObserved, HorizonTokens);
        if (calibration is null && numObserved % AdjustEvery == 0) Threshold = LookUp();   // uncalibrated: follow the window
        if (numObserved >= WarmUpTokens && numObserved % AdjustEvery == 0) Adjust();
    }

    private void Adjust()
    {
        if (budget <= 0 || budget >= 1) return;
        if (Demand > budget * (1 + Deadband)) TargetRatio = Clamp(TargetRatio / Step);
        else if (Demand < budget * (1 - Deadband)) TargetRatio = Clamp(TargetRatio * Step);
        else return;
        Threshold = LookUp();
    }

    /// <summary>The target ratio stays within [budget / 4, budget × 4], and does not rise past the calibration's saturation
    /// point (above which the draft was never wrong) unless the budget itself is there: a confident token is never
    /// offloaded just to spend budget.</summary>
    private double Clamp(double ratio)
    {
        if (budget <= 0) return 0;
        var upper = Math.Min(1, budget * 4);
        if (calibration?.SaturationRatio(metric) is double saturation) upper = Math.Min(upper, Math.Max(budget, saturation));
        return Math.Clamp(ratio, budget / 4, upper);
    }

    private double LookUp()
    {
        if (budget <= 0) return 0;
        if (budget >= 1) return double.PositiveInfinity;
        if (calibration?.ThresholdFor(metric, TargetRatio) is double t) return t;
        if (numInWindow == 0) return 0.5;
        var sorted = window.AsSpan(0, numInWindow).ToArray();
        Array.Sort(sorted);
        return sorted[Math.Min(numInWindow - 1, (int)(TargetRatio * numInWindow))];
    }

    private void Remember(float score)
    {
        window[next] = score;
        next = (next + 1) % WindowSize;
        numInWindow = Math.Min(numInWindow + 1, WindowSize);
    }
}

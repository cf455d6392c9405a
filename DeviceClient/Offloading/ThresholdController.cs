namespace Synera.DeviceClient.Offloading;

/// <summary>
/// The slow threshold controller. It keeps the scores of the device's last <see cref="HorizonTokens"/> committed tokens
/// (thousands of tokens, across answers) and, every <see cref="AdjustEvery"/> tokens, checks the long-run demand: the
/// fraction of that window below the current threshold. Only when demand has drifted from the budget by more than
/// <see cref="Deadband"/> does it move the threshold, to the budget quantile of the window (a little under: <see cref="Aim"/>) — the threshold at which the
/// device's own recent history would have offloaded exactly its budget. A hard stretch (a burst of arithmetic) is a
/// small part of the window, so it barely moves the threshold: its tokens are offloaded while the account allows.
///
/// Why a quantile of committed history, and not an integrator on a moving average: an integrator that steps the
/// threshold while a slow average lags behind winds up. On the held-out suite it pushed the threshold to 0.92 (a 15 %
/// ratio) before the average caught up, the account ran dry in the middle of arithmetic bursts and 22 uncertain tokens
/// were refused: 85.8 % accuracy at 9.3 %, against 90.2 % at 9.9 % for a fixed threshold of 0.75.
///
/// A fresh device starts at the calibration's threshold (<see cref="OffloadCalibration.ThresholdFor"/>) and switches to
/// its own history after <see cref="WarmUpTokens"/>. The threshold stays between the calibrated thresholds for budget / 4
/// and budget × 4, and never rises past the calibration's saturation point (above it the draft was never wrong).
/// </summary>
public sealed class ThresholdController
{
    /// <summary>Committed tokens the controller remembers (the "long run" of the budget).</summary>
    public const int HorizonTokens = 2048;
    /// <summary>Committed tokens between two checks.</summary>
    public const int AdjustEvery = 64;
    /// <summary>Committed tokens before the device's own history replaces the calibration's threshold.</summary>
    public const int WarmUpTokens = 512;
    /// <summary>Relative drift of demand from the budget that the controller tolerates without acting.</summary>
    public const double Deadband = 0.05;

    /// <summary>
    /// A fresh device starts at the calibrated threshold of budget × this. The calibration is teacher-forced, and in closed
    /// loop fewer tokens fall below a threshold (after a correction the draft is back on the LLM's track): on the 450
    /// held-out examples, thresholds 0.75, 0.8 and 0.9 offloaded 9.9, 10.5 and 11.7 % where the calibration expects
    /// about 10.6, 11.3 and 12.8 %.
    /// </summary>
    public const double ClosedLoopCorrection = 1.1;

    /// <summary>
    /// The controller sets the threshold for budget × this: aiming a little under the budget lets the account save a
    /// margin for bursts. Aiming at the budget itself leaves the credit random-walking around zero, and refusals land in
    /// the middle of arithmetic answers (held-out suite at budget 0.1: 86.9 % aiming at 1, 87.6 % at 0.95, 85.8 % at 0.9).
    /// </summary>
    public const double Aim = 0.97;

    private readonly OffloadCalibration? calibration;
    private readonly ConfidenceMetric metric;
    private readonly float[] window = new float[HorizonTokens];
    private int numInWindow, next;
    private long numObserved;
    private double budget;

    /// <param name="restoredScores">The device's committed scores as its device grain kept them (oldest first).</param>
    /// <param name="restoredThreshold">The threshold the device last used (NaN or ≤ 0: none).</param>
    public ThresholdController(OffloadCalibration? calibration, ConfidenceMetric metric, double budget,
        IReadOnlyList<float>? restoredScores = null, long restoredObserved = 0, double restoredThreshold = double.NaN)
    {
        this.calibration = calibration;
        this.metric = metric;
        this.budget = budget;
        numObserved = restoredObserved;
        if (restoredScores is not null) foreach (var x in restoredScores.TakeLast(HorizonTokens)) Remember(x);
        Threshold = double.IsFinite(restoredThreshold) && restoredThreshold > 0 && numInWindow > 0 ? Clamp(restoredThreshold) : Initial();
        Demand = numInWindow > 0 ? DemandAt(Threshold) : budget;
    }

    /// <summary>The budget the controller steers demand to. A new budget (load scaling) moves the threshold at once.</summary>
    public double Budget
    {
        get => budget;
        set
        {
            if (value == budget) return;
            budget = value;
            Threshold = numInWindow >= WarmUpTokens ? Quantile() : Initial();
        }
    }

    public double Threshold { get => threshold; private set { threshold = value; urgent = null; } }
    private double threshold;

    /// <summary>The threshold for half the budget: when the account is nearly empty, its last credits go to tokens below it.</summary>
    public double UrgentThreshold => urgent ??= ComputeUrgent();
    private double? urgent;

    private double ComputeUrgent()
    {
        if (budget <= 0) return 0;
        if (budget >= 1) return double.PositiveInfinity;
        if (numInWindow >= WarmUpTokens || calibration is null) return Math.Min(Threshold, QuantileAt(budget * Aim / 2));
        return Math.Min(Threshold, calibration.ThresholdFor(metric, budget / 2) ?? Threshold);
    }

    /// <summary>Fraction of the remembered committed tokens below the threshold, as of the last check.</summary>
    public double Demand { get; private set; }

    public bool IsCalibrated => calibration?.ThresholdFor(metric, 0.1) is not null;

    /// <summary>The remembered committed scores, oldest first.</summary>
    public float[] RecentScores()
    {
        var result = new float[numInWindow];
        for (int i = 0; i < numInWindow; i++) result[i] = window[(next - numInWindow + i + HorizonTokens) % HorizonTokens];
        return result;
    }

    /// <summary>Whether a drafted token's score is below the threshold.</summary>
    public bool IsBelow(float score) => score < Threshold;

    /// <summary>Takes one committed token's score (the score its draft had). The budget is a fraction of committed tokens:
    /// drafts that a rollback drops (often uncertain, drafted on a wrong token) never reach the history.</summary>
    public void Count(float score)
    {
        Remember(score);
        if (++numObserved % AdjustEvery != 0) return;
        Demand = DemandAt(Threshold);
        if (numInWindow < WarmUpTokens)
        {
            if (calibration is null) Threshold = Quantile();   // uncalibrated: the device's own history is all there is
            return;
        }
        if (budget > 0 && budget < 1 && Math.Abs(Demand - budget * Aim) > budget * Deadband) Threshold = Quantile();
    }

    private double DemandAt(double threshold)
    {
        if (numInWindow == 0) return 0;
        int below = 0;
        for (int i = 0; i < numInWindow; i++) if (window[i] < threshold) below++;
        return (double)below / numInWindow;
    }

    /// <summary>The threshold for the budget before the device has a history of its own.</summary>
    private double Initial()
    {
        if (budget <= 0) return 0;
        if (budget >= 1) return double.PositiveInfinity;
        if (calibration?.ThresholdFor(metric, Math.Min(budget * ClosedLoopCorrection, UpperRatio())) is double t) return t;
        return numInWindow > 0 ? Quantile() : 0.5;
    }

    /// <summary>The budget quantile of the window: halfway between the k-th and (k+1)-th smallest score, k = budget × n,
    /// so that exactly k remembered tokens fall below it.</summary>
    private double Quantile() => QuantileAt(budget * Aim);

    private double QuantileAt(double ratio)
    {
        if (budget <= 0) return 0;
        if (budget >= 1) return double.PositiveInfinity;
        if (numInWindow == 0) return Initial();
        var sorted = window.AsSpan(0, numInWindow).ToArray();
        Array.Sort(sorted);
        int k = (int)(ratio * numInWindow);
        double t = k <= 0 ? sorted[0] : k >= numInWindow ? sorted[^1] + 1e-6 : (sorted[k - 1] + sorted[k]) / 2.0;
        return Clamp(t);
    }

    /// <summary>The highest ratio the threshold may be set for: 4 × budget, and not past the calibration's saturation
    /// point unless the budget itself is there (a confident token is never offloaded just to spend budget).</summary>
    private double UpperRatio()
    {
        var upper = Math.Min(1, budget * 4);
        if (calibration?.SaturationRatio(metric) is double saturation) upper = Math.Min(upper, Math.Max(budget, saturation));
        return upper;
    }

    private double Clamp(double threshold)
    {
        if (calibration?.ThresholdFor(metric, budget / 4) is not double low || calibration.ThresholdFor(metric, UpperRatio()) is not double high)
            return threshold;
        return Math.Clamp(threshold, low, Math.Max(low, high));
    }

    private void Remember(float score)
    {
        window[next] = score;
        next = (next + 1) % HorizonTokens;
        numInWindow = Math.Min(numInWindow + 1, HorizonTokens);
    }
}

using Synera.Abstractions.Messages;

namespace Synera.DeviceClient.Offloading;

/// <summary>
/// Synera's selective offloading (DESIGN §1.1). A drafted token is offloaded when its score — confidence divided by
/// importance — is below the calibrated threshold and the device's long-run account allows one more offload. Nothing
/// else: a token above the threshold is never sent just to spend budget, and consecutive uncertain tokens are all sent
/// while the account has credit. The threshold moves only through the slow <see cref="ThresholdController"/>; the budget
/// is enforced by the <see cref="OffloadAccount"/>, a cap over thousands of tokens. Budget 1 → every token, 0 → none.
/// </summary>
public sealed class OffloadPolicy : IOffloadPolicy
{
    private readonly IConfidenceMetric metric;
    private readonly ThresholdController controller;
    private readonly LinkedList<float> uncommittedScores = new();   // per drafted, not yet committed token: its score
    private readonly List<float> committedSinceReport = [];

    /// <param name="calibration">The pair's calibration (null: thresholds from the device's own recent scores).</param>
    /// <param name="restored">The device's account as its device grain kept it (null: a fresh device).</param>
    public OffloadPolicy(ConfidenceMetric metric, double budget, OffloadCalibration? calibration = null, DeviceAccount? restored = null)
    {
        Metric = metric;
        this.metric = ConfidenceMetrics.Create(metric);
        Account = new OffloadAccount(budget, restored);
        controller = new ThresholdController(calibration, metric, budget, restored?.RecentConfidences, restored?.NumGenerated ?? 0,
            restored?.Threshold ?? double.NaN);
    }

    /// <summary>
    /// Below this much credit the account's last offloads go only to the most uncertain tokens (below the controller's
    /// <see cref="ThresholdController.UrgentThreshold"/>, the threshold for half the budget): those are the likeliest
    /// errors, and a burst that finds the account empty loses its answer (held-out suite at budget 0.1: 88.2 % with a
    /// reserve of 6, 87.6 % without).
    /// </summary>
    public const double Reserve = 6;

    public ConfidenceMetric Metric { get; }
    public OffloadAccount Account { get; }
    public ThresholdController Controller => controller;

    public double Budget
    {
        get => Account.Budget;
        set { Account.Budget = value; controller.Budget = value; }
    }

    public double Threshold => FixedThreshold ?? controller.Threshold;

    /// <summary>A fixed threshold with no budget (the benchmark's threshold sweep): every token below it is offloaded.</summary>
    public double? FixedThreshold { get; init; }

    public OffloadDecision Decide(ReadOnlySpan<float> probabilities, float importance)
    {
        var confidence = metric.Confidence(probabilities);
        var score = confidence / Math.Max(1f, importance);
        bool uncertain = controller.IsBelow(score);
        uncommittedScores.AddLast(score);
        bool offload = FixedThreshold is double fixedThreshold ? score < fixedThreshold
            : Budget >= 1 || (uncertain && Account.CanOffload && (Account.Credit >= Reserve || score < controller.UrgentThreshold));
        if (offload) Account.OnOffloaded();
        return new OffloadDecision(offload, confidence, importance, OverBudget: uncertain && !offload && FixedThreshold is null);
    }

    public void OnAnswerStart() => uncommittedScores.Clear();

    /// <summary>The scores of the tokens committed since the last call (for the device grain's copy of the history).</summary>
    public float[] TakeCommittedScores()
    {
        var result = committedSinceReport.ToArray();
        committedSinceReport.Clear();
        return result;
    }

    public void OnCommitted(int numTokens)
    {
        Account.OnCommitted(numTokens);
        for (int i = 0; i < numTokens; i++)
        {
            // A token the device did not draft (an LLM correction) takes the place of the rejected draft, so the
            // queue holds one entry per position; if it runs dry the token was not judged by this policy.
            if (uncommittedScores.First is null) break;
            controller.Count(uncommittedScores.First.Value);
            committedSinceReport.Add(uncommittedScores.First.Value);
            uncommittedScores.RemoveFirst();
        }
    }

    public void Refund(int numOffloads) => Account.Refund(numOffloads);

    /// <summary>Drafts dropped by a rollback were never committed (so they earned nothing); their offloads are returned,
    /// because the verifier drops spans built on a rejected token without running them (the cloud refunds them too).</summary>
    public void OnDiscarded(int numDiscarded, int numDiscardedOffloaded)
    {
        Account.Refund(numDiscardedOffloaded);
        for (int i = 0; i < numDiscarded && uncommittedScores.Last is not null; i++) uncommittedScores.RemoveLast();
    }
}

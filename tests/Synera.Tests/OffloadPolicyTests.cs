using Synera.Abstractions.Messages;
using Synera.DeviceClient.Offloading;

namespace Synera.Tests;

/// <summary>The offloading policy on its own: calibrated threshold, the budget as a long-run cap, the slow controller.</summary>
public class OffloadPolicyTests
{
    private static readonly OffloadCalibration Shipped = OffloadCalibration.Load(Path.Combine(TestModels.ShippedDraft, OffloadCalibration.FileName));

    /// <summary>A distribution whose top probability is <paramref name="top"/> (the rest spread evenly).</summary>
    private static float[] Distribution(float top, int vocab = 40)
    {
        var p = new float[vocab];
        Array.Fill(p, (1 - top) / (vocab - 1));
        p[3] = top;
        return p;
    }

    /// <summary>Drafts one token and commits it, as the generation loop does when nothing is pending.</summary>
    private static bool Step(IOffloadPolicy policy, float top)
    {
        var offload = policy.Decide(Distribution(top), 1f).Offload;
        policy.OnCommitted(1);
        return offload;
    }

    [Fact]
    public void BurstOfThreeUncertainTokensAfterHundredConfidentOnesIsOffloadedWhole()
    {
        var policy = new OffloadPolicy(ConfidenceMetric.TopProbability, 0.1, Shipped);
        for (int i = 0; i < 100; i++) Assert.False(Step(policy, 0.99f), $"confident token {i} was offloaded");
        // An arithmetic answer's uncertain digits come back to back; the account has saved 10 tokens of budget.
        var burst = new[] { policy.Decide(Distribution(0.3f), 1f).Offload, policy.Decide(Distribution(0.25f), 1f).Offload, policy.Decide(Distribution(0.35f), 1f).Offload };
        Assert.All(burst, Assert.True);

        // The per-token ration this policy replaced (route's baseline) loses the burst: its credit is capped at two tokens.
        var rationed = new RationedRoutingPolicy(ConfidenceMetric.TopProbability, 0.1);
        for (int i = 0; i < 100; i++) Step(rationed, 0.99f);
        var rationedBurst = Enumerable.Range(0, 3).Count(_ => rationed.Decide(Distribution(0.3f), 1f).Offload);
        Assert.True(rationedBurst < 3, "the rationed baseline offloaded the whole burst too: the test cannot tell them apart");
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.1)]
    [InlineData(0.2)]
    public void LongRunRatioOver2000TokensStaysWithinBudgetPlusOnePoint(double budget)
    {
        // Hard stretches (a third of tokens uncertain, in bursts) between easy ones: demand well above the budget.
        var random = new Random(5);
        var policy = new OffloadPolicy(ConfidenceMetric.TopProbability, budget, Shipped);
        int offloaded = 0;
        for (int i = 0; i < 2000; i++)
        {
            bool hard = (i / 40) % 2 == 1 && random.NextDouble() < 0.66;
            if (Step(policy, hard ? 0.2f + 0.3f * random.NextSingle() : 0.995f)) offloaded++;
        }
        Assert.InRange((double)offloaded / 2000, budget * 0.5, budget + 0.01);
        Assert.Equal(offloaded, policy.Account.NumOffloaded);
    }

    [Fact]
    public void ConfidentTokensAreNeverOffloadedToSpendTheBudget()
    {
        var policy = new OffloadPolicy(ConfidenceMetric.TopProbability, 0.2, Shipped);
        for (int i = 0; i < 3000; i++) Assert.False(Step(policy, 0.999f), $"token {i} above the threshold was offloaded");
        Assert.True(policy.Account.Credit >= 0.2 * OffloadAccount.HorizonTokens - 1, "unspent budget is saved up to the horizon");
    }

    [Fact]
    public void ExhaustedBudgetKeepsTheSlmsTokensAndRecoversAsTokensAreCommitted()
    {
        var policy = new OffloadPolicy(ConfidenceMetric.TopProbability, 0.1, Shipped);
        // Very uncertain tokens (below the urgent threshold, so the reserve does not hold them back).
        int first = Enumerable.Range(0, 30).Count(_ => Step(policy, 0.05f));
        // A fresh device has its initial allowance plus what 30 tokens earned (3), no more.
        Assert.InRange(first, (int)DeviceAccount.InitialAllowance, (int)DeviceAccount.InitialAllowance + 3);
        for (int i = 0; i < 100; i++) Step(policy, 0.999f);
        Assert.True(Step(policy, 0.05f), "100 committed tokens earned 10 offloads");
    }

    [Fact]
    public void ControllerMovesTheThresholdOnlyWhenLongRunDemandDriftsFromTheBudget()
    {
        var calibrated = Shipped.ThresholdFor(ConfidenceMetric.TopProbability, 0.1 * ThresholdController.ClosedLoopCorrection)!.Value;
        var steady = new ThresholdController(Shipped, ConfidenceMetric.TopProbability, 0.1);
        Assert.Equal(calibrated, steady.Threshold, 6);
        // Demand at the budget (10 % of committed tokens below the threshold): the threshold stays where calibration put it.
        for (int i = 0; i < 5000; i++) steady.Count(i % 10 == 0 ? 0.05f : 0.999f);
        Assert.Equal(calibrated, steady.Threshold, 6);
        Assert.Equal(0.1, steady.Demand, 2);

        // Demand at 40 %: a short burst moves nothing, a long stretch lowers the threshold, within the calibrated range.
        var drifting = new ThresholdController(Shipped, ConfidenceMetric.TopProbability, 0.1);
        for (int i = 0; i < 200; i++) drifting.Count(i % 10 < 4 ? 0.05f : 0.999f);
        Assert.Equal(calibrated, drifting.Threshold, 6);
        for (int i = 0; i < 4000; i++) drifting.Count(i % 10 < 4 ? 0.05f : 0.999f);
        Assert.True(drifting.Threshold < calibrated, $"threshold {drifting.Threshold} did not come down from {calibrated}");
        Assert.True(drifting.Threshold >= Shipped.ThresholdFor(ConfidenceMetric.TopProbability, 0.1 / 4)!.Value - 1e-9,
            "the threshold stays at or above the calibrated one for a quarter of the budget");
    }

    [Fact]
    public void ControllerSettlesOnTheBudgetQuantileOfItsOwnHistoryWithoutOvershooting()
    {
        // Scores spread evenly over (0, 1): the threshold that puts 9.7 % (budget × aim) of them below is ≈ 0.097. A
        // fresh controller starts at the calibration's threshold (0.74), far off for this device; it must come to the
        // quantile and stay, not wind past it.
        var random = new Random(3);
        var controller = new ThresholdController(null, ConfidenceMetric.TopProbability, 0.1);
        var seen = new List<double>();
        for (int i = 0; i < 6000; i++)
        {
            controller.Count(random.NextSingle());
            if (i >= 1000 && i % 64 == 0) seen.Add(controller.Threshold);
        }
        Assert.All(seen, t => Assert.InRange(t, 0.1 * ThresholdController.Aim - 0.02, 0.1 * ThresholdController.Aim + 0.02));
        Assert.InRange(controller.Demand, 0.1 * (ThresholdController.Aim - ThresholdController.Deadband) - 0.01, 0.1 * (ThresholdController.Aim + ThresholdController.Deadband) + 0.01);
    }

    [Fact]
    public void NearlyEmptyAccountSpendsItsLastCreditsOnTheMostUncertainTokens()
    {
        var policy = new OffloadPolicy(ConfidenceMetric.TopProbability, 0.1, Shipped);
        var urgent = policy.Controller.UrgentThreshold;
        Assert.True(urgent < policy.Threshold, $"urgent threshold {urgent} is not below the threshold {policy.Threshold}");
        var mild = (float)(urgent + policy.Threshold) / 2;   // uncertain, but not among the most uncertain
        // Spend the allowance down to just under the reserve on very uncertain tokens.
        while (policy.Account.Credit >= OffloadPolicy.Reserve) Assert.True(policy.Decide(Distribution(0.05f), 1f).Offload);
        Assert.False(policy.Decide(Distribution(mild), 1f).Offload, "a mildly uncertain token spent the reserve");
        Assert.True(policy.Decide(Distribution(0.05f), 1f).Offload, "a very uncertain token was refused while credit remained");
    }

    [Fact]
    public void CalibrationMapsBudgetsToIncreasingThresholdsAndRejectsMalformedFiles()
    {
        var thresholds = new[] { 0.02, 0.05, 0.1, 0.2, 0.4 }.Select(b => Shipped.ThresholdFor(ConfidenceMetric.TopProbability, b)!.Value).ToArray();
        Assert.Equal(thresholds.Order(), thresholds);
        Assert.True(Shipped.Tokens > 10_000, "the shipped calibration covers enough tokens");
        var curve = Shipped.Curves[OffloadCalibration.Key(ConfidenceMetric.TopProbability)];
        var at10 = curve.MinBy(p => Math.Abs(p.OffloadRatio - 0.1))!;
        Assert.True(at10.Recall > 0.9, $"at 10 % offload the shipped pair catches {at10.Recall:P0} of disagreements");

        var bad = Path.Combine(Path.GetTempPath(), $"offload-{Guid.NewGuid():N}.json");
        File.WriteAllText(bad, "{\"curves\": {}}");
        var e = Assert.Throws<InvalidDataException>(() => OffloadCalibration.Load(bad));
        Assert.Contains(bad, e.Message);
        Assert.Throws<FileNotFoundException>(() => OffloadCalibration.Load(bad + ".missing"));
    }

    [Fact]
    public void CalibrationFromSamplesCountsRatioAgreementAndRecall()
    {
        // 10 tokens: confidences 0.05 … 0.95; the two least confident are the disagreements.
        var conf = Enumerable.Range(0, 10).Select(i => 0.05f + 0.1f * i).ToArray();
        var agrees = conf.Select((_, i) => i >= 2).ToArray();
        var c = OffloadCalibration.FromSamples("d", "t", 1, 0, new Dictionary<ConfidenceMetric, float[]> { [ConfidenceMetric.TopProbability] = conf }, agrees);
        Assert.Equal(0.2, c.Disagreement, 6);
        var p20 = c.Curves["top_probability"].First(p => Math.Abs(p.OffloadRatio - 0.2) < 1e-9);
        Assert.Equal(1.0, p20.Agreement, 6);
        Assert.Equal(1.0, p20.Recall, 6);
        Assert.InRange(p20.Threshold, 0.15, 0.25);
        var p10 = c.Curves["top_probability"].First(p => Math.Abs(p.OffloadRatio - 0.1) < 1e-9);
        Assert.Equal(0.9, p10.Agreement, 6);
        Assert.Equal(0.5, p10.Recall, 6);
    }

    [Fact]
    public void RestoredAccountContinuesRatherThanStartingOver()
    {
        var history = Enumerable.Range(0, 2000).Select(i => i % 10 == 0 ? 0.05f : 0.999f).ToArray();
        var restored = new DeviceAccount("d", 0.1, NumGenerated: 5000, NumOffloaded: 500, Credit: 0.5, TargetRatio: 0.1, Demand: 0.1, Threshold: 0.7, history, 500);
        var policy = new OffloadPolicy(ConfidenceMetric.TopProbability, 0.1, Shipped, restored);
        Assert.Equal(5000, policy.Account.NumGenerated);
        Assert.Equal(0.7, policy.Threshold, 6);                          // the threshold it had, not the calibration's
        Assert.Equal(history, policy.Controller.RecentScores());         // and the history it is computed from
        Assert.False(policy.Decide(Distribution(0.05f), 1f).Offload);   // half a credit: no fresh allowance after a restart
    }
}

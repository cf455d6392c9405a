namespace Synera.DeviceClient.Offloading;

/// <summary>The policy's verdict on one drafted token.</summary>
/// <param name="Offload">Send it for verification.</param>
/// <param name="Confidence">The draft's confidence (metric-dependent, in [0, 1]).</param>
/// <param name="Importance">The token's importance weight (≥ 1).</param>
/// <param name="OverBudget">Below the threshold, but the long-run account had no credit: the SLM's token stands.</param>
public readonly record struct OffloadDecision(bool Offload, float Confidence, float Importance, bool OverBudget = false);

/// <summary>
/// Decides which drafted tokens the device offloads. Called by the generation loop: <see cref="Decide"/> once per drafted
/// token, <see cref="OnCommitted"/> as tokens reach the output, <see cref="Refund"/> for flagged tokens that were not
/// sent or that the cloud refused, <see cref="OnDiscarded"/> when a rollback drops drafts.
/// </summary>
public interface IOffloadPolicy
{
    ConfidenceMetric Metric { get; }

    /// <summary>Target offload ratio in [0, 1] (after load scaling).</summary>
    double Budget { get; set; }

    /// <summary>The confidence threshold in use.</summary>
    double Threshold { get; }

    OffloadDecision Decide(ReadOnlySpan<float> probabilities, float importance);

    void OnCommitted(int numTokens);

    void Refund(int numOffloads);

    void OnDiscarded(int numDiscarded, int numDiscardedOffloaded);

    /// <summary>A new answer starts: drafts of the last one that were never committed are forgotten.</summary>
    void OnAnswerStart() { }
}

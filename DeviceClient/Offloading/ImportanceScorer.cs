namespace Synera.DeviceClient.Offloading;

/// <summary>
/// Rule-based token importance: how much an error at this token costs. Digits decide arithmetic answers,
/// the first answer token sets the answer's course, and a token drafted right after an entropy spike sits
/// where the SLM is lost. Weights are ≥ 1; the policy divides confidence by importance, so important
/// tokens are offloaded at higher confidence. The benchmark reports accuracy with and without it.
/// </summary>
public sealed class ImportanceScorer(bool enabled = true)
{
    public const float DigitWeight = 2.0f;
    public const float FirstTokenWeight = 2.0f;
    public const float AfterSpikeWeight = 1.5f;

    public float Score(string tokenText, int indexInAnswer, bool previousWasUncertain)
    {
        if (!enabled) return 1f;
        float w = 1f;
        if (tokenText.Length > 0 && tokenText.Any(char.IsDigit)) w = Math.Max(w, DigitWeight);
        if (indexInAnswer == 0) w = Math.Max(w, FirstTokenWeight);
        if (previousWasUncertain) w = Math.Max(w, AfterSpikeWeight);
        return w;
    }
}

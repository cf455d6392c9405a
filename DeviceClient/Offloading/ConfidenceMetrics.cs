namespace Synera.DeviceClient.Offloading;

/// <summary>How the device measures its confidence in a drafted token (a policy option).</summary>
public enum ConfidenceMetric
{
    /// <summary>Probability of the top token.</summary>
    TopProbability,
    /// <summary>Top-1 minus top-2 probability.</summary>
    Margin,
    /// <summary>1 − entropy / ln(vocabulary): 1 for a one-hot distribution, 0 for a uniform one.</summary>
    Entropy,
}

/// <summary>Maps the draft's next-token distribution to a confidence in [0, 1].</summary>
public interface IConfidenceMetric
{
    float Confidence(ReadOnlySpan<float> probabilities);
}

public sealed class TopProbabilityConfidence : IConfidenceMetric
{
    public float Confidence(ReadOnlySpan<float> p)
    {
        float best = 0;
        foreach (var x in p) best = Math.Max(best, x);
        return best;
    }
}

public sealed class MarginConfidence : IConfidenceMetric
{
    public float Confidence(ReadOnlySpan<float> p)
    {
        float first = 0, second = 0;
        foreach (var x in p)
        {
            if (x > first) { second = first; first = x; }
            else if (x > second) second = x;
        }
        return first - second;
    }
}

public sealed class EntropyConfidence : IConfidenceMetric
{
    public float Confidence(ReadOnlySpan<float> p)
    {
        double h = 0;
        foreach (var x in p) if (x > 0) h -= x * Math.Log(x);
        return (float)Math.Clamp(1 - h / Math.Log(p.Length), 0, 1);
    }
}

public static class ConfidenceMetrics
{
    public static IConfidenceMetric Create(ConfidenceMetric metric) => metric switch
    {
        ConfidenceMetric.TopProbability => new TopProbabilityConfidence(),
        ConfidenceMetric.Margin => new MarginConfidence(),
        ConfidenceMetric.Entropy => new EntropyConfidence(),
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "unknown confidence metric"),
    };
}

namespace Synera.DeviceClient.Drafting;

/// <summary>Turns logits into probabilities and picks the draft token: greedy, or seeded temperature/top-p sampling.</summary>
public sealed class TokenSampler(float temperature, float topP, int seed)
{
    private readonly Random random = new(seed);
    private float[] probabilities = [];
    private int[] order = [];

    /// <summary>Softmax of <paramref name="logits"/> at the sampling temperature (1 when greedy), into a reused buffer.</summary>
    public ReadOnlySpan<float> Probabilities(ReadOnlySpan<float> logits)
    {
        if (probabilities.Length != logits.Length) { probabilities = new float[logits.Length]; order = new int[logits.Length]; }
        var t = temperature > 0 ? temperature : 1f;
        float max = float.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += probabilities[i] = MathF.Exp((logits[i] - max) / t);
        for (int i = 0; i < logits.Length; i++) probabilities[i] = (float)(probabilities[i] / sum);
        return probabilities;
    }

    /// <summary>Picks a token from the distribution last computed by <see cref="Probabilities"/>.</summary>
    public int Pick()
    {
        if (temperature <= 0) return ArgMax(probabilities);
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (a, b) => probabilities[b].CompareTo(probabilities[a]));
        double mass = 0;
        int cut = 0;
        while (cut < order.Length && mass < topP) mass += probabilities[order[cut++]];
        var r = random.NextDouble() * mass;
        for (int i = 0; i < cut; i++)
        {
            r -= probabilities[order[i]];
            if (r <= 0) return order[i];
        }
        return order[cut - 1];
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}

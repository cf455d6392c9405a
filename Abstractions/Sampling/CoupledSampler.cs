namespace Synera.Abstractions.Sampling;

/// <summary>
/// Gumbel-max sampling with noise that the device and the cloud share. The noise of token v at position t is a fixed
/// function of (session seed, t, v), so both ends can draw it without talking. A draw is
/// <c>argmax over the kept tokens of logit/T + g(seed, t, v)</c>, which is an exact sample of softmax(logit/T) restricted
/// to the kept tokens (the Gumbel-max trick). The device draws from its SLM, the cloud from its LLM with the same noise:
/// when the two distributions agree the draws mostly agree, and the cloud's draw is always an exact LLM sample, whatever
/// the device drew. Top-k and top-p filter each side's own distribution before the draw, as the LLM alone would.
/// </summary>
public static class CoupledSampler
{
    /// <summary>Draws position <paramref name="position"/>'s token from <paramref name="logits"/>.</summary>
    public static int Sample(ReadOnlySpan<float> logits, SamplingSettings settings, long position)
    {
        if (settings.IsGreedy) return ArgMax(logits);
        var kept = Kept(logits, settings);
        int best = -1;
        double bestValue = double.NegativeInfinity;
        foreach (var v in kept)
        {
            var value = logits[v] / settings.Temperature + Gumbel(settings.Seed, position, v);
            if (value > bestValue) { bestValue = value; best = v; }
        }
        return best;
    }

    /// <summary>The tokens that survive top-k and top-p, most likely first (ties by id, so both ends agree).</summary>
    public static int[] Kept(ReadOnlySpan<float> logits, SamplingSettings settings)
    {
        var order = new int[logits.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var copy = logits.ToArray();
        Array.Sort(order, (a, b) => copy[b] != copy[a] ? copy[b].CompareTo(copy[a]) : a.CompareTo(b));
        int n = settings.TopK > 0 ? Math.Min(settings.TopK, order.Length) : order.Length;
        if (settings.TopP < 1)
        {
            var p = Softmax(copy, settings.Temperature);
            double mass = 0;
            int cut = 0;
            while (cut < n && mass < settings.TopP) mass += p[order[cut++]];
            n = Math.Max(1, cut);
        }
        return order[..n];
    }

    /// <summary>The exact distribution <see cref="Sample"/> draws from: softmax at the temperature over the kept tokens.</summary>
    public static double[] Distribution(ReadOnlySpan<float> logits, SamplingSettings settings)
    {
        var full = Softmax(logits.ToArray(), settings.IsGreedy ? 1 : settings.Temperature);
        var result = new double[logits.Length];
        if (settings.IsGreedy) { result[ArgMax(logits)] = 1; return result; }
        var kept = Kept(logits, settings);
        double sum = 0;
        foreach (var v in kept) sum += full[v];
        foreach (var v in kept) result[v] = full[v] / sum;
        return result;
    }

    /// <summary>Standard Gumbel noise, a pure function of (seed, position, token).</summary>
    public static double Gumbel(int seed, long position, int token)
    {
        ulong h = SplitMix((ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ SplitMix((ulong)position * 0xBF58476D1CE4E5B9UL ^ SplitMix((ulong)(uint)token)));
        // 53 random bits → u in (0, 1), never 0 or 1.
        double u = ((h >> 11) + 0.5) / (1UL << 53);
        return -Math.Log(-Math.Log(u));
    }

    private static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private static double[] Softmax(float[] logits, float temperature)
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp((logits[i] - max) / temperature);
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}

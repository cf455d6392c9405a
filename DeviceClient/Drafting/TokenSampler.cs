using Synera.Abstractions.Sampling;

namespace Synera.DeviceClient.Drafting;

/// <summary>
/// Turns logits into probabilities and picks the draft token: greedy, or sampled with the session's shared noise
/// (<see cref="CoupledSampler"/>: temperature, top-k and top-p, Gumbel noise keyed by the session seed and the position),
/// so that the cloud can draw the same position with the same noise and keep its own draw.
/// </summary>
public sealed class TokenSampler(SamplingSettings settings)
{
    private float[] probabilities = [];
    private float[] logits = [];

    public SamplingSettings Settings { get; } = settings;

    /// <summary>Softmax of <paramref name="logits"/> at the sampling temperature (1 when greedy), into a reused buffer.</summary>
    public ReadOnlySpan<float> Probabilities(ReadOnlySpan<float> logits)
    {
        if (probabilities.Length != logits.Length) { probabilities = new float[logits.Length]; this.logits = new float[logits.Length]; }
        logits.CopyTo(this.logits);
        var t = Settings.Temperature > 0 ? Settings.Temperature : 1f;
        float max = float.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += probabilities[i] = MathF.Exp((logits[i] - max) / t);
        for (int i = 0; i < logits.Length; i++) probabilities[i] = (float)(probabilities[i] / sum);
        return probabilities;
    }

    /// <summary>Picks the token at absolute <paramref name="position"/> from the logits last given to <see cref="Probabilities"/>.</summary>
    public int Pick(long position) => Settings.IsGreedy ? ArgMax(probabilities) : CoupledSampler.Sample(logits, Settings, position);

    public static int ArgMax(ReadOnlySpan<float> values) => CoupledSampler.ArgMax(values);
}

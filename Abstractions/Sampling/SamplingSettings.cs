namespace Synera.Abstractions.Sampling;

/// <summary>How sampled drafts are verified (temperature &gt; 0; greedy verification needs no rule).</summary>
public enum SamplingRule
{
    /// <summary>
    /// Coupled sampling (the default, exact): device and cloud draw position t's token with the same Gumbel noise, seeded
    /// by the session and t (<see cref="CoupledSampler"/>). The cloud keeps its own draw, so every committed token is an
    /// exact sample of the LLM's (filtered) distribution; a draft stands when it equals that draw. The device sends no
    /// probabilities at all.
    /// </summary>
    Coupled,

    /// <summary>
    /// The speculative-sampling rule with only q(x), the draft's probability of its own token, on the wire: accept with
    /// min(1, p/q), else sample p with x removed. Exact only for a drafter with q(x) = 1. Kept to measure it against.
    /// </summary>
    DraftProbability,
}

/// <summary>The sampling a session asked for, as both ends apply it.</summary>
/// <param name="Temperature">0: greedy.</param>
/// <param name="TopP">Nucleus filter: keep the most likely tokens up to this much mass (1: off).</param>
/// <param name="TopK">Keep only the K most likely tokens (0: off).</param>
/// <param name="Seed">The session's seed: with the position, it fixes each position's noise.</param>
/// <param name="Rule">How the cloud judges sampled drafts.</param>
[GenerateSerializer, Immutable]
public sealed record SamplingSettings(
    [property: Id(0)] float Temperature = 0,
    [property: Id(1)] float TopP = 1,
    [property: Id(2)] int TopK = 0,
    [property: Id(3)] int Seed = 0,
    [property: Id(4)] SamplingRule Rule = SamplingRule.Coupled)
{
    public static readonly SamplingSettings Greedy = new();

    public bool IsGreedy => Temperature <= 0;

    /// <summary>Null when valid, else why not.</summary>
    public string? Problem() =>
        !(Temperature >= 0) || float.IsInfinity(Temperature) ? $"temperature {Temperature} must be a finite number ≥ 0"
        : !(TopP > 0 && TopP <= 1) ? $"top_p {TopP} must be in (0, 1]"
        : TopK < 0 ? $"top_k {TopK} must be ≥ 0"
        : !Enum.IsDefined(Rule) ? $"unknown sampling rule {(int)Rule}"
        : null;
}

namespace Synera.Abstractions.Messages;

/// <summary>The session grain's answer to a progress report: the budget to aim for now.</summary>
/// <param name="EffectiveFraction">The session budget scaled by <paramref name="LoadFactor"/>.</param>
/// <param name="LoadFactor">The load factor applied to this session: the verifier's, weighted by the session's tier.</param>
/// <param name="Threshold">The device's threshold as its device grain last recorded it.</param>
/// <param name="VerifierLoadFactor">The verifier's own load factor, before the tier's weight.</param>
[GenerateSerializer, Immutable]
public sealed record BudgetAdvice(
    [property: Id(0)] double EffectiveFraction,
    [property: Id(1)] double LoadFactor,
    [property: Id(2)] double Threshold,
    [property: Id(3)] double VerifierLoadFactor = 1.0);

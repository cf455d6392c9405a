namespace Synera.Abstractions.Messages;

/// <summary>The session grain's answer to a progress report: the budget to aim for now.</summary>
/// <param name="EffectiveFraction">The session budget scaled by the verifier's load factor.</param>
/// <param name="LoadFactor">The verifier's load factor that was applied.</param>
/// <param name="Threshold">The threshold the session grain would use from the whole history (for a device that reconnects).</param>
[GenerateSerializer, Immutable]
public sealed record BudgetAdvice(
    [property: Id(0)] double EffectiveFraction,
    [property: Id(1)] double LoadFactor,
    [property: Id(2)] double Threshold);

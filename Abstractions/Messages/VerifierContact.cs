namespace Synera.Abstractions.Messages;

/// <summary>What a session grain learns from its verifier when it opens: the served model, the engine's load, and the
/// key of the intake on the verifier's silo (<see cref="IVerifierIntakeGrain"/>) for its spans.</summary>
[GenerateSerializer, Immutable]
public sealed record VerifierContact(
    [property: Id(0)] VerifierModelInfo Model,
    [property: Id(1)] VerifierLoad Load,
    [property: Id(2)] string Intake);

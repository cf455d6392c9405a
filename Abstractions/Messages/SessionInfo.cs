namespace Synera.Abstractions.Messages;

/// <summary>What a device learns when it opens a session.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="VerifierId">The verifier the session is pinned to.</param>
/// <param name="Model">The served model's facts.</param>
/// <param name="Epoch">The session's epoch after opening.</param>
/// <param name="LoadFactor">The verifier's load factor now (1 = no pressure): a load-aware device starts with its budget times this.</param>
/// <param name="Granted">The options the cloud holds the session to: the device record's tier, budget ceiling and byte cap applied to what was asked.</param>
[GenerateSerializer, Immutable]
public sealed record SessionInfo(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string VerifierId,
    [property: Id(2)] VerifierModelInfo Model,
    [property: Id(3)] int Epoch,
    [property: Id(4)] double LoadFactor = 1.0,
    [property: Id(5)] SessionOptions? Granted = null);

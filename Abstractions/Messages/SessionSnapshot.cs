namespace Synera.Abstractions.Messages;

/// <summary>A session's committed state as the cloud sees it.</summary>
[GenerateSerializer, Immutable]
public sealed record SessionSnapshot(
    [property: Id(0)] string SessionId,
    [property: Id(1)] bool IsOpen,
    [property: Id(2)] int[] CommittedTokenIds,
    [property: Id(3)] int Epoch,
    [property: Id(4)] string VerifierId);

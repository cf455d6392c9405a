namespace Synera.Abstractions.Messages;

/// <summary>What a verifier's engine is doing for one session, as the session grain's in-flight watch asks it.</summary>
[GenerateSerializer]
public enum SessionActivity
{
    /// <summary>The engine does not hold the session (restarted, failed over, expired or released it): its queued spans are gone.</summary>
    NotHeld,

    /// <summary>Spans of the session are queued or being judged, or a verdict is on its way to the session grain: they will be answered.</summary>
    Busy,

    /// <summary>Every span the engine took has been answered, and the session grain has acknowledged each verdict.</summary>
    Idle,
}

using Synera.Abstractions.Messages;

namespace Synera.Abstractions;

/// <summary>
/// The Orleans face of one verification engine (one per accelerator). Activates only on silos whose
/// role is verifier (<c>Synera:Role</c>); device sessions are routed to it stickily so that the
/// LLM KV cache of each session stays warm.
/// </summary>
public interface IVerifierGrain : IGrainWithStringKey
{
    /// <summary>Queues a request for the next engine steps. The verdict goes to the session grain.</summary>
    /// <param name="request">The validated request.</param>
    /// <param name="setup">The session's committed tokens and settings,
    /// sent only when the verifier answered <see cref="EnqueueStatus.NeedsHistory"/> (failover, first contact).</param>
    /// <param name="verdictRelay">The key of the <see cref="IVerdictRelayGrain"/> on the session grain's silo, which takes the
    /// session's verdicts batched with others for that silo; null: each verdict is a call to the session grain.</param>
    [ClusterOnly]
    Task<EnqueueStatus> EnqueueAsync(VerifyRequest request, SessionSetup? setup, string? verdictRelay = null);

    /// <summary>Drops the session's KV cache and queued requests.</summary>
    [ClusterOnly]
    Task ReleaseSessionAsync(string sessionId);

    /// <summary>What the engine is doing for the session: <see cref="SessionActivity.NotHeld"/> after a verifier restart,
    /// failover, expiry or release (its queued spans are gone with it), <see cref="SessionActivity.Busy"/> while it still
    /// owes the session verdicts, <see cref="SessionActivity.Idle"/> once every verdict reached the session grain.</summary>
    [ClusterOnly]
    Task<SessionActivity> GetSessionActivityAsync(string sessionId);

    /// <summary>The engine's current load, for load-aware offload control.</summary>
    Task<VerifierLoad> GetLoadAsync();

    /// <summary>The model, the load and the silo's intake, in one call: what a session grain needs when it opens.</summary>
    [ClusterOnly]
    Task<VerifierContact> ContactAsync();

    /// <summary>Facts about the served model (vocabulary, maximum span) that sessions validate against.</summary>
    Task<VerifierModelInfo> GetModelInfoAsync();
}

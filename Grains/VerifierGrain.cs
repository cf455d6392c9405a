using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Placement;
using Synera.Grains.Verification;

namespace Synera.Grains;

/// <summary>
/// The Orleans face of the silo's verification engine, one activation per session (key: the session id). Thin on
/// purpose: the engine (one per accelerator, a silo singleton running on its own thread) does the batching across all
/// the silo's sessions; this grain only hands requests over, so sessions never queue behind each other in a grain.
/// Placed on the least-loaded verifier silo when the session first calls it, and kept there with the session's KV cache.
/// Its <see cref="IVerifierGrain.ContactAsync"/> names the silo's <see cref="VerifierIntakeGrain"/>, through which the
/// session's spans then go batched; it takes them itself from a session grain that has no intake (reactivated, or its
/// intake failed), and frees itself when the session closes. Registered only on verifier silos, so it never activates elsewhere.
/// </summary>
[LeastLoadedVerifierPlacement]
public sealed class VerifierGrain(EngineEntrance entrance, ILocalSiloDetails silo) : Grain, IVerifierGrain
{
    private VerificationEngine Engine => entrance.Engine;

    Task<EnqueueStatus> IVerifierGrain.EnqueueAsync(VerifyRequest request, SessionSetup? setup, string? verdictRelay) =>
        Task.FromResult(entrance.Enqueue(request, setup, verdictRelay));

    Task IVerifierGrain.ReleaseSessionAsync(string sessionId)
    {
        entrance.Release(sessionId);
        // Nothing left here for the session: free the activation now, not after the collection age (the Orleans
        // dashboard showed ~450 idle verifier activations per silo after two minutes of two devices' short answers).
        // A later call for the session (a resync's resend) activates it again, on the least-loaded verifier.
        DeactivateOnIdle();
        return Task.CompletedTask;
    }

    /// <summary>Collected (idle): a session the engine still holds gets its verdicts by direct calls until its next span
    /// names its relay again, so the sink keeps no route for every session this silo ever served.</summary>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        entrance.ForgetRoute(this.GetPrimaryKeyString());
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    Task<SessionActivity> IVerifierGrain.GetSessionActivityAsync(string sessionId) => Task.FromResult(Engine.ActivityOf(sessionId));

    Task<VerifierLoad> IVerifierGrain.GetLoadAsync() => Task.FromResult(Engine.CurrentLoad);

    Task<VerifierContact> IVerifierGrain.ContactAsync() =>
        Task.FromResult(new VerifierContact(Engine.ModelInfo, Engine.CurrentLoad, silo.SiloAddress.ToParsableString()));

    Task<VerifierModelInfo> IVerifierGrain.GetModelInfoAsync() => Task.FromResult(Engine.ModelInfo);
}

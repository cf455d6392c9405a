using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Verification;

namespace Synera.Grains;

/// <summary>
/// The Orleans face of the silo's verification engine. Thin on purpose: the engine (one per accelerator,
/// a silo singleton running on its own thread) does the batching; this grain only hands requests over.
/// Registered only on silos whose role is verifier, so it can never activate elsewhere.
/// </summary>
public sealed class VerifierGrain(VerificationEngine engine) : Grain, IVerifierGrain
{
    Task<EnqueueStatus> IVerifierGrain.EnqueueAsync(VerifyRequest request, SessionSetup? setup) => Task.FromResult(engine.Enqueue(request, setup));

    Task IVerifierGrain.ReleaseSessionAsync(string sessionId)
    {
        engine.Release(sessionId);
        return Task.CompletedTask;
    }

    Task<bool> IVerifierGrain.HoldsSessionAsync(string sessionId) => Task.FromResult(engine.Holds(sessionId));

    Task<VerifierLoad> IVerifierGrain.GetLoadAsync() => Task.FromResult(engine.CurrentLoad);

    Task<VerifierModelInfo> IVerifierGrain.GetModelInfoAsync() => Task.FromResult(engine.ModelInfo);
}

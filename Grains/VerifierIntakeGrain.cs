using Orleans.Concurrency;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Placement;
using Synera.Grains.Verification;

namespace Synera.Grains;

/// <summary>
/// A verifier silo's intake: takes a frontend's batch of spans and hands each to the engine, as each session's
/// <see cref="VerifierGrain"/> would. Stateless and reentrant: batches from several frontends never wait for each other.
/// Why it exists: every span was a remote call of its own to its session's verifier activation, request and response, on
/// both silos (under <c>bench scale</c> ~800 a second, and the verifier silo's share of it competed with its engine).
/// Registered only on verifier silos, and serving only on the one its key names.
/// </summary>
[Reentrant, SiloKeyedPlacement]
public sealed class VerifierIntakeGrain(EngineEntrance entrance, ILocalSiloDetails silo) : Grain, IVerifierIntakeGrain
{
    private bool? onNamedSilo;

    Task<IntakeResult[]> IVerifierIntakeGrain.EnqueueAsync(IntakeRequest[] requests)
    {
        EnsureOnNamedSilo();
        var results = new IntakeResult[requests.Length];
        for (int i = 0; i < requests.Length; i++)
        {
            var (request, setup, relay, traceParent) = requests[i];
            try
            {
                // Each span joins the trace of the call that sent it, not the batch call's.
                var trace = traceParent is not null && System.Diagnostics.ActivityContext.TryParse(traceParent, null, out var context) ? context : default;
                results[i] = new IntakeResult(entrance.Enqueue(request, setup, relay, trace));
            }
            catch (SyneraRequestException e)
            {
                results[i] = new IntakeResult(EnqueueStatus.Stale, e.Message);   // refused on its own; the rest of the batch goes on
            }
        }
        return Task.FromResult(results);
    }

    Task IVerifierIntakeGrain.ReleaseSessionAsync(string sessionId)
    {
        EnsureOnNamedSilo();
        entrance.Release(sessionId);
        return Task.CompletedTask;
    }

    Task<SessionActivity> IVerifierIntakeGrain.GetSessionActivityAsync(string sessionId)
    {
        EnsureOnNamedSilo();
        return Task.FromResult(entrance.Engine.ActivityOf(sessionId));
    }

    /// <summary>The silo the key names left, and placement put this activation on another verifier silo, whose engine does
    /// not hold the sessions: the caller must place them again (its verifier activation), as when a call finds a silo gone.</summary>
    private void EnsureOnNamedSilo()
    {
        onNamedSilo ??= this.GetPrimaryKeyString() == silo.SiloAddress.ToParsableString();
        if (onNamedSilo.Value) return;
        DeactivateOnIdle();
        throw new NoVerifierException($"verifier silo {this.GetPrimaryKeyString()} is no longer in the cluster; its sessions are placed again");
    }
}

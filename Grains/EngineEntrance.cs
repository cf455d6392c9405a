using Synera.Abstractions.Messages;
using Synera.Grains.Verification;

namespace Synera.Grains;

/// <summary>
/// How a verifier silo's grains (each session's <see cref="VerifierGrain"/>, the silo's <see cref="VerifierIntakeGrain"/>)
/// reach its engine: a span is queued with its session's verdicts routed to the relay its session grain named, and a
/// released session's route goes with it. One place for that pairing, whichever grain the span came through.
/// </summary>
public sealed class EngineEntrance(VerificationEngine engine, OrleansVerdictSink verdicts)
{
    public VerificationEngine Engine => engine;

    /// <summary>As <see cref="VerificationEngine.Enqueue"/>; the session's verdicts go to <paramref name="verdictRelay"/> when given.</summary>
    public EnqueueStatus Enqueue(VerifyRequest request, SessionSetup? setup, string? verdictRelay, System.Diagnostics.ActivityContext trace = default)
    {
        if (verdictRelay is not null) verdicts.Route(request.SessionId, verdictRelay);
        return engine.Enqueue(request, setup, trace);
    }

    /// <summary>Forgets the session in the engine and its route.</summary>
    public void Release(string sessionId)
    {
        engine.Release(sessionId);
        verdicts.Forget(sessionId);
    }

    /// <summary>The session's route only (its verifier activation was collected; the engine may still hold it).</summary>
    public void ForgetRoute(string sessionId) => verdicts.Forget(sessionId);
}

using System.Diagnostics;
using Orleans.Concurrency;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Placement;
using Synera.Grains.Verification;

namespace Synera.Grains;

/// <summary>
/// A frontend silo's verdict relay: takes a verifier's batch of verdicts for the sessions on this silo and calls each
/// session grain locally, all at once. Stateless and reentrant, so batches from several verifiers (and a slow session
/// grain in one of them) never wait for each other here. Why it exists: under <c>bench scale</c> one verifier step
/// answers ~64 sessions, and each verdict was a remote call of its own, request and response, on both silos.
/// </summary>
[Reentrant, SiloKeyedPlacement]
public sealed class VerdictRelayGrain : Grain, IVerdictRelayGrain
{
    public async Task<string?[]?> DeliverAsync(RelayedVerdict[] verdicts)
    {
        var calls = new Task[verdicts.Length];
        for (int i = 0; i < verdicts.Length; i++) calls[i] = Forward(verdicts[i]);
        try
        {
            await Task.WhenAll(calls);
            return null;
        }
        catch (Exception)
        {
            return [.. calls.Select(c => c.Exception?.GetBaseException().Message)];
        }
    }

    private Task Forward(RelayedVerdict relayed)
    {
        // Orleans carries Activity.Current into the call, so the session grain's work joins the span's trace.
        using var activity = relayed.TraceParent is { } parent && ActivityContext.TryParse(parent, null, out var context)
            ? VerifierTracing.Source.StartActivity("verdict relay", ActivityKind.Consumer, context)
            : null;
        activity?.SetTag("synera.session", relayed.Verdict.SessionId).SetTag("synera.seq", relayed.Verdict.Seq);
        return GrainFactory.GetGrain<ISessionGrain>(relayed.Verdict.SessionId).OnVerdictAsync(relayed.Verdict);
    }
}

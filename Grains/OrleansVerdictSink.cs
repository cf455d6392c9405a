using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Verification;

namespace Synera.Grains;

/// <summary>Delivers the engine's verdicts to the session grains, which publish them on the sessions' streams.</summary>
public sealed class OrleansVerdictSink(IGrainFactory grainFactory) : IVerdictSink
{
    public Task DeliverAsync(Verdict verdict) => grainFactory.GetGrain<ISessionGrain>(verdict.SessionId).OnVerdictAsync(verdict);
}

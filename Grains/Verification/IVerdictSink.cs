using Synera.Abstractions.Messages;

namespace Synera.Grains.Verification;

/// <summary>Where the engine sends verdicts: the session grains in a silo, a list in tests and benchmarks.</summary>
public interface IVerdictSink
{
    /// <summary>Delivers one verdict; the task completes when the receiver has it (deliveries per session are chained).</summary>
    Task DeliverAsync(Verdict verdict);
}

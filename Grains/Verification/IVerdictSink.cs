using Synera.Abstractions.Messages;

namespace Synera.Grains.Verification;

/// <summary>Where the engine sends verdicts: the session grains in a silo, a list in tests and benchmarks.</summary>
public interface IVerdictSink
{
    /// <summary>Delivers one verdict; the task completes when the receiver has it (deliveries per session are chained).</summary>
    Task DeliverAsync(Verdict verdict);

    /// <summary>The verdicts delivered until the returned scope ends are one step's: a sink may send them together when it
    /// ends. Null: every verdict goes on its own.</summary>
    IDisposable? BeginStep() => null;
}

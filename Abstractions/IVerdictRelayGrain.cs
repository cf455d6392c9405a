using Synera.Abstractions.Messages;

namespace Synera.Abstractions;

/// <summary>
/// A frontend silo's verdict relay (key: the silo's address, <c>SiloAddress.ToParsableString()</c>; it activates on that
/// silo while the silo is a member). A verifier sends it every verdict a step produced for sessions on that silo in one
/// call, and it hands each to its session grain with a local call: one message across the network per step and silo
/// instead of one per verdict.
/// </summary>
public interface IVerdictRelayGrain : IGrainWithStringKey
{
    /// <summary>Delivers each verdict to its session grain and waits for all of them.</summary>
    /// <returns>Null when every session grain took its verdict, else, per verdict in order, why its delivery failed (null where it did not).</returns>
    [ClusterOnly]
    Task<string?[]?> DeliverAsync(RelayedVerdict[] verdicts);
}

using Synera.Abstractions.Messages;

namespace Synera.Abstractions;

/// <summary>
/// A verifier silo's intake (key: the silo's address, <c>SiloAddress.ToParsableString()</c>; it serves only on that silo).
/// Once a session's verifier activation is placed, the session grain sends its spans here, batched with the spans of
/// every other session on its silo bound for the same verifier silo: one message per batch instead of one per span.
/// The engine behind it is the same one the session's <see cref="IVerifierGrain"/> reaches.
/// </summary>
public interface IVerifierIntakeGrain : IGrainWithStringKey
{
    /// <summary>Queues each request as <see cref="IVerifierGrain.EnqueueAsync"/> would; one result per request, in order.</summary>
    /// <exception cref="NoVerifierException">This silo is not the one the key names (it left): place the session again.</exception>
    [ClusterOnly]
    Task<IntakeResult[]> EnqueueAsync(IntakeRequest[] requests);

    /// <summary>As <see cref="IVerifierGrain.ReleaseSessionAsync"/>.</summary>
    [ClusterOnly]
    Task ReleaseSessionAsync(string sessionId);

    /// <summary>As <see cref="IVerifierGrain.GetSessionActivityAsync"/>.</summary>
    [ClusterOnly]
    Task<SessionActivity> GetSessionActivityAsync(string sessionId);
}

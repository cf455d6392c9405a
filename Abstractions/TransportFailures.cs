using Orleans.Runtime;

namespace Synera.Abstractions;

/// <summary>
/// Failures of the transport between a caller and a grain, not of the request: the callee's silo is stopping or gone,
/// a connection dropped, no answer came in time, or no verifier silo is in the cluster (yet). Whoever sees one
/// resynchronises (and the next call places the grain on a live silo) instead of treating the request as refused. One
/// definition for the device and the session grain.
/// </summary>
public static class TransportFailures
{
    public static bool IsTransient(Exception e) =>
        e is TimeoutException or NoVerifierException or SiloUnavailableException or OrleansMessageRejectionException or Orleans.Runtime.Messaging.ConnectionFailedException;
}

namespace Synera.Abstractions;

/// <summary>
/// Marks a grain method that only the cluster itself may call (session grains, verifiers, the verification engine):
/// verdicts, enqueueing into a verifier, releasing a verifier's session, charging a device's account. A device is an
/// Orleans client of the cluster's gateways; the silos' <c>TrustBoundaryCallFilter</c> refuses these methods to clients.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ClusterOnlyAttribute : Attribute;

namespace Synera.Abstractions;

/// <summary>
/// Marks a grain method only an operator may call: registering or revoking a device's key. The silos' trust-boundary
/// filter lets it through from inside the cluster, or from a client that presents the cluster's operator key
/// (<c>Synera:Security:OperatorKey</c>, sent by <c>synera devices</c>); every other client is refused.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class OperatorOnlyAttribute : Attribute;

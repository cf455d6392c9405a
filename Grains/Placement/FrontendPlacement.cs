using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Synera.Grains.Placement;

/// <summary>Places a device-facing grain (a session, a device's account) on a frontend silo when the cluster has one.</summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class FrontendPlacement : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class FrontendPlacementAttribute() : PlacementAttribute(new FrontendPlacement());

/// <summary>
/// Keeps the per-request Orleans work (validation, accounting, persistence, verdict fan-out) off the verifier silos,
/// whose cores belong to the engine. Among the compatible silos (roles from <see cref="SiloRoles"/>) the director takes
/// the calling silo when it is a frontend (a device's gateway: no extra hop), else a random frontend, else (a
/// single-silo or verifier-only cluster) the calling silo or a random one.
/// </summary>
public sealed class FrontendPlacementDirector(SiloRoles roles) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        if (silos.Length == 0) throw new OrleansException($"no silo can host {target.GrainIdentity.Type}");
        var frontends = silos.Where(roles.IsFrontend).ToArray();
        var local = context.LocalSilo;
        if (frontends.Length > 0)
            return Task.FromResult(frontends.Contains(local) ? local : frontends[Random.Shared.Next(frontends.Length)]);
        return Task.FromResult(silos.Contains(local) ? local : silos[Random.Shared.Next(silos.Length)]);
    }
}

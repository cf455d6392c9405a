using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;
using Synera.Grains.Hosting;

namespace Synera.Grains.Placement;

/// <summary>Places a device-facing grain (a session, a device's account) on a frontend silo when the cluster has one.</summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class FrontendPlacement : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class FrontendPlacementAttribute() : PlacementAttribute(new FrontendPlacement());

/// <summary>
/// Keeps the per-request Orleans work (validation, accounting, persistence, verdict fan-out) off the verifier silos,
/// whose cores belong to the engine. Each silo publishes its role as silo metadata (<see cref="RoleKey"/>); among the
/// compatible silos the director takes the calling silo when it is a frontend (a device's gateway: no extra hop), else a
/// random frontend, else (a single-silo or verifier-only cluster) the calling silo or a random one.
/// </summary>
public sealed class FrontendPlacementDirector(ISiloMetadataCache metadata) : IPlacementDirector
{
    /// <summary>The silo metadata key that carries a silo's <see cref="SiloRole"/>.</summary>
    public const string RoleKey = "synera.role";

    /// <summary>The role the silo published, or null while its metadata has not arrived.</summary>
    public static SiloRole? RoleOf(ISiloMetadataCache metadata, SiloAddress silo) =>
        metadata.GetSiloMetadata(silo).Metadata.TryGetValue(RoleKey, out var role) && Enum.TryParse<SiloRole>(role, out var parsed) ? parsed : null;

    private bool IsFrontend(SiloAddress silo) => RoleOf(metadata, silo) == SiloRole.Frontend;

    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        if (silos.Length == 0) throw new OrleansException($"no silo can host {target.GrainIdentity.Type}");
        var frontends = silos.Where(IsFrontend).ToArray();
        var local = context.LocalSilo;
        if (frontends.Length > 0)
            return Task.FromResult(frontends.Contains(local) ? local : frontends[Random.Shared.Next(frontends.Length)]);
        return Task.FromResult(silos.Contains(local) ? local : silos[Random.Shared.Next(silos.Length)]);
    }
}

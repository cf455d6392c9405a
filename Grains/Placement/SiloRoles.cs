using Orleans.Runtime.MembershipService.SiloMetadata;
using Synera.Grains.Hosting;

namespace Synera.Grains.Placement;

/// <summary>
/// Which role each silo of the cluster has, for the frontend placement and the verdict-queue balancer. Every silo
/// publishes its role as silo metadata (<see cref="RoleKey"/>). This silo's own role comes from its configuration, known
/// from the start; another silo's comes from the metadata cache, which may not hold it yet while that silo (or this one)
/// starts.
/// </summary>
public sealed class SiloRoles(ISiloMetadataCache metadata, SiloRoleInfo local, ILocalSiloDetails localSilo)
{
    /// <summary>The silo metadata key that carries a silo's <see cref="SiloRole"/>.</summary>
    public const string RoleKey = "synera.role";

    /// <summary>The silo's role, or null while its metadata has not arrived.</summary>
    public SiloRole? RoleOf(SiloAddress silo) =>
        silo.Equals(localSilo.SiloAddress) ? local.Role
        : metadata.GetSiloMetadata(silo).Metadata.TryGetValue(RoleKey, out var role) && Enum.TryParse<SiloRole>(role, out var parsed) ? parsed : null;

    public bool IsFrontend(SiloAddress silo) => RoleOf(silo) == SiloRole.Frontend;
}

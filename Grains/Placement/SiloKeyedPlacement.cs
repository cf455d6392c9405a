using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Synera.Grains.Placement;

/// <summary>Places a grain on the silo its key names (<c>SiloAddress.ToParsableString()</c>): one activation per silo,
/// addressed by the silo (<see cref="Abstractions.IVerdictRelayGrain"/>).</summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class SiloKeyedPlacement : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloKeyedPlacementAttribute() : PlacementAttribute(new SiloKeyedPlacement());

/// <summary>
/// The silo the key names while it is a compatible member; otherwise (it left, or the key names no silo) where
/// <see cref="FrontendPlacementDirector"/> would place the grain: the grains it serves have moved on from that silo, and
/// any live silo reaches them.
/// </summary>
public sealed class SiloKeyedPlacementDirector(SiloRoles roles) : IPlacementDirector
{
    private readonly FrontendPlacementDirector fallback = new(roles);

    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        if (TryParse(target.GrainIdentity.Key.ToString()) is { } named && context.GetCompatibleSilos(target).Contains(named))
            return Task.FromResult(named);
        return fallback.OnAddActivation(strategy, target, context);
    }

    private static SiloAddress? TryParse(string key)
    {
        try { return SiloAddress.FromParsableString(key); }
        catch (Exception e) when (e is FormatException or ArgumentException or IndexOutOfRangeException or OverflowException) { return null; }
    }
}

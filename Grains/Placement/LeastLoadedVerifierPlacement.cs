using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Runtime.Placement;
using Synera.Abstractions.Messages;

namespace Synera.Grains.Placement;

/// <summary>Places a verifier grain activation (one per session) on the least-loaded verifier silo.</summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class LeastLoadedVerifierPlacement : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class LeastLoadedVerifierPlacementAttribute() : PlacementAttribute(new LeastLoadedVerifierPlacement());

/// <summary>
/// Chooses among the silos that can host a verifier (Orleans' compatible silos: only verifier-role silos have the grain
/// class) the one whose engine is least loaded: sessions, queued requests, p99 verify latency and KV memory, from the
/// <see cref="IVerifierLoadBoardGrain"/>. A silo that has not reported yet (it just joined) counts as empty, so it takes
/// new sessions at once. The activation then stays where it was placed, with the session's KV cache; if its silo goes
/// away, the next call places it again and the engine there re-prefills the session from its committed tokens.
/// </summary>
public sealed class LeastLoadedVerifierPlacementDirector(IGrainFactory grains, ILogger<LeastLoadedVerifierPlacementDirector> logger) : IPlacementDirector
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromMilliseconds(500);
    private readonly Lock gate = new();
    private Dictionary<string, double> scores = [];
    private DateTime refreshedAt = DateTime.MinValue;

    /// <summary>Lower is less loaded: one session, one queued request, 10 ms of p99 and 64 MiB of KV cache each count 1.</summary>
    public static double Score(VerifierLoad load) =>
        load.NumSessions + load.QueuedRequests + load.P99VerifyMs / 10 + load.KvCacheBytes / (64.0 * 1024 * 1024);

    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target).ToArray();
        if (silos.Length == 0) throw new OrleansException("no verifier silo is active (Synera:Role=verifier)");
        if (silos.Length == 1) return silos[0];
        await RefreshAsync();
        lock (gate)
        {
            var best = silos.MinBy(s => (scores.GetValueOrDefault(s.ToParsableString()), Random.Shared.Next()))!;
            // Count the new session at once, so a burst of sessions between two refreshes spreads out.
            scores[best.ToParsableString()] = scores.GetValueOrDefault(best.ToParsableString()) + 1;
            return best;
        }
    }

    private async Task RefreshAsync()
    {
        lock (gate) if (DateTime.UtcNow - refreshedAt < CacheFor) return;
        try
        {
            var loads = await grains.GetGrain<IVerifierLoadBoardGrain>(0).GetLoadsAsync();
            lock (gate)
            {
                scores = loads.ToDictionary(l => l.Key, l => Score(l.Value));
                refreshedAt = DateTime.UtcNow;
            }
        }
        catch (Exception e)
        {
            // Without load reports placement is still correct (any verifier silo), only less even.
            logger.LogWarning(e, "Verifier load board unavailable; placing by the last known loads");
            lock (gate) refreshedAt = DateTime.UtcNow;
        }
    }
}

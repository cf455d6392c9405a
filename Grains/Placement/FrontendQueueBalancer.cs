using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Streams;
using Synera.Grains.Hosting;

namespace Synera.Grains.Placement;

/// <summary>
/// Decides which silo's pulling agents read which verdict-stream queues: only frontend silos, when the cluster has any
/// (every silo, when it has none). Orleans' default balancer spreads the queues over every silo in the ring, so two
/// thirds of a three-silo cluster's verdicts were polled (every 2 ms, busy or idle) and delivered by verifier silos,
/// whose cores belong to the engine, and each took two extra hops (queue grain → verifier silo → the device's gateway
/// on a frontend). With the session grains, the queue grains (<see cref="FrontendPlacement"/> is the silo's default
/// placement) and the pulling agents on the frontends, a verdict's fan-out never leaves the frontend.
/// <para>
/// Each silo computes the same assignment from the same membership view: the owners sorted by address, queue i to owner
/// i mod n. While two silos' views differ (a silo joining or leaving) a queue can be read by two agents or by none for
/// a moment; the memory queue grain hands each message out once, so a verdict may come late but not twice. The
/// assignment is recomputed on every membership change and once a second, because a silo's role (its silo metadata)
/// can arrive after its membership (until then no verifier reads, in case that silo is a frontend).
/// </para>
/// <para>
/// The queue grains themselves stay where they were first activated: by the first pulling agents that read them. A
/// cluster whose verifier silos ran before any frontend joined keeps its queue grains there (its frontends then poll
/// them across silos), so start the frontends first, as the developer cluster and <c>bench scale</c> do.
/// </para>
/// </summary>
public sealed class FrontendQueueBalancer(IServiceProvider services, SiloRoles roles, ILogger<FrontendQueueBalancer> logger)
    : QueueBalancerBase(services, logger)
{
    private static readonly TimeSpan RecheckEvery = TimeSpan.FromSeconds(1);
    private readonly Lock gate = new();
    private List<QueueId> allQueues = [];
    private HashSet<SiloAddress> activeSilos = [];
    private HashSet<QueueId> mine = [];
    private Task? recheck;

    /// <summary>The factory Orleans' <c>ConfigurePartitionBalancing</c> takes.</summary>
    public static IStreamQueueBalancer Create(IServiceProvider services, string name) => ActivatorUtilities.CreateInstance<FrontendQueueBalancer>(services);

    public override Task Initialize(IStreamQueueMapper queueMapper)
    {
        ArgumentNullException.ThrowIfNull(queueMapper);
        // A stable order every silo agrees on: the queues' numeric ids.
        allQueues = [.. queueMapper.GetAllQueues().OrderBy(q => q.GetNumericId()).ThenBy(q => q.ToString(), StringComparer.Ordinal)];
        recheck = RecheckAsync();
        return base.Initialize(queueMapper);
    }

    public override IEnumerable<QueueId> GetMyQueues()
    {
        lock (gate) return [.. mine];
    }

    protected override void OnClusterMembershipChange(HashSet<SiloAddress> active)
    {
        lock (gate) activeSilos = active;
        Reassign();
    }

    public override async Task Shutdown()
    {
        await base.Shutdown();
        if (recheck is not null) await recheck;
    }

    private async Task RecheckAsync()
    {
        try
        {
            using var timer = new PeriodicTimer(RecheckEvery);
            while (await timer.WaitForNextTickAsync(Cancellation)) Reassign();
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>
    /// Which silos read queues: the active frontends; every active silo when none is a frontend; and no one while a silo's
    /// role is still unknown (its metadata not yet fetched) and no frontend is known, for it may be one. A verifier that
    /// read queues in that moment would activate their grains on itself, where they would stay, and die with it.
    /// </summary>
    public static IReadOnlyList<SiloAddress> Owners(IEnumerable<SiloAddress> active, Func<SiloAddress, SiloRole?> roleOf)
    {
        var silos = active.OrderBy(s => s.ToParsableString(), StringComparer.Ordinal).ToList();
        var frontends = silos.Where(s => roleOf(s) == SiloRole.Frontend).ToList();
        if (frontends.Count > 0) return frontends;
        return silos.Any(s => roleOf(s) is null) ? [] : silos;
    }

    /// <summary>The queues one owner reads: queue i goes to owner i mod n.</summary>
    public static IEnumerable<T> QueuesOf<T>(IReadOnlyList<T> queues, IReadOnlyList<SiloAddress> owners, SiloAddress silo)
    {
        int index = owners.ToList().IndexOf(silo);
        return index < 0 ? [] : queues.Where((_, i) => i % owners.Count == index);
    }

    private void Reassign()
    {
        bool changed;
        lock (gate)
        {
            var owners = Owners(activeSilos, roles.RoleOf);
            var next = QueuesOf(allQueues, owners, SiloAddress).ToHashSet();
            changed = !next.SetEquals(mine);
            if (changed)
            {
                mine = next;
                logger.LogInformation("Verdict-stream queues read here: {Count} of {Total} ({Owners} silos read them)", next.Count, allQueues.Count, owners.Count);
            }
        }
        if (changed) NotifyListeners().Ignore();
    }
}

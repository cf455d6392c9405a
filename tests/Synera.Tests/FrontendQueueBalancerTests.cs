using System.Net;
using Orleans.Runtime;
using Synera.Grains.Hosting;
using Synera.Grains.Placement;

namespace Synera.Tests;

/// <summary>Which silos read the verdict-stream queues: every queue read by exactly one silo, frontends only when the
/// cluster has any, and the same answer on every silo whatever order its membership view lists the silos in.</summary>
public class FrontendQueueBalancerTests
{
    private static SiloAddress Silo(int port) => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 1);

    [Fact]
    public void FrontendsShareTheQueuesAndVerifiersReadNone()
    {
        var (f1, f2, v1, v2) = (Silo(11111), Silo(11112), Silo(11113), Silo(11114));
        var frontends = new HashSet<SiloAddress> { f1, f2 };
        var queues = Enumerable.Range(0, 8).ToList();
        SiloRole? RoleOf(SiloAddress s) => frontends.Contains(s) ? SiloRole.Frontend : SiloRole.Verifier;
        var owners = FrontendQueueBalancer.Owners([v2, f2, v1, f1], RoleOf);
        Assert.Equal([f1, f2], owners);
        var read = new[] { f1, f2, v1, v2 }.ToDictionary(s => s, s => FrontendQueueBalancer.QueuesOf(queues, owners, s).ToList());
        Assert.Empty(read[v1]);
        Assert.Empty(read[v2]);
        Assert.Equal(4, read[f1].Count);
        Assert.Equal(queues, read.Values.SelectMany(q => q).Order());   // each queue exactly once

        // Another silo's view lists the members in another order: the same assignment.
        var otherView = FrontendQueueBalancer.Owners([f1, v1, f2, v2], RoleOf);
        Assert.Equal(read[f1], FrontendQueueBalancer.QueuesOf(queues, otherView, f1));
    }

    [Fact]
    public void WithoutAFrontendEverySiloReadsItsShare()
    {
        var (v1, v2, v3) = (Silo(11121), Silo(11122), Silo(11123));
        var queues = Enumerable.Range(0, 8).ToList();
        var owners = FrontendQueueBalancer.Owners([v3, v1, v2], _ => SiloRole.Verifier);
        Assert.Equal(3, owners.Count);
        var all = owners.SelectMany(s => FrontendQueueBalancer.QueuesOf(queues, owners, s)).Order().ToList();
        Assert.Equal(queues, all);
        Assert.Empty(FrontendQueueBalancer.QueuesOf(queues, owners, Silo(11124)));   // a silo not (yet) active reads nothing
    }

    [Fact]
    public void NoVerifierReadsWhileAnotherSilosRoleIsUnknown()
    {
        var (v1, unknown, f1) = (Silo(11131), Silo(11132), Silo(11133));
        // The other silo's metadata has not arrived: it may be a frontend, so the verifier waits.
        Assert.Empty(FrontendQueueBalancer.Owners([v1, unknown], s => s == v1 ? SiloRole.Verifier : null));
        // A known frontend reads, whatever the unknown one turns out to be.
        Assert.Equal([f1], FrontendQueueBalancer.Owners([v1, unknown, f1], s => s == v1 ? SiloRole.Verifier : s == f1 ? SiloRole.Frontend : null));
    }
}

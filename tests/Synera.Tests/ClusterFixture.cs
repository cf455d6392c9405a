using Synera.Silo.Hosting;

namespace Synera.Tests;

/// <summary>One embedded cluster (a real verifier silo + a real client through its gateway) shared by a test collection.</summary>
public class ClusterFixture : IAsyncLifetime
{
    public EmbeddedCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    /// <summary>Target model the silo serves; the tiny random one unless a subclass says otherwise.</summary>
    protected virtual string TargetModel => TestModels.TinyTarget;

    public async Task InitializeAsync() => Cluster = await EmbeddedCluster.StartAsync(v =>
    {
        v.ModelPath = TargetModel;
        v.MaxSpanTokens = 16;
        v.TierWeights = new() { ["premium"] = 2, ["economy"] = 0.5 };
        v.InFlightCheckPeriod = TimeSpan.FromMilliseconds(250);
    });

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

/// <summary>An embedded cluster serving the shipped target model (models/target).</summary>
public sealed class ShippedClusterFixture : ClusterFixture
{
    protected override string TargetModel => TestModels.ShippedTarget;
}

[CollectionDefinition(Name)]
public sealed class ShippedClusterCollection : ICollectionFixture<ShippedClusterFixture>
{
    public const string Name = "shipped-cluster";
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Persistence;
using Orleans.Storage;
using Synera.Abstractions;
using Synera.Grains;
using Synera.Grains.Hosting;
using Synera.Silo.Hosting;

namespace Synera.Tests;

/// <summary>Grain state in Redis: Orleans' binary format (not the provider's default JSON, which cost the frontend a
/// fifth of its CPU), and state an older store wrote as JSON still reads.</summary>
public class GrainStateFormatTests
{
    [Fact]
    public void SessionStateIsWrittenInBinaryAndJsonStillReads()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Synera:Role"] = "frontend",
            ["Synera:Cluster:Mode"] = "redis",
            ["Synera:Cluster:Redis"] = "127.0.0.1:1",   // never connected: the host is built, not started
        });
        builder.UseOrleans(s => s.UseSyneraClustering(builder.Configuration).AddSynera(builder.Configuration));
        using var host = builder.Build();
        var state = new SessionState
        {
            IsOpen = true, Epoch = 3, PendingEnd = 7, CommittedTokenIds = [1, 10, 11, 12, 13, 14, 15],
            InFlight = [new InFlightSpan { Seq = 4, StartPosition = 7, DraftTokenIds = [20, 21] }],
        };
        foreach (var name in new[] { SyneraNames.SessionStorage, SyneraNames.PubSubStorage })
        {
            var serializer = host.Services.GetRequiredService<IOptionsMonitor<RedisStorageOptions>>().Get(name).GrainStorageSerializer;
            var bytes = serializer.Serialize(state);
            Assert.NotEqual((byte)'{', bytes.ToArray()[0]);                   // not JSON
            AssertSame(state, serializer.Deserialize<SessionState>(bytes));
            var json = ActivatorUtilities.CreateInstance<JsonGrainStorageSerializer>(host.Services).Serialize(state);
            Assert.Equal((byte)'{', json.ToArray()[0]);
            AssertSame(state, serializer.Deserialize<SessionState>(json));      // what the store held before
        }
    }

    private static void AssertSame(SessionState expected, SessionState? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.CommittedTokenIds, actual.CommittedTokenIds);
        Assert.Equal((expected.IsOpen, expected.Epoch, expected.PendingEnd), (actual.IsOpen, actual.Epoch, actual.PendingEnd));
        Assert.Equal(expected.InFlight.Single().DraftTokenIds, actual.InFlight.Single().DraftTokenIds);
    }
}

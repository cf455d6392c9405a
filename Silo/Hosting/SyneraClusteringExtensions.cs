using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Persistence;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.Configuration;
using Synera.Abstractions;

namespace Synera.Silo.Hosting;

/// <summary>
/// Clustering and grain storage from configuration. Under the AppHost, Aspire's Orleans integration configures them in
/// Orleans' own section (<c>Orleans:Clustering</c>, <c>Orleans:GrainStorage</c>, the store's connection string), which
/// Orleans reads itself: mode <c>orleans</c>, chosen whenever that section names a clustering provider. Otherwise
/// section <c>Synera:Cluster</c>:
/// <c>Mode</c> = localhost (one machine, development) or redis (real membership, <c>Redis</c> = connection string);
/// <c>SiloPort</c>, <c>GatewayPort</c>, <c>PrimarySiloPort</c> (localhost), <c>AdvertisedAddress</c> (redis: the IP or host
/// name other machines reach this silo at; default loopback), <c>ClusterId</c>.
/// Session state and stream subscriptions go to Redis in redis mode, to memory otherwise. In redis mode
/// <c>ProbeTimeout</c> and <c>NumMissedProbesLimit</c> tune how fast a dead silo is declared dead, and the grain
/// directory is in Redis as well (<c>RedisGrainDirectory</c> = false keeps Orleans' in-cluster one).
/// <c>MaxProbeTimeout</c> and <c>ConnectionLivenessCheck</c> (default off) tune failure detection further.
/// </summary>
public static class SyneraClusteringExtensions
{
    public static ISiloBuilder UseSyneraClustering(this ISiloBuilder silo, IConfiguration configuration)
    {
        var section = configuration.GetSection("Synera:Cluster");
        var mode = IsConfiguredByOrleansSection(configuration) ? "orleans" : section["Mode"] ?? "localhost";
        int siloPort = section.GetValue("SiloPort", 11111), gatewayPort = section.GetValue("GatewayPort", 30000);
        var clusterId = section["ClusterId"] ?? "synera";
        if (mode != "orleans") silo.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = "synera"; });
        switch (mode)
        {
            case "orleans":
                // Membership, storage and endpoints are Orleans' (its configuration section, Orleans:Endpoints). Membership
                // in Redis: the grain directory goes there too, as in redis mode (see below).
                ConfigureFailureDetection(silo, section);
                UseBinaryGrainState(silo);
                if (configuration["Orleans:Clustering:ProviderType"] == "Redis" && section.GetValue("RedisGrainDirectory", true)
                    && configuration.GetConnectionString(configuration["Orleans:Clustering:ServiceKey"] ?? "") is { Length: > 0 } store)
                    silo.UseRedisGrainDirectoryAsDefault(o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(store));
                break;
            case "localhost":
                var primary = section.GetValue("PrimarySiloPort", siloPort);
                silo.UseLocalhostClustering(siloPort, gatewayPort, new IPEndPoint(IPAddress.Loopback, primary), "synera", clusterId);
                silo.AddMemoryGrainStorage(SyneraNames.SessionStorage);
                silo.AddMemoryGrainStorage(SyneraNames.PubSubStorage);
                break;
            case "redis":
                var redis = section["Redis"] ?? throw new InvalidOperationException("Synera:Cluster:Redis (connection string) is required in redis mode");
                silo.UseRedisClustering(redis);
                silo.AddRedisGrainStorage(SyneraNames.SessionStorage, o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(redis));
                // Stream subscriptions too: a device's subscription to its verdicts must outlive the silo that held it.
                silo.AddRedisGrainStorage(SyneraNames.PubSubStorage, o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(redis));
                // Where each grain lives, in the store too, not in a hash table partitioned over the silos: with Orleans'
                // in-cluster directory, a grain whose directory partition sat on a verifier host that was cut off (alive, not
                // yet declared dead) could not be activated or found until membership gave up on that host. A device then
                // waited out the 30 s response timeout on its verdict stream's rendezvous. The store is what every silo
                // already depends on; a verifier host adds no dependency.
                if (section.GetValue("RedisGrainDirectory", true))
                    silo.UseRedisGrainDirectoryAsDefault(o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(redis));
                UseBinaryGrainState(silo);
                ConfigureFailureDetection(silo, section);
                // Membership across machines: advertise the address other silos and clients reach this one at
                // (Synera:Cluster:AdvertisedAddress, default loopback for one machine) and listen on every interface.
                var advertised = section["AdvertisedAddress"] is { Length: > 0 } text ? ResolveAddress(text) : IPAddress.Loopback;
                silo.ConfigureEndpoints(advertised, siloPort, gatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
                break;
            default:
                throw new InvalidOperationException($"Synera:Cluster:Mode '{mode}' is not localhost or redis");
        }
        return silo;
    }

    /// <summary>
    /// Grain state goes to Redis in Orleans' binary format (every state type is <c>[GenerateSerializer]</c>) instead of
    /// the Redis provider's default, Newtonsoft JSON with type names: a session grain writes its state twice per span,
    /// and under <c>bench scale</c> that JSON was 22 % of the frontend silo's CPU. State written as JSON before (an
    /// older store) still reads: JSON is the fallback for reading.
    /// </summary>
    private static void UseBinaryGrainState(ISiloBuilder silo) =>
        silo.Services.AddSingleton<IConfigureOptions<RedisStorageOptions>>(services => new ConfigureNamedOptions<RedisStorageOptions>(null, o =>
            o.GrainStorageSerializer = new GrainStorageSerializer(
                new OrleansGrainStorageSerializer(services.GetRequiredService<Serializer>()),
                ActivatorUtilities.CreateInstance<JsonGrainStorageSerializer>(services))));

    /// <summary>Whether Orleans' own configuration section (Aspire's Orleans integration writes it) names a clustering provider.</summary>
    public static bool IsConfiguredByOrleansSection(IConfiguration configuration) =>
        !string.IsNullOrEmpty(configuration["Orleans:Clustering:ProviderType"]);

    /// <summary>The keyed services (Redis connections) the Orleans section's providers ask for by <c>ServiceKey</c>.</summary>
    public static IEnumerable<string> OrleansServiceKeys(IConfiguration configuration) =>
        new[] { configuration.GetSection("Orleans:Clustering") }
            .Concat(configuration.GetSection("Orleans:GrainStorage").GetChildren())
            .Select(provider => provider["ServiceKey"])
            .OfType<string>().Where(key => key.Length > 0).Distinct();

    /// <summary>
    /// How fast a silo that died without leaving is declared dead (its sessions move on only then). Orleans' connection
    /// liveness check (on by default in Orleans 10) withholds a vote against a silo whose connection carried a message
    /// in the last 4 × the probe limit: a verifier host frozen or cut off mid-answer then stays "alive" for 12 s, and
    /// every device it served waits that long (measured: 12 s with it, 2 s without, the device's stall timeout). Synera
    /// turns it off (<c>ConnectionLivenessCheck</c> = true turns it back on); the price is that a silo starved of CPU for
    /// several probe timeouts can be declared dead, which costs its sessions a move to another verifier, not an answer.
    /// A silo learns that it was declared dead when it next reads the membership table: Orleans reads it every 60 s, and a
    /// verifier cut off and then healed kept running (its KV caches held, its fenced deliveries retried) for all that
    /// time under <c>bench faults</c>. Synera reads it every 10 s (<c>TableRefreshTimeout</c>), one small read per silo.
    /// </summary>
    private static void ConfigureFailureDetection(ISiloBuilder silo, IConfigurationSection section) =>
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = section.GetValue("ProbeTimeout", o.ProbeTimeout);
            o.NumMissedProbesLimit = section.GetValue("NumMissedProbesLimit", o.NumMissedProbesLimit);
            o.MaxProbeTimeout = section.GetValue("MaxProbeTimeout", o.MaxProbeTimeout < o.ProbeTimeout ? o.ProbeTimeout : o.MaxProbeTimeout);
            o.EnableConnectionLivenessCheck = section.GetValue("ConnectionLivenessCheck", false);
            o.TableRefreshTimeout = section.GetValue("TableRefreshTimeout", TimeSpan.FromSeconds(10));
        });

    private static IPAddress ResolveAddress(string text) =>
        IPAddress.TryParse(text, out var ip) ? ip
        : Dns.GetHostAddresses(text).FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
          ?? throw new InvalidOperationException($"Synera:Cluster:AdvertisedAddress '{text}' does not resolve to an IPv4 address");

    public static IClientBuilder UseSyneraClustering(this IClientBuilder client, IConfiguration configuration)
    {
        var section = configuration.GetSection("Synera:Cluster");
        var mode = section["Mode"] ?? "localhost";
        var clusterId = section["ClusterId"] ?? "synera";
        client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = "synera"; });
        if (mode == "redis")
            client.UseRedisClustering(section["Redis"] ?? throw new InvalidOperationException("Synera:Cluster:Redis is required in redis mode"));
        else
            client.UseLocalhostClustering(section.GetValue("GatewayPort", 30000), "synera", clusterId);
        return client;
    }
}

// The developer cluster in the production shape: a Redis-protocol store (Garnet, in its own process; real Redis in
// production), a frontend silo with the devices' gateway, two verifier silos serving the target model, and two sample
// devices at different budgets drafting with the draft model (the shipped pair, or the one configured under Pair:). Dashboard: http://localhost:15888; the Orleans
// dashboard (silos, grains, calls) on the frontend: http://localhost:8090.
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Aspire.Hosting.Orleans;
using Microsoft.Extensions.Diagnostics.HealthChecks;

var builder = DistributedApplication.CreateBuilder(args);
var root = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
var synera = Path.Combine(root, "synera");      // builds the CLI when needed, then runs it
const int StorePort = 6390, FrontendGateway = 30000, OrleansDashboardPort = 8090;
// How often each verifier silo logs what it served (the AppHost test asks for a short period).
var activityLogPeriod = builder.Configuration["VerifierActivityLogPeriod"] ?? "00:00:30";
// The model pair: the shipped one unless configured (`dotnet run --project Synera.AppHost -- --Pair:Draft DIR --Pair:Target DIR`,
// or Pair__Target=… in the environment), with the verifiers' dtype, maximum context and KV budget (Synera:Verifier:*).
var pair = builder.Configuration.GetSection("Pair");
var draftModel = Path.GetFullPath(pair["Draft"] ?? Path.Combine(root, "models", "draft"), root);
var targetModel = Path.GetFullPath(pair["Target"] ?? Path.Combine(root, "models", "target"), root);

// ---- health: the store and each silo are ready when their port accepts connections (a silo opens its gateway once
// it has joined the cluster; a verifier silo loads its model before that) ----
const int Verifier1Gateway = 30001, Verifier2Gateway = 30002;
builder.Services.AddHealthChecks()
    .AddCheck("store-listening", () => Listening(StorePort))
    .AddCheck("gateway-listening", () => Listening(FrontendGateway))
    .AddCheck("verifier-1-listening", () => Listening(Verifier1Gateway))
    .AddCheck("verifier-2-listening", () => Listening(Verifier2Gateway));

// ---- cluster store: membership and grain storage (Garnet, a Redis-protocol server, as its own process) ----
var store = builder.AddResource(new ClusterStoreResource("store", synera, root, StorePort))
    .WithArgs("store", "--port", StorePort.ToString())
    .WithHealthCheck("store-listening");

// ---- Orleans, through Aspire's integration: Redis-protocol membership, session/device state and stream subscriptions
// in the store. Each silo gets Orleans:* configuration and the store's connection string from its reference. The store
// speaks the Redis protocol, so Orleans' Redis providers serve it (Aspire would name the provider after the resource type).
var redisProtocol = new RedisProtocolProvider(store);
var orleans = builder.AddOrleans("synera")
    .WithClusterId("synera")
    .WithServiceId("synera")
    .WithClustering(redisProtocol)
    .WithGrainStorage("sessions", redisProtocol)            // SyneraNames.SessionStorage
    .WithGrainStorage("PubSubStore", redisProtocol);        // SyneraNames.PubSubStorage

// ---- silos: one frontend (sessions, gateway for devices), two verifiers (the LLM) ----
IResourceBuilder<ProjectResource> Silo(string name, string role, int siloPort, int gatewayPort) =>
    builder.AddProject<Projects.Synera_Silo>(name)
        .WithReference(orleans)
        // Fixed ports for the endpoints the reference gives each silo (Orleans:Endpoints), so devices find the gateway.
        .WithEndpoint("orleans-silo", e => { e.Port = siloPort; e.TargetPort = siloPort; e.IsProxied = false; })
        .WithEndpoint("orleans-gateway", e => { e.Port = gatewayPort; e.TargetPort = gatewayPort; e.IsProxied = false; })
        .WithEnvironment("Orleans__Endpoints__AdvertisedIPAddress", "127.0.0.1")          // one machine: loopback
        .WithEnvironment("Synera__Role", role)
        .WithEnvironment("Synera__Verifier__ModelPath", targetModel)
        .WithEnvironment("Synera__Verifier__Dtype", pair["Dtype"] ?? "auto")
        .WithEnvironment("Synera__Verifier__MaxContextTokens", pair["MaxContext"] ?? "0")
        .WithEnvironment(context => { if (pair["KvBudgetBytes"] is { } kv) context.EnvironmentVariables["Synera__Verifier__KvCacheBudgetBytes"] = kv; })
        .WithEnvironment("Synera__Verifier__Threads", "1")
        .WithEnvironment("Synera__Verifier__ActivityLogPeriod", activityLogPeriod)
        .WaitFor(store);
var frontend = Silo("frontend", "frontend", 11111, FrontendGateway).WithHealthCheck("gateway-listening")
    .WithEnvironment("Synera__Dashboard", "true")                                       // the Orleans dashboard
    .WithHttpEndpoint(port: OrleansDashboardPort, name: "orleans-dashboard", isProxied: false);
// The verifiers join after the frontend: the verdict streams' queue grains activate where the first pulling agents run
// and stay there, and the frontend's are the ones that should run them (FrontendQueueBalancer).
var verifier1 = Silo("verifier-1", "verifier", 11112, Verifier1Gateway).WithHealthCheck("verifier-1-listening").WaitFor(frontend);
var verifier2 = Silo("verifier-2", "verifier", 11113, Verifier2Gateway).WithHealthCheck("verifier-2-listening").WaitFor(frontend);

// ---- devices: each a device client through the frontend's gateway, answering the held-out suite's mixed prompts
// forever at its budget (one question asked again and again would spend a long-run budget on its hard digits alone).
// They start once the verifiers serve too (a device that came first would answer alone until one joined) ----
foreach (var (name, budget) in new[] { ("device-economy", "0.05"), ("device-standard", "0.2") })
    builder.AddExecutable(name, synera, root, "generate", "--suite", Path.Combine("data", "heldout.jsonl"), "--cluster", $"127.0.0.1:{FrontendGateway}",
            "--device-id", name, "--budget", budget, "--rtt", "50", "--device-ms", "30", "--repeat", "100000", "--draft", draftModel)
        .WithOtlpExporter()   // the device's spans and meters reach the dashboard next to the silos'
        .WaitFor(frontend).WaitFor(verifier1).WaitFor(verifier2);

builder.Build().Run();

static HealthCheckResult Listening(int port)
{
    try
    {
        using var client = new TcpClient();
        client.Connect("127.0.0.1", port);
        return HealthCheckResult.Healthy();
    }
    catch (SocketException e) { return HealthCheckResult.Unhealthy($"nothing listens on {port} yet", e); }
}

/// <summary>The cluster's store: Garnet run by <c>synera store</c>, a Redis-protocol server other resources reach
/// through its connection string (Aspire's Orleans integration hands it to every silo).</summary>
sealed class ClusterStoreResource(string name, string command, string workingDirectory, int port)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"127.0.0.1:{port.ToString()}");
}

/// <summary>Points an Orleans provider (clustering, grain storage) at a Redis-protocol store: Orleans' Redis provider,
/// reaching the store through the keyed connection named after it (Aspire's own configuration would name the provider
/// after the resource's type, which Orleans does not know).</summary>
sealed class RedisProtocolProvider(IResourceBuilder<IResourceWithConnectionString> store) : IProviderConfiguration
{
    public void ConfigureResource<T>(IResourceBuilder<T> resourceBuilder, string configSectionPath) where T : IResourceWithEnvironment
    {
        // The section path comes without Orleans' own prefix (Clustering, GrainStorage__sessions).
        resourceBuilder.WithEnvironment($"Orleans__{configSectionPath}__ProviderType", "Redis")
            .WithEnvironment($"Orleans__{configSectionPath}__ServiceKey", store.Resource.Name)
            .WithReference(store);
    }
}

// The developer cluster in the production shape: a Redis-protocol store (Garnet, in its own process; real Redis in
// production), a frontend silo with the devices' gateway, two verifier silos serving the shipped target model, and two
// sample devices at different budgets drafting with the shipped ONNX SLM. Dashboard: http://localhost:15888; the Orleans
// dashboard (silos, grains, calls) on the frontend: http://localhost:8090.
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

var builder = DistributedApplication.CreateBuilder(args);
var root = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
var synera = Path.Combine(root, "synera");      // builds the CLI when needed, then runs it
const int StorePort = 6390, FrontendGateway = 30000, OrleansDashboardPort = 8090;
// How often each verifier silo logs what it served (the AppHost test asks for a short period).
var activityLogPeriod = builder.Configuration["VerifierActivityLogPeriod"] ?? "00:00:30";

// ---- health: the store and the frontend's gateway are ready when they accept connections ----
builder.Services.AddHealthChecks()
    .AddCheck("store-listening", () => Listening(StorePort))
    .AddCheck("gateway-listening", () => Listening(FrontendGateway));

// ---- cluster store: membership and grain storage ----
var store = builder.AddExecutable("store", synera, root, "store", "--port", StorePort.ToString())
    .WithHealthCheck("store-listening");

// ---- silos: one frontend (sessions, gateway for devices), two verifiers (the LLM) ----
IResourceBuilder<ProjectResource> Silo(string name, string role, int siloPort, int gatewayPort) =>
    builder.AddProject<Projects.Synera_Silo>(name)
        .WithEnvironment("Synera__Role", role)
        .WithEnvironment("Synera__Cluster__Mode", "redis")
        .WithEnvironment("Synera__Cluster__Redis", "127.0.0.1:" + StorePort)
        .WithEnvironment("Synera__Cluster__SiloPort", siloPort.ToString())
        .WithEnvironment("Synera__Cluster__GatewayPort", gatewayPort.ToString())
        .WithEnvironment("Synera__Verifier__ModelPath", Path.Combine(root, "models", "target"))
        .WithEnvironment("Synera__Verifier__Threads", "1")
        .WithEnvironment("Synera__Verifier__ActivityLogPeriod", activityLogPeriod)
        .WaitFor(store);
var frontend = Silo("frontend", "frontend", 11111, FrontendGateway).WithHealthCheck("gateway-listening")
    .WithEnvironment("Synera__Dashboard", "true")                                       // the Orleans dashboard
    .WithHttpEndpoint(port: OrleansDashboardPort, name: "orleans-dashboard", isProxied: false);
Silo("verifier-1", "verifier", 11112, 30001);
Silo("verifier-2", "verifier", 11113, 30002);

// ---- devices: each a device client through the frontend's gateway, answering forever at its budget ----
foreach (var (name, budget) in new[] { ("device-economy", "0.05"), ("device-standard", "0.2") })
    builder.AddExecutable(name, synera, root, "generate", "What is 123+456?", "--cluster", $"127.0.0.1:{FrontendGateway}",
            "--device-id", name, "--budget", budget, "--rtt", "50", "--device-ms", "30", "--repeat", "100000")
        .WithOtlpExporter()   // the device's spans and meters reach the dashboard next to the silos'
        .WaitFor(frontend);

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

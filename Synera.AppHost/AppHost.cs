// The developer cluster: a verifier silo serving the shipped target model, and a device client that drafts with
// the shipped ONNX SLM and connects through the silo's gateway. Open the dashboard to see both.
var builder = DistributedApplication.CreateBuilder(args);
var root = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
const int GatewayPort = 30000;

// ---- cloud: one verifier silo (localhost clustering; use Synera__Cluster__Mode=redis for a real cluster) ----
var silo = builder.AddProject<Projects.Synera_Silo>("silo")
    .WithEnvironment("Synera__Role", "verifier")
    .WithEnvironment("Synera__Cluster__Mode", "localhost")
    .WithEnvironment("Synera__Cluster__GatewayPort", GatewayPort.ToString())
    .WithEnvironment("Synera__Verifier__ModelPath", Path.Combine(root, "models", "target"));

// ---- device: a client that connects through the gateway and generates; it retries the gateway while the
//      silo starts (no health checks yet, so no WaitFor). Run through ./synera, which builds it when needed. ----
builder.AddExecutable("device", Path.Combine(root, "synera"), root,
        "generate", "What is 123+456?", "--connect", GatewayPort.ToString(), "--repeat", "1000", "--rtt", "50")
    .WithReferenceRelationship(silo);

builder.Build().Run();

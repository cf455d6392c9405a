using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Spectre.Console;
using Synera.Grains.Hosting;
using Synera.Silo.Hosting;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera silo --role verifier|frontend --redis HOST:PORT [--silo-port P] [--gateway-port G] [--advertise ADDRESS]</c>:
/// runs one silo in the foreground, in Redis membership, so silos on several machines form one cluster.
/// </summary>
public static class SiloCommand
{
    public static Command Create()
    {
        var role = new Option<string>("--role") { Description = "verifier (runs the LLM) or frontend (sessions and gateways)", DefaultValueFactory = _ => "verifier" };
        role.AcceptOnlyFromAmong("verifier", "frontend");
        var redis = new Option<string>("--redis") { Description = "Redis (or `synera store`) HOST:PORT for membership and storage", Required = true };
        var siloPort = new Option<int>("--silo-port") { DefaultValueFactory = _ => 11111 };
        var gatewayPort = new Option<int>("--gateway-port") { DefaultValueFactory = _ => 30000 };
        var advertise = new Option<string?>("--advertise") { Description = "IP or host name other machines reach this silo at (default: loopback, one machine)" };
        var model = new Option<string?>("--model", "--target") { Description = "verifier model folder in the Hugging Face layout (default: models/target)" };
        var dtype = new Option<string?>("--dtype") { Description = "verifier weights: auto (bf16 on CUDA, float32 on CPU), float32, bfloat16, float16 (CUDA)" };
        var maxContext = new Option<int?>("--max-context") { Description = "longest session the KV slots hold (default: the model's, at most 4096)" };
        var kvBudget = new Option<string?>("--kv-budget") { Description = "memory for KV caches, e.g. 4GiB (default 512MiB)" };
        var threads = new Option<int>("--threads") { Description = "torch threads of the verifier (0 = all cores)" };
        var device = DeviceOption.Create();
        var probe = new Option<double>("--probe-timeout") { Description = "seconds per membership probe (a dead silo is declared dead after 3 missed; 0 = Orleans' default)" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "TLS on every silo and gateway connection with this PKCS#12 cluster certificate (`synera tls create`)" };
        var tlsPassword = new Option<string?>("--tls-password") { Description = "the certificate file's password" };
        var requireKeys = new Option<bool>("--require-device-keys") { Description = "refuse devices without a registered id and key (`synera devices add`)" };
        var operatorKey = new Option<string?>("--operator-key") { Description = "the secret `synera devices` presents (default: $SYNERA_OPERATOR_KEY; none: no operator from outside)" };
        var command = new Command("silo", "Run one silo (verifier or frontend) in Redis membership")
        {
            role, redis, siloPort, gatewayPort, advertise, model, dtype, maxContext, kvBudget, threads, device, probe, tlsCert, tlsPassword, requireKeys, operatorKey,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Synera:Role"] = parse.GetValue(role),
                ["Synera:Cluster:Mode"] = "redis",
                ["Synera:Cluster:Redis"] = parse.GetValue(redis),
                ["Synera:Cluster:SiloPort"] = parse.GetValue(siloPort).ToString(),
                ["Synera:Cluster:GatewayPort"] = parse.GetValue(gatewayPort).ToString(),
                ["Synera:Cluster:AdvertisedAddress"] = parse.GetValue(advertise),
                ["Synera:Verifier:ModelPath"] = parse.GetValue(model) ?? RepoPaths.TargetModel,
                ["Synera:Verifier:Threads"] = parse.GetValue(threads).ToString(),
                ["Synera:Verifier:Device"] = parse.GetValue(device),
                ["Synera:Cluster:ProbeTimeout"] = parse.GetValue(probe) > 0 ? TimeSpan.FromSeconds(parse.GetValue(probe)).ToString() : null,
            });
            // Model settings only when given, so configuration (Synera__Verifier__…) still applies.
            var verifier = new Dictionary<string, string?>();
            if (parse.GetValue(dtype) is { } d) verifier["Synera:Verifier:Dtype"] = d;
            if (parse.GetValue(maxContext) is int c) verifier["Synera:Verifier:MaxContextTokens"] = c.ToString();
            if (parse.GetValue(kvBudget) is { } kv) verifier["Synera:Verifier:KvCacheBudgetBytes"] = ModelOptions.ParseBytes(kv).ToString();
            builder.Configuration.AddInMemoryCollection(verifier);
            // Security settings only when given, so configuration (appsettings, Synera__Security__… variables) still applies.
            var security = new Dictionary<string, string?>();
            if (parse.GetValue(tlsCert) is { } cert) { security["Synera:Tls:Certificate"] = cert; security["Synera:Tls:Password"] = parse.GetValue(tlsPassword); }
            if (parse.GetValue(requireKeys)) security["Synera:Security:RequireDeviceKeys"] = "true";
            if ((parse.GetValue(operatorKey) ?? Environment.GetEnvironmentVariable("SYNERA_OPERATOR_KEY")) is { Length: > 0 } op) security["Synera:Security:OperatorKey"] = op;
            builder.Configuration.AddInMemoryCollection(security);
            builder.UseOrleans(s => s.UseSyneraClustering(builder.Configuration).UseSyneraTls(builder.Configuration).AddSynera(builder.Configuration));
            using var host = builder.Build();
            AnsiConsole.MarkupLine($"{parse.GetValue(role)} silo: silo port {parse.GetValue(siloPort)}, gateway {parse.GetValue(gatewayPort)}, membership in {Markup.Escape(parse.GetValue(redis)!)}");
            await host.RunAsync(cancellation);
            return 0;
        });
        return command;
    }
}

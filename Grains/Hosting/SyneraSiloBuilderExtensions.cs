using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Synera.Abstractions;
using Synera.Grains.Options;
using Synera.Grains.Placement;
using Synera.Grains.Security;
using Synera.Grains.Verification;
using Synera.Models;

namespace Synera.Grains.Hosting;

/// <summary>Registers Synera's grains, streams and (on verifier silos) the verification engine.</summary>
public static class SyneraSiloBuilderExtensions
{
    /// <summary>Verdict-stream queues unless <c>Synera:Streams:Queues</c> says otherwise.</summary>
    public const int DefaultStreamQueues = 1;

    /// <summary>Verdict-stream poll period (ms) unless <c>Synera:Streams:PollMs</c> says otherwise.</summary>
    public const double DefaultStreamPollMs = 4;

    /// <summary>Role from <c>Synera:Role</c> (verifier | frontend, default verifier); engine options from <c>Synera:Verifier</c>.</summary>
    public static ISiloBuilder AddSynera(this ISiloBuilder silo, IConfiguration configuration, Action<VerifierOptions>? configure = null)
    {
        var roleText = configuration["Synera:Role"] ?? "verifier";
        if (!Enum.TryParse<SiloRole>(roleText, ignoreCase: true, out var role))
            throw new InvalidOperationException($"Synera:Role '{roleText}' is not a role (verifier or frontend)");
        var options = silo.Services.AddOptions<VerifierOptions>().Bind(configuration.GetSection(VerifierOptions.Section));
        if (configure is not null) options.Configure(configure);
        silo.Services.AddOptions<SecurityOptions>().Bind(configuration.GetSection(SecurityOptions.Section));
        return silo.AddSynera(role);
    }

    /// <summary>Registers Synera for a silo of the given role.</summary>
    public static ISiloBuilder AddSynera(this ISiloBuilder silo, SiloRole role)
    {
        // The memory stream's pulling agents poll their queues (each poll is a call to the queue's grain); the default
        // 100 ms would add up to 100 ms to every verdict. Synera:Streams:PollMs and :Queues trade that latency for the
        // polls' CPU: queues × 1000 / PollMs polls a second across the cluster, busy or idle, each a timer wake-up and a
        // grain call. One queue polled every 4 ms (250 a second; a verdict waits 2 ms for it on average): an idle frontend
        // took 23 % of a core at 2 queues and 2 ms here, and under bench scale the frontend's CPU per verified span fell by
        // about a third. Only frontends read queues, so more queues than frontend silos only add polls (under bench scale,
        // eight queues cost the frontend a quarter more CPU per verified token than two). Give one per frontend silo.
        silo.AddMemoryStreams(SyneraNames.StreamProvider, b =>
        {
            b.ConfigurePartitionBalancing(FrontendQueueBalancer.Create);   // the pulling agents run on frontend silos
            b.ConfigurePullingAgent(o => o.Configure<IConfiguration>((a, c) =>
            {
                a.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(c.GetValue("Synera:Streams:PollMs", DefaultStreamPollMs));
                // Every poll scans the agent's table of streams (Orleans 10 pauses reading while one registers). A stream
                // leaves it when its last subscriber does, or after this long without events (default 30 minutes): one
                // that got a verdict after its device unsubscribed (an answer abandoned with spans in flight) stayed half
                // an hour. A session silent for a minute re-registers at its next verdict.
                a.StreamInactivityPeriod = TimeSpan.FromMinutes(1);
            }));
            b.Configure<HashRingStreamQueueMapperOptions>(o => o.Configure<IConfiguration>((q, c) =>
                q.TotalQueueCount = c.GetValue("Synera:Streams:Queues", DefaultStreamQueues)));
        });
        // Orleans places every new activation through a Polly pipeline that logs each run at Information: with a session
        // grain (and its stream's pub-sub grain) per answer that is dozens of lines a second on a frontend (7,800 in one
        // bench scale run), burying the logs people read.
        silo.Services.Configure<LoggerFilterOptions>(o => o.AddFilter("Polly", LogLevel.Warning));
        silo.Services.AddOptions<VerifierOptions>();
        silo.Services.AddSingleton<IValidateOptions<VerifierOptions>, VerifierOptionsValidator>();
        silo.Services.AddSingleton(new SiloRoleInfo(role));
        silo.Services.AddSingleton<SiloRoles>();
        silo.AddPlacementDirector<LeastLoadedVerifierPlacement, LeastLoadedVerifierPlacementDirector>();
        silo.AddPlacementDirector<FrontendPlacement, FrontendPlacementDirector>();
        silo.AddPlacementDirector<SiloKeyedPlacement, SiloKeyedPlacementDirector>();
        // Every grain without its own placement (the device records, the load board, and Orleans' stream queue and
        // pub-sub grains) goes to a frontend silo too: the verdict streams' traffic stays off the engines' cores.
        silo.Services.AddSingleton<PlacementStrategy, FrontendPlacement>();
        silo.UseSiloMetadata(new Dictionary<string, string> { [SiloRoles.RoleKey] = role.ToString() });   // read through SiloRoles
        silo.AddActivityPropagation();   // grain calls continue the caller's trace (device → session → verifier)
        silo.Services.AddOptions<SecurityOptions>();
        silo.Services.AddSingleton<DeviceRecordCache>();
        silo.Services.AddSingleton<VerifierIntakeClient>();   // session grains' spans to the verifier silos, batched
        silo.AddIncomingGrainCallFilter<TrustBoundaryCallFilter>();   // the trust boundary: internal methods, operator methods, device keys
        if (role == SiloRole.Verifier)
        {
            silo.Services.AddSingleton<OrleansVerdictSink>();
            silo.Services.AddSingleton<EngineEntrance>();
            silo.Services.AddSingleton(CreateEngine);
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, VerifierEngineStartup>();
            silo.Services.AddHostedService<VerifierLoadPublisher>();
            silo.Services.AddHostedService<VerifierActivityLog>();
        }
        else
        {
            // Heterogeneous silos: without the class, placement never picks this silo for a verifier grain.
            silo.Services.Configure<GrainTypeOptions>(o => { o.Classes.Remove(typeof(VerifierGrain)); o.Classes.Remove(typeof(VerifierIntakeGrain)); });
        }
        return silo;
    }

    private static VerificationEngine CreateEngine(IServiceProvider services)
    {
        var o = services.GetRequiredService<IOptions<VerifierOptions>>().Value;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger<VerificationEngine>();
        if (o.Threads > 0) TorchSharp.torch.set_num_threads(o.Threads);
        var device = TorchModelRunner.SelectDevice(o.Device);
        var dtype = ModelCheckpoint.ResolveDtype(o.ModelPath, o.Dtype, device);
        var load = System.Diagnostics.Stopwatch.StartNew();
        var (model, tokenizer) = ModelCheckpoint.Load(o.ModelPath, device, dtype);
        logger.LogInformation("Verifier loaded {Model} ({Parameters:N0} parameters, {Dtype}) on {Device} in {Seconds:F1} s",
            o.ModelPath, model.Config.NumParameters, dtype.Name(), device.type, load.Elapsed.TotalSeconds);
        var torchRunner = new TorchModelRunner(model, device, o.KvCacheBudgetBytes, Path.GetFileName(Path.GetFullPath(o.ModelPath).TrimEnd('/')), o.MaxSpanTokens,
            tokenizer, o.MaxContextTokens);
        var kv = torchRunner.KvCache.Layout;
        logger.LogInformation("KV cache: {Bytes:N0} bytes per token, {Context} tokens per session, {Sessions} sessions in {Budget:N0} bytes",
            kv.BytesPerPosition, kv.Positions, torchRunner.KvCache.MaxSessions, o.KvCacheBudgetBytes);
        var warmUp = System.Diagnostics.Stopwatch.StartNew();
        torchRunner.WarmUp(o.MaxTokensPerStep);
        logger.LogInformation("Verifier warmed up in {Ms:F0} ms (a full step of {Tokens} tokens, prefill and continuation)", warmUp.Elapsed.TotalMilliseconds, o.MaxTokensPerStep);
        IVerifierModelRunner runner = torchRunner;
        if (!string.IsNullOrEmpty(o.CostModel))
        {
            var cost = StepCostModel.Load(o.CostModel);
            runner = new CostModelledRunner(torchRunner, cost, o.TimeScale);
            // The load controller's target is a latency: under a time scale it stretches like every other clock.
            o.TargetP99Ms *= o.TimeScale;
            logger.LogWarning("Verifier steps timed by the cost model {CostModel} ({Hardware}, {Model} layers × {Hidden}) at {Scale}× time: a projection, not this machine's speed",
                cost.Name, cost.Hardware.Name, cost.Model.NumLayers, cost.Model.HiddenSize, o.TimeScale);
        }
        var engine = new VerificationEngine(runner, new ContinuousBatchScheduler(o), o, services.GetRequiredService<OrleansVerdictSink>(),
            logger, new VerifierMetrics(services.GetService<IMeterFactory>()));
        engine.Start();
        return engine;
    }
}

/// <summary>The role this silo was started with.</summary>
public sealed record SiloRoleInfo(SiloRole Role);

/// <summary>
/// Creates the engine (model loaded, warmed up) while the silo starts, before it joins the cluster as active: a missing
/// or broken model stops the silo with a clear error, and placement never sends a session to a verifier still loading
/// its model or running its first, slow steps.
/// </summary>
internal sealed class VerifierEngineStartup(IServiceProvider services) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(VerifierEngineStartup), ServiceLifecycleStage.ApplicationServices, _ =>
        {
            services.GetRequiredService<VerificationEngine>();
            return Task.CompletedTask;
        });
}

using Synera.Abstractions.Sampling;
using Microsoft.Extensions.Logging.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Options;
using Synera.Grains.Verification;
using Synera.Models;
using static TorchSharp.torch;

namespace Synera.Tests;

/// <summary>A verification engine over a real model, stepped by the test (no thread), collecting verdicts.</summary>
public sealed class EngineHarness : IDisposable, IVerdictSink
{
    public List<Verdict> Verdicts { get; } = [];
    public VerificationEngine Engine { get; }
    public TorchModelRunner Runner { get; }

    /// <param name="wrapRunner">Puts something between the engine and the real runner (fault injection).</param>
    /// <param name="sink">Where verdicts go instead of <see cref="Verdicts"/> (a sink that acknowledges them late).</param>
    public EngineHarness(string modelDir, VerifierOptions? options = null, Func<IVerifierModelRunner, IVerifierModelRunner>? wrapRunner = null,
        IVerdictSink? sink = null)
    {
        options ??= new VerifierOptions();
        var (model, _) = ModelCheckpoint.Load(modelDir);
        Runner = new TorchModelRunner(model, CPU, options.KvCacheBudgetBytes, "test", options.MaxSpanTokens);
        Engine = new VerificationEngine(wrapRunner?.Invoke(Runner) ?? Runner, new ContinuousBatchScheduler(options), options, sink ?? this, NullLogger.Instance);
    }

    public Task DeliverAsync(Verdict verdict)
    {
        lock (Verdicts) Verdicts.Add(verdict);
        return Task.CompletedTask;
    }

    /// <summary>Steps until no request is waiting; then waits for the chained deliveries.</summary>
    public void RunUntilIdle()
    {
        while (Engine.Step() > 0) { }
        Assert.True(Engine.DeliveriesCompleted().Wait(TimeSpan.FromSeconds(30)), "verdict deliveries did not complete");
    }

    public static SessionSetup Setup(int[] history) => new(history, 0, SamplingSettings.Greedy, 500);

    public void Dispose() => Engine.Dispose();
}

/// <summary>
/// The real runner with a hook that runs on the engine's thread before each forward, given the step's inputs: a test looks at
/// the engine mid-step, changes it meanwhile (a release racing the forward), or throws (an accelerator fault).
/// </summary>
public sealed class HookedRunner(IVerifierModelRunner inner, Action<IReadOnlyList<RunnerInput>> beforeForward) : IVerifierModelRunner
{
    public VerifierModelInfo Info => inner.Info;
    public IReadOnlySet<int> EosTokenIds => inner.EosTokenIds;
    public KvCacheManager KvCache => inner.KvCache;

    public IReadOnlyList<RunnerOutput> Execute(IReadOnlyList<RunnerInput> inputs)
    {
        beforeForward(inputs);
        return inner.Execute(inputs);
    }

    public void Dispose() => inner.Dispose();
}

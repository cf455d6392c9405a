using Synera.Abstractions.Messages;
using System.Diagnostics;

namespace Synera.Grains.Verification;

/// <summary>
/// A model runner whose steps take the time a <see cref="StepCostModel"/> gives for them (× <paramref name="timeScale"/>),
/// for hardware this machine does not have: the real runner still computes every logit, so every verdict is the real
/// model's, and the step is then held until the modelled time has passed. With a time scale k every other clock of a
/// benchmark (device pace, link, timeouts) runs k times slower too, which leaves room for this machine's forward inside a
/// modelled step of a much faster machine; a step whose forward outlasts its modelled time is counted in
/// <see cref="NumOverruns"/>, and a run with many of them measured this machine, not the model.
/// </summary>
public sealed class CostModelledRunner(IVerifierModelRunner inner, StepCostModel model, double timeScale) : IVerifierModelRunner
{
    private long overruns;

    /// <summary>Steps whose real forward outlasted the modelled time (the engine counts steps and busy time itself).</summary>
    public long NumOverruns => Interlocked.Read(ref overruns);

    public VerifierModelInfo Info => inner.Info;
    public IReadOnlySet<int> EosTokenIds => inner.EosTokenIds;
    public KvCacheManager KvCache => inner.KvCache;

    public IReadOnlyList<RunnerOutput> Execute(IReadOnlyList<RunnerInput> inputs)
    {
        var start = Stopwatch.GetTimestamp();
        var outputs = inner.Execute(inputs);
        double modelled = model.StepMs(inputs);
        var target = TimeSpan.FromMilliseconds(modelled * timeScale);
        var elapsed = Stopwatch.GetElapsedTime(start);
        if (elapsed > target) { Interlocked.Increment(ref overruns); return outputs; }
        // Sleep most of the rest, spin the last millisecond: a timer's granularity would add a millisecond to every step.
        if (target - elapsed > TimeSpan.FromMilliseconds(2)) Thread.Sleep(target - elapsed - TimeSpan.FromMilliseconds(1));
        while (Stopwatch.GetElapsedTime(start) < target) Thread.SpinWait(50);
        return outputs;
    }

    public void Dispose() => inner.Dispose();
}

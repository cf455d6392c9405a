using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;

namespace Synera.Grains.Verification;

/// <summary>
/// What the engine knows of one session: the committed tokens (its source of truth for KV rebuilds), the
/// epoch (rejections so far) and the sampling state. Touched only on the engine thread, under its lock.
/// </summary>
public sealed class EngineSession(string sessionId, IEnumerable<int> history, int epoch, SamplingSettings sampling, double latencyTargetMs)
{
    public string SessionId { get; } = sessionId;
    public List<int> Tokens { get; } = [.. history];
    public int Epoch { get; set; } = epoch;
    public SamplingSettings Sampling { get; } = sampling;
    /// <summary>Randomness of the q(x) rule (<see cref="SamplingRule.DraftProbability"/>); coupled sampling needs none.</summary>
    public Random Random { get; } = new(sampling.Seed);
    public double LatencyTargetMs { get; } = latencyTargetMs;

    /// <summary>When the last span was accepted whole: the LLM's logits for the position after the committed
    /// tokens (the K/V of all of them is cached). The next span's first draft is judged against them.</summary>
    public float[]? NextLogits { get; set; }

    /// <summary>The kept row standing in for the first row of this step's output (set by the input builder).</summary>
    public float[]? KeptRow { get; set; }

    /// <summary>Set when the session was (re)initialised: how many leading positions of its old KV cache are still
    /// valid (the prefix its old and new histories share; 0 = drop it all). Applied before the next forward.</summary>
    public int? KvKeep { get; set; }

    /// <summary>End position of the last span queued (where the next request must start).</summary>
    public int QueuedEnd { get; set; } = history.Count();

    /// <summary>When a request of the session last arrived or was served (Stopwatch timestamp).</summary>
    public long LastActive { get; set; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>While a correction's continuation is being written: verdicts of the session's later spans (stale, built on
    /// the rejected draft). They leave after the correction's verdict, which must reach the session grain first.</summary>
    public List<Verdict> HeldVerdicts { get; } = [];

    /// <summary>True while a correction's verdict waits for its continuation.</summary>
    public bool CorrectionInProgress { get; set; }

    /// <summary>Completes verdict deliveries in order (one chain per session).</summary>
    public Task LastDelivery { get; set; } = Task.CompletedTask;
}

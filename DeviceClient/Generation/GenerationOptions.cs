using Synera.Abstractions.Messages;
using Synera.Abstractions.Sampling;
using Synera.DeviceClient.Link;
using Synera.DeviceClient.Offloading;

namespace Synera.DeviceClient.Generation;

/// <summary>Per-request generation settings.</summary>
public sealed record GenerationOptions
{
    public GenerationMode Mode { get; init; } = GenerationMode.Synera;
    public int MaxNewTokens { get; init; } = 96;
    /// <summary>Target offload ratio for <c>synera</c> and <c>route</c>.</summary>
    public double Budget { get; init; } = 0.1;

    /// <summary>
    /// A conversation this answer continues (any name unique on the device), or null for a one-off answer. Its cloud
    /// session (<c>{deviceId}/{Conversation}</c>) stays open after the answer, and the next turn re-opens it with the
    /// longer prompt: the verifier keeps the K/V of the prefix both share instead of prefilling it again. Close it
    /// with <see cref="DeviceGenerator.CloseConversationAsync"/>.
    /// </summary>
    public string? Conversation { get; init; }
    public ConfidenceMetric Metric { get; init; } = ConfidenceMetric.TopProbability;
    /// <summary><c>synera</c> or <c>route</c> with a fixed confidence threshold and no budget (a threshold sweep, or the same
    /// token selection for both); null = their own policies under the budget.</summary>
    public double? FixedThreshold { get; init; }
    public bool UseImportance { get; init; }
    /// <summary>Cap on the bytes/s this device sends for verification (0 = none); beyond it tokens stay the SLM's.</summary>
    public double MaxBytesPerSecond { get; init; }
    /// <summary>Scale the budget by the verifier's load factor (load-aware offload control).</summary>
    public bool LoadAware { get; init; } = true;
    /// <summary>Drafts per span in <c>spec</c> mode.</summary>
    public int SpecSpanLength { get; init; } = 4;
    /// <summary>When a token is flagged, also draft on from the draft's runner-up token (greedy <c>synera</c>): a correction
    /// to it finds its continuation ready (see GenerationLoop's Branch). Costs a second forward per step while a branch is open.</summary>
    public bool DraftRunnerUp { get; init; } = true;
    /// <summary>When the cloud corrects a draft (<c>synera</c>), it also writes its next N tokens after the correction and sends them
    /// with it (<see cref="VerifyRequest.CorrectionLookahead"/>). The device resumes drafting past them: a correction then costs
    /// about a round trip less N device steps, and the token after a corrected one, where a burst's next error sits, is the LLM's.
    /// They are the cloud's tokens, not offloads: they do not count against the budget (the bench reports them).</summary>
    public int CorrectionLookahead { get; init; } = 1;
    /// <summary>How far drafting may run ahead of the committed text (<c>synera</c>).</summary>
    public int MaxLookahead { get; init; } = 12;
    /// <summary>0 for greedy; &gt; 0 samples the draft and verifies with speculative sampling.</summary>
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1f;
    /// <summary>Keep only the K most likely tokens when sampling (0: off).</summary>
    public int TopK { get; init; }
    /// <summary>The sampling seed: with the position, it fixes the noise device and cloud draw each token with.</summary>
    public int Seed { get; init; }
    /// <summary>How the cloud verifies sampled drafts (see <see cref="SamplingRule"/>); coupled is exact.</summary>
    public SamplingRule SamplingRule { get; init; } = SamplingRule.Coupled;
    public SamplingSettings Sampling => new(Temperature, TopP, TopK, Seed, SamplingRule);
    public double LatencyTargetMs { get; init; } = 500;
    /// <summary>The device's fair-share tier at the verifier (a tier of the deployment's <c>TierWeights</c>).</summary>
    public string Tier { get; init; } = SessionOptions.DefaultTier;
    public LinkOptions Link { get; init; } = LinkOptions.None;
    /// <summary>Give up waiting for a verdict after this long and keep the device's own tokens.</summary>
    public TimeSpan VerdictTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Waiting this long for a verdict (plus the link's RTT), the device asks its session grain to resynchronise
    /// and catches up from the grain's committed tokens: a verdict lost with a silo costs a stall, not the answer.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(2);
}

using Microsoft.Extensions.Options;
using Synera.Abstractions.Messages;

namespace Synera.Grains.Options;

/// <summary>Settings of a verifier silo's engine (section <c>Synera:Verifier</c>).</summary>
public sealed class VerifierOptions
{
    public const string Section = "Synera:Verifier";
    public const int DefaultMaxSpanTokens = 64;
    public const int DefaultMaxTokensPerStep = 1024;
    public const int DefaultMaxQueuedRequests = 4096;
    public const long DefaultKvCacheBudgetBytes = 512L * 1024 * 1024;

    /// <summary>Model folder in the Hugging Face layout (config.json, model.safetensors or shards with
    /// model.safetensors.index.json, tokenizer.json, tokenizer_config.json, generation_config.json).</summary>
    public string ModelPath { get; set; } = "models/target";

    /// <summary>Weights' dtype: <c>auto</c> (bf16 on CUDA, float32 on CPU), <c>float32</c>, <c>bfloat16</c>, <c>float16</c> (CUDA).</summary>
    public string Dtype { get; set; } = "auto";

    /// <summary>Longest session (prompt + answer) a KV slot holds; 0 = the model's max_position_embeddings, at most 4,096.
    /// Slots are sized to it, so it sets how many sessions <see cref="KvCacheBudgetBytes"/> holds.</summary>
    public int MaxContextTokens { get; set; }

    /// <summary><c>auto</c> (cuda when available), <c>cuda</c> or <c>cpu</c>.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>
    /// A step cost model file (<c>models/cost/*.json</c>): every engine step then takes the time the model gives for the
    /// hardware and model it describes (× <see cref="TimeScale"/>), while the real model still decides every verdict. For
    /// capacity projections of hardware this machine does not have; empty (the default) for real serving.
    /// </summary>
    public string? CostModel { get; set; }

    /// <summary>With a <see cref="CostModel"/>: how many times slower than the modelled hardware the cluster's clocks run
    /// (1 = real time). The verifier's latency target is scaled with it.</summary>
    public double TimeScale { get; set; } = 1;

    /// <summary>TorchSharp intra-op threads (0 = all cores).</summary>
    public int Threads { get; set; }

    /// <summary>Largest span (context + drafts) one request may carry.</summary>
    public int MaxSpanTokens { get; set; } = DefaultMaxSpanTokens;

    /// <summary>Token budget of one engine step (sum of input tokens of all batched requests).</summary>
    public int MaxTokensPerStep { get; set; } = DefaultMaxTokensPerStep;

    /// <summary>Requests allowed to wait; beyond it the verifier answers Overloaded (back-pressure).</summary>
    public int MaxQueuedRequests { get; set; } = DefaultMaxQueuedRequests;

    /// <summary>Memory for resident session KV caches; least recently used sessions are evicted beyond it.</summary>
    public long KvCacheBudgetBytes { get; set; } = DefaultKvCacheBudgetBytes;

    /// <summary>p99 verify latency the load controller aims to keep (ms).</summary>
    public double TargetP99Ms { get; set; } = 250;

    /// <summary>
    /// A session with no request for this long is forgotten by the engine (tokens and KV slot), so devices that
    /// vanish without closing cost nothing. One that comes back is answered NeedsHistory and resent by its grain.
    /// </summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How often a session grain with spans in flight checks on them. A span whose verifier no longer holds the session
    /// (restarted, failed over, expired), or whose verifier answered it without the verdict arriving, will never be
    /// answered: the grain resynchronises the device instead of leaving it to its verdict timeout.
    /// </summary>
    public TimeSpan InFlightCheckPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Sessions one device may hold open at once (a quota the cloud enforces in the device's grain). A session that is
    /// never closed stops counting after <see cref="SessionIdleTimeout"/>.
    /// </summary>
    public int MaxSessionsPerDevice { get; set; } = 16;

    /// <summary>
    /// Spans one device may have waiting in this verifier's queue, over all its sessions; beyond it the verifier answers
    /// Overloaded to that device only (it keeps its own tokens), so one device cannot fill the shared queue.
    /// </summary>
    public int MaxQueuedSpansPerDevice { get; set; } = 64;

    /// <summary>How often a verifier silo logs what it served (spans, sessions, p99); zero or less turns it off.</summary>
    public TimeSpan ActivityLogPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Weight of each session tier under load (<c>Synera:Verifier:TierWeights:premium = 2</c>). A session of weight w
    /// scales its budget by f^(1/w), where f is the verifier's load factor: all tiers keep their full budget when
    /// f = 1, a heavier tier is cut less when f falls, and every session of a tier gets the same cut (fair share).
    /// The tier <c>default</c> has weight 1 unless listed; with weights configured, any other tier must be listed.
    /// </summary>
    public Dictionary<string, double> TierWeights { get; set; } = [];

    /// <summary>The weight of <paramref name="tier"/>, or null when it is not a tier of this deployment.</summary>
    public double? WeightOf(string tier) =>
        TierWeights.TryGetValue(tier, out var w) ? w : tier == SessionOptions.DefaultTier || TierWeights.Count == 0 ? 1.0 : null;

    /// <summary>What is wrong with <paramref name="tier"/> as a tier of this deployment, or null.</summary>
    public string? TierProblem(string? tier) =>
        tier is not null && WeightOf(tier) is not null ? null
        : $"tier '{tier}' is not one of this deployment's: {string.Join(", ", TierWeights.Keys.Append(SessionOptions.DefaultTier).Distinct())}";
}

/// <summary>Checks <see cref="VerifierOptions"/> at start-up.</summary>
public sealed class VerifierOptionsValidator : IValidateOptions<VerifierOptions>
{
    public ValidateOptionsResult Validate(string? name, VerifierOptions o)
    {
        var errors = new List<string>();
        if (o.MaxSpanTokens <= 0) errors.Add($"{nameof(o.MaxSpanTokens)} must be positive");
        if (o.MaxTokensPerStep < o.MaxSpanTokens) errors.Add($"{nameof(o.MaxTokensPerStep)} must be at least {nameof(o.MaxSpanTokens)}");
        if (o.MaxQueuedRequests <= 0) errors.Add($"{nameof(o.MaxQueuedRequests)} must be positive");
        if (o.MaxSessionsPerDevice <= 0) errors.Add($"{nameof(o.MaxSessionsPerDevice)} must be positive");
        if (o.MaxQueuedSpansPerDevice <= 0) errors.Add($"{nameof(o.MaxQueuedSpansPerDevice)} must be positive");
        if (o.KvCacheBudgetBytes <= 0) errors.Add($"{nameof(o.KvCacheBudgetBytes)} must be positive");
        if (o.MaxContextTokens < 0) errors.Add($"{nameof(o.MaxContextTokens)} must be 0 (the model's) or positive");
        if (o.Dtype.ToLowerInvariant() is not ("auto" or "float32" or "fp32" or "bfloat16" or "bf16" or "float16" or "fp16" or "half"))
            errors.Add($"{nameof(o.Dtype)} must be auto, float32, bfloat16 or float16, not '{o.Dtype}'");
        if (!(o.TimeScale >= 1) || double.IsInfinity(o.TimeScale)) errors.Add($"{nameof(o.TimeScale)} must be 1 or more, not {o.TimeScale}");
        if (!string.IsNullOrEmpty(o.CostModel) && !File.Exists(o.CostModel)) errors.Add($"{nameof(o.CostModel)}: no file {o.CostModel}");
        if (o.SessionIdleTimeout <= TimeSpan.Zero) errors.Add($"{nameof(o.SessionIdleTimeout)} must be positive");
        if (o.InFlightCheckPeriod <= TimeSpan.Zero) errors.Add($"{nameof(o.InFlightCheckPeriod)} must be positive");
        if (o.Device is not ("auto" or "cpu" or "cuda")) errors.Add($"{nameof(o.Device)} must be auto, cpu or cuda, not '{o.Device}'");
        foreach (var (tier, weight) in o.TierWeights)
            if (!(weight > 0) || double.IsInfinity(weight)) errors.Add($"{nameof(o.TierWeights)}: tier '{tier}' has weight {weight}; weights must be positive and finite");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

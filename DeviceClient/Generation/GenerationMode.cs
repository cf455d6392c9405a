namespace Synera.DeviceClient.Generation;

/// <summary>How a request is served (../shared/DESIGN.md §3); all modes run in the same loop.</summary>
public enum GenerationMode
{
    /// <summary>Device only: lower bound on quality, upper bound on speed.</summary>
    Slm,
    /// <summary>The cloud generates every token (continuous batching); the device only displays.</summary>
    Llm,
    /// <summary>Classic speculative decoding across the link: draft k tokens, verify them, wait, repeat.</summary>
    Spec,
    /// <summary>Per-token confidence routing: a routed token waits for the cloud before drafting goes on.</summary>
    Route,
    /// <summary>Selective offloading under a budget, stall-free drafting with rollback.</summary>
    Synera,
    /// <summary>The offloading oracle: the cloud judges every token (spans of one, waiting), and only the tokens where the
    /// draft's greedy choice differs from the LLM's count as offloaded: the least offload that reaches LLM quality.</summary>
    Oracle,
}

namespace Synera.Abstractions.Messages;

/// <summary>What happened to a request handed to a verifier.</summary>
[GenerateSerializer]
public enum EnqueueStatus
{
    /// <summary>Queued; a verdict follows on the stream.</summary>
    Queued = 0,
    /// <summary>The verifier's queue is full (back-pressure): continue with the SLM, no verdict follows.</summary>
    Overloaded = 1,
    /// <summary>The verifier lacks the session's history (first contact or failover): resend with it.</summary>
    NeedsHistory = 2,
    /// <summary>The request was stale when it arrived (older epoch); no verdict follows.</summary>
    Stale = 3,
    /// <summary>The device is past its long-run offload budget, or its byte budget (bytes/s) is spent for now: continue
    /// with the SLM, no verdict follows.</summary>
    OverBudget = 4,
}

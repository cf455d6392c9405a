using Synera.Abstractions.Messages;

namespace Synera.Grains;

/// <summary>The persisted state of one answer session: its protocol state (committed tokens, epochs, spans in flight).
/// The device's long-run account lives in <see cref="DeviceState"/>.</summary>
[GenerateSerializer]
public sealed record class SessionState
{
    [Id(0)] public bool IsOpen { get; set; }
    [Id(1)] public SessionOptions Options { get; set; } = new(OffloadBudget.None);
    /// <summary>Prompt plus every committed token, as verdicts reported them.</summary>
    [Id(2)] public List<int> CommittedTokenIds { get; set; } = [];
    /// <summary>Rejections (and resyncs) so far; requests from an older epoch are stale.</summary>
    [Id(3)] public int Epoch { get; set; }
    /// <summary>Where the next request must start: the end of the last span accepted for verification.</summary>
    [Id(4)] public int PendingEnd { get; set; }
    [Id(5)] public long LastSeq { get; set; } = -1;
    [Id(6)] public string VerifierId { get; set; } = "";
    /// <summary>False until the verifier has this session's history (set on first request, cleared on failover).</summary>
    [Id(7)] public bool VerifierHasHistory { get; set; }
    [Id(8)] public VerifierModelInfo? Model { get; set; }

    /// <summary>Spans queued at the verifier and not yet answered, oldest first.</summary>
    [Id(14)] public List<InFlightSpan> InFlight { get; set; } = [];
}

/// <summary>A span waiting for its verdict: what the session commits when it is accepted.</summary>
[GenerateSerializer]
public sealed record class InFlightSpan
{
    [Id(0)] public long Seq { get; set; }
    [Id(1)] public int StartPosition { get; set; }
    [Id(2)] public int[] ContextTokenIds { get; set; } = [];
    [Id(3)] public int[] DraftTokenIds { get; set; } = [];
    /// <summary>When the span was queued, or last made progress (a token of a cloud generation).</summary>
    [Id(4)] public DateTime WaitingSinceUtc { get; set; }
}

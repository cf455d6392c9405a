namespace Synera.Abstractions.Messages;

/// <summary>
/// The cloud's answer to one <see cref="VerifyRequest"/>, published on the session's verdict stream.
/// After a <see cref="VerdictKind.Verified"/> verdict the session's committed sequence is the span's
/// context, the first <see cref="NumAccepted"/> drafts, then <see cref="CorrectionTokenId"/> if one was needed and the
/// <see cref="ContinuationTokenIds"/> after it.
/// </summary>
/// <param name="SessionId">The device session.</param>
/// <param name="Seq">The request's sequence number.</param>
/// <param name="Epoch">The epoch the request was drafted in.</param>
/// <param name="Kind">What this verdict says.</param>
/// <param name="StartPosition">The request's start position.</param>
/// <param name="NumAccepted">How many drafts were accepted, in order.</param>
/// <param name="CorrectionTokenId">The LLM's token at the first rejected position, or -1 when all were accepted.</param>
/// <param name="NextTokenId">The LLM's token after the span when all were accepted (a free look-ahead), else -1.
/// For <see cref="VerdictKind.Generated"/>, the generated token.</param>
/// <param name="CommittedLength">Length of the session's committed sequence after this verdict.</param>
/// <param name="VerifyMs">Time from enqueue to verdict in the verifier.</param>
/// <param name="Message">Why a request was stale or failed.</param>
/// <param name="ContinuationTokenIds">After a correction, the LLM's next tokens (<see cref="VerifyRequest.CorrectionLookahead"/>),
/// committed right after it; empty otherwise.</param>
[GenerateSerializer, Immutable]
public sealed record Verdict(
    [property: Id(0)] string SessionId,
    [property: Id(1)] long Seq,
    [property: Id(2)] int Epoch,
    [property: Id(3)] VerdictKind Kind,
    [property: Id(4)] int StartPosition,
    [property: Id(5)] int NumAccepted,
    [property: Id(6)] int CorrectionTokenId,
    [property: Id(7)] int NextTokenId,
    [property: Id(8)] int CommittedLength,
    [property: Id(9)] double VerifyMs = 0,
    [property: Id(10)] string? Message = null,
    [property: Id(11)] int[]? ContinuationTokenIds = null)
{
    /// <summary>The LLM's tokens after the correction (never null).</summary>
    public int[] Continuation => ContinuationTokenIds ?? [];

    /// <summary>True when a draft was rejected and replaced by <see cref="CorrectionTokenId"/>.</summary>
    public bool IsRejection => Kind == VerdictKind.Verified && CorrectionTokenId >= 0;

    /// <summary>Bytes on the wire.</summary>
    public int WireBytes => 40 + SessionId.Length + 4 * Continuation.Length;
}

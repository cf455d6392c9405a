namespace Synera.Abstractions.Messages;

/// <summary>
/// A span the device asks the cloud to verify. Tokens <c>[StartPosition, StartPosition + Context + Draft)</c>
/// extend the session's committed sequence: <see cref="ContextTokenIds"/> are already committed on the device
/// (never offloaded, so not judged, only appended); <see cref="DraftTokenIds"/> are judged one by one.
/// </summary>
/// <param name="SessionId">The device session.</param>
/// <param name="Seq">Per-session sequence number, increasing by one per request.</param>
/// <param name="Epoch">Number of rejections the device had seen when it drafted this span; a request from an
/// older epoch is stale (it was built on tokens the cloud has since replaced).</param>
/// <param name="StartPosition">Position of the first token of the span in the session's sequence.</param>
/// <param name="ContextTokenIds">Committed but unverified tokens before the drafts.</param>
/// <param name="DraftTokenIds">Drafted tokens to verify.</param>
/// <param name="DraftProbs">The draft model's probability of each drafted token (speculative sampling).</param>
/// <param name="MaxNewTokens">0 to verify only; N &gt; 0 to let the cloud generate N tokens after the span
/// (the <c>llm</c> mode), each sent back as its own verdict.</param>
/// <param name="SentAtUnixMs">Device clock when sent, for latency targets.</param>
/// <param name="CorrectionLookahead">When a draft is rejected, the cloud also writes its next N tokens after the correction
/// and sends them with it (<see cref="Verdict.ContinuationTokenIds"/>): the device resumes drafting past them instead of
/// redrafting the position right after the correction, which is where the next error of a burst most often sits.
/// 0 (the baselines) sends the correction alone; at most <see cref="MaxCorrectionLookahead"/>.</param>
[GenerateSerializer, Immutable]
public sealed record VerifyRequest(
    [property: Id(0)] string SessionId,
    [property: Id(1)] long Seq,
    [property: Id(2)] int Epoch,
    [property: Id(3)] int StartPosition,
    [property: Id(4)] int[] ContextTokenIds,
    [property: Id(5)] int[] DraftTokenIds,
    [property: Id(6)] float[] DraftProbs,
    [property: Id(7)] int MaxNewTokens = 0,
    [property: Id(8)] long SentAtUnixMs = 0,
    [property: Id(9)] int CorrectionLookahead = 0)
{
    /// <summary>The most tokens a correction may bring with it: each costs the verifier one more engine step before the
    /// verdict leaves, so a long continuation would delay the correction itself.</summary>
    public const int MaxCorrectionLookahead = 4;

    /// <summary>Tokens the span adds to the sequence if every draft is accepted.</summary>
    public int NumTokens => ContextTokenIds.Length + DraftTokenIds.Length;

    /// <summary>Bytes on the wire: 4 per token id, 4 per probability, plus a fixed header.</summary>
    public int WireBytes => 32 + SessionId.Length + 4 * NumTokens + 4 * DraftProbs.Length;
}

using Synera.Abstractions.Messages;

namespace Synera.Grains.Verification;

/// <summary>A request inside the engine: the device's request plus when it arrived and when it is due.</summary>
public sealed class EngineRequest(VerifyRequest request, long arrivalTimestamp, double latencyTargetMs)
{
    public VerifyRequest Request { get; } = request;
    public string SessionId => Request.SessionId;

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp of arrival.</summary>
    public long ArrivalTimestamp { get; } = arrivalTimestamp;

    /// <summary>Milliseconds after arrival by which the device wants the verdict.</summary>
    public double LatencyTargetMs { get; } = latencyTargetMs;

    /// <summary>Cloud-side tokens still to generate (<c>llm</c> mode); 0 for pure verification.</summary>
    public int RemainingNewTokens { get; set; } = request.MaxNewTokens;

    /// <summary>The trace the request arrived in (the enqueue call's activity): the engine's work on it joins that trace.</summary>
    public System.Diagnostics.ActivityContext Parent { get; init; }

    /// <summary>True for the continuation steps of cloud-side generation (no drafts, no context).</summary>
    public bool IsContinuation { get; init; }

    /// <summary>For the steps that write a correction's continuation: the rejection whose verdict waits for them.</summary>
    public PendingCorrection? Correction { get; init; }

    /// <summary>Time left before the deadline, at <paramref name="nowTimestamp"/> (negative when late).</summary>
    public double SlackMs(long nowTimestamp) =>
        LatencyTargetMs - System.Diagnostics.Stopwatch.GetElapsedTime(ArrivalTimestamp, nowTimestamp).TotalMilliseconds;
}

/// <summary>
/// A rejection whose verdict waits for the LLM's next tokens (<see cref="VerifyRequest.CorrectionLookahead"/>): what the
/// verdict will say, and the continuation written so far. The verdict leaves once the continuation is complete.
/// </summary>
public sealed class PendingCorrection(int startPosition, int numAccepted, int correctionTokenId)
{
    public int StartPosition { get; } = startPosition;
    public int NumAccepted { get; } = numAccepted;
    public int CorrectionTokenId { get; } = correctionTokenId;
    public List<int> Continuation { get; } = [];
}

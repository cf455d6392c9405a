namespace Synera.Grains.Verification;

/// <summary>What the scheduler chose for one engine step.</summary>
/// <param name="Requests">Requests to run, at most one per session (a session's requests stay in order).</param>
/// <param name="NumScheduledTokens">Sum of their input tokens (≤ the step's token budget, unless one request alone exceeds it).</param>
public sealed record SchedulerOutput(IReadOnlyList<EngineRequest> Requests, int NumScheduledTokens)
{
    public static SchedulerOutput Empty { get; } = new([], 0);
    public bool IsEmpty => Requests.Count == 0;
}

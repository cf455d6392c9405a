namespace Synera.Abstractions.Messages;

/// <summary>How much a session may offload: a fraction of its generated tokens, optionally capped in bytes/s.</summary>
/// <param name="TokenFraction">Target offload ratio in [0, 1]: tokens flagged for verification / tokens generated.</param>
/// <param name="MaxBytesPerSecond">Optional cap on uplink bytes per second (0 = none).</param>
[GenerateSerializer, Immutable]
public sealed record OffloadBudget(
    [property: Id(0)] double TokenFraction,
    [property: Id(1)] double MaxBytesPerSecond = 0)
{
    public static OffloadBudget None { get; } = new(0);
    public static OffloadBudget Full { get; } = new(1);

    /// <summary>The limiter that enforces <see cref="MaxBytesPerSecond"/>, or null when there is no cap.</summary>
    public ByteRateLimiter? CreateByteLimiter(double burstSeconds = 1) =>
        MaxBytesPerSecond > 0 ? new ByteRateLimiter(MaxBytesPerSecond, burstSeconds) : null;
}

using System.Threading.RateLimiting;

namespace Synera.Abstractions;

/// <summary>
/// A byte-per-second cap as a token bucket (System.Threading.RateLimiting): one permit per byte, holding at most
/// <c>burstSeconds</c> of them. The device spends from one before it offloads a span; the session grain from its
/// own, so a device that ignores its cap is refused. Spending never waits. The bucket is refilled when spent
/// from, by the time elapsed, not by a timer: a session grain that is dropped without closing leaves no timer behind.
/// </summary>
public sealed class ByteRateLimiter : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
    private readonly TokenBucketRateLimiter bucket;

    public ByteRateLimiter(double bytesPerSecond, double burstSeconds = 1)
    {
        if (!(bytesPerSecond > 0)) throw new ArgumentOutOfRangeException(nameof(bytesPerSecond), $"a byte cap of {bytesPerSecond}/s");
        int perPeriod = (int)Math.Max(1, Math.Round(bytesPerSecond * Period.TotalSeconds));
        BurstBytes = (int)Math.Clamp(bytesPerSecond * burstSeconds, perPeriod, int.MaxValue);
        bucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = BurstBytes, TokensPerPeriod = perPeriod, ReplenishmentPeriod = Period, AutoReplenishment = false, QueueLimit = 0,
        });
    }

    /// <summary>The most bytes that can be spent at once (a full bucket).</summary>
    public int BurstBytes { get; }

    /// <summary>Takes <paramref name="bytes"/> if they are there now; a message larger than the bucket never fits.</summary>
    public bool TrySpend(int bytes)
    {
        if (bytes <= 0) return true;
        if (bytes > BurstBytes) return false;
        bucket.TryReplenish();
        using var lease = bucket.AttemptAcquire(bytes);
        return lease.IsAcquired;
    }

    public void Dispose() => bucket.Dispose();
}

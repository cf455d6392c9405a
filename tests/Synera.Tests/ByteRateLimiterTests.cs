using Synera.Abstractions;

namespace Synera.Tests;

/// <summary>The byte budget's token bucket: a burst, then the rate, refilled by elapsed time.</summary>
public class ByteRateLimiterTests
{
    [Fact]
    public void SpendsTheBurstThenTheRate()
    {
        using var limiter = new ByteRateLimiter(bytesPerSecond: 1000, burstSeconds: 1);
        Assert.Equal(1000, limiter.BurstBytes);
        Assert.False(limiter.TrySpend(1001));                            // larger than the bucket: never fits
        Assert.True(limiter.TrySpend(600));
        Assert.True(limiter.TrySpend(400));
        Assert.False(limiter.TrySpend(50));                              // empty
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long spent = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(1.5))
        {
            while (limiter.TrySpend(50)) spent += 50;                   // all that is there, however late this thread runs
            Thread.Sleep(10);
        }
        var seconds = clock.Elapsed.TotalSeconds;
        Assert.True(spent <= 1000 * seconds + 50, $"{spent} B in {seconds:F2} s at 1000 B/s");
        Assert.True(spent >= 500 * seconds, $"only {spent} B in {seconds:F2} s at 1000 B/s: the bucket does not refill");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    public void ACapMustBePositive(double rate) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ByteRateLimiter(rate));
}

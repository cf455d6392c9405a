using Synera.Cli.Commands;

namespace Synera.Tests;

/// <summary>A device's steady load rides out a failed answer, stops after five in a row, and a single answer fails as before.</summary>
public class RepeatedAnswersTests
{
    [Fact]
    public async Task AFailedAnswerIsReportedAndTheDeviceGoesOn()
    {
        var answered = new List<int>();
        var reported = new List<int>();
        int failures = await RepeatedAnswers.RunAsync(6, i =>
        {
            if (i is 1 or 4) throw new InvalidOperationException($"answer {i} broke");
            answered.Add(i);
            return Task.CompletedTask;
        }, (i, e) => { reported.Add(i); Assert.Equal($"answer {i} broke", e.Message); }, CancellationToken.None);
        Assert.Equal(2, failures);
        Assert.Equal([0, 2, 3, 5], answered);
        Assert.Equal([1, 4], reported);
    }

    [Fact]
    public async Task FiveFailuresInARowStopTheDevice()
    {
        int calls = 0;
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => RepeatedAnswers.RunAsync(100, i =>
        {
            calls++;
            // One good answer resets the count: failures 0–3, a success, then five more.
            return i == 4 ? Task.CompletedTask : throw new TimeoutException($"cloud gone ({i})");
        }, (_, _) => { }, CancellationToken.None));
        Assert.Equal(4 + 1 + RepeatedAnswers.MaxConsecutiveFailures, calls);
        Assert.Contains("5 answers in a row failed", e.Message);
        Assert.IsType<TimeoutException>(e.InnerException);
    }

    [Fact]
    public async Task ASingleAnswerFailsWithItsOwnError()
    {
        bool reported = false;
        await Assert.ThrowsAsync<ArgumentException>(() => RepeatedAnswers.RunAsync(1, _ => throw new ArgumentException("bad prompt"),
            (_, _) => reported = true, CancellationToken.None));
        Assert.False(reported);
    }

    [Fact]
    public async Task CancellingEndsTheLoopAndIsNotAFailure()
    {
        using var cancel = new CancellationTokenSource();
        int calls = 0;
        await Assert.ThrowsAsync<OperationCanceledException>(() => RepeatedAnswers.RunAsync(10, i =>
        {
            calls++;
            if (i == 2) { cancel.Cancel(); throw new OperationCanceledException(cancel.Token); }
            return Task.CompletedTask;
        }, (_, _) => throw new Xunit.Sdk.XunitException("a cancelled answer is not a failure"), cancel.Token));
        Assert.Equal(3, calls);
    }
}

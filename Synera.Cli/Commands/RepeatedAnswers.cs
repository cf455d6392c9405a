namespace Synera.Cli.Commands;

/// <summary>
/// A device's steady load (<c>generate --repeat N</c>): one answer after another. One failed answer is reported and the
/// device goes on, as a device app would; <see cref="MaxConsecutiveFailures"/> in a row end it, since then the device or
/// the cloud is broken, not one answer. A single answer (<c>N = 1</c>) fails as it always did: with its own exception.
/// </summary>
public static class RepeatedAnswers
{
    public const int MaxConsecutiveFailures = 5;

    /// <returns>How many answers failed.</returns>
    public static async Task<int> RunAsync(int count, Func<int, Task> answer, Action<int, Exception> reportFailure, CancellationToken cancellation)
    {
        int failed = 0, inARow = 0;
        for (int i = 0; i < count && !cancellation.IsCancellationRequested; i++)
        {
            try
            {
                await answer(i);
                inARow = 0;
            }
            catch (Exception e) when (count > 1 && !(e is OperationCanceledException && cancellation.IsCancellationRequested))
            {
                (failed, inARow) = (failed + 1, inARow + 1);
                reportFailure(i, e);
                if (inARow >= MaxConsecutiveFailures)
                    throw new InvalidOperationException($"{inARow} answers in a row failed, the device stops; the last: {e.Message}", e);
            }
        }
        return failed;
    }
}

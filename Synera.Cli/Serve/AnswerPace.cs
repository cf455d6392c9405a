namespace Synera.Cli.Serve;

/// <summary>An answer's pace as its client sees it: time to first token from the request's arrival (session opening and
/// prefill included), and the mean time between the tokens after it.</summary>
public sealed class AnswerPace
{
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
    private double first = -1, last;
    private int count;

    public void Token()
    {
        last = clock.Elapsed.TotalMilliseconds;
        if (count++ == 0) first = last;
    }

    public double TimeToFirstTokenMs => Math.Max(0, first);
    public double TimePerOutputTokenMs => count <= 1 ? 0 : (last - first) / (count - 1);
}

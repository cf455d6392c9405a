namespace Synera.Cli.Commands;

/// <summary>A progress line redrawn in place on a terminal; nothing when stderr is a file or a pipe (a log gets each
/// row's result line instead, not hundreds of carriage returns).</summary>
public static class LiveProgress
{
    private static readonly bool OnTerminal = !Console.IsErrorRedirected;

    public static void Show(string line)
    {
        if (OnTerminal) Console.Error.Write($"\r{line}   ");
    }

    public static void Clear(int width = 120)
    {
        if (OnTerminal) Console.Error.Write("\r" + new string(' ', width) + "\r");
    }
}

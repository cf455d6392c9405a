using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>
/// Forwards a silo's log lines into a test's output, so that a failure in CI shows what the silo said (the
/// console of the test host is not shown there). Lines after the test ended are dropped.
/// </summary>
public sealed class TestOutputLoggerProvider(ITestOutputHelper output, LogLevel minimum = LogLevel.Warning) : ILoggerProvider
{
    private int lines;
    public LogLevel Minimum { get; } = minimum;

    /// <summary>At most this many lines are kept, so a storm of warnings cannot bury the assertion.</summary>
    public const int MaxLines = 200;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private void Write(string line)
    {
        if (Interlocked.Increment(ref lines) > MaxLines) return;
        try { output.WriteLine(line); }
        catch (InvalidOperationException) { }   // the test has finished
    }

    private sealed class Logger(TestOutputLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= provider.Minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            provider.Write($"[{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}] {formatter(state, exception)}{(exception is null ? "" : $" :: {exception.GetType().Name}: {exception.Message}")}");
        }
    }
}

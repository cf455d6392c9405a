using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Synera.DeviceClient.Hosting;

/// <summary>
/// Console logging for programs whose standard output is the answer (<c>synera generate</c>, <c>serve</c>, the embedded
/// cluster they start): every log line goes to standard error, so <c>synera generate … | …</c> reads the answer and its
/// stats line only, whatever Orleans warns about meanwhile.
/// </summary>
public static class StderrConsoleLogging
{
    public static ILoggingBuilder AddStderrConsole(this ILoggingBuilder logging, LogLevel minimum)
    {
        logging.AddSimpleConsole().SetMinimumLevel(minimum);
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        return logging;
    }
}

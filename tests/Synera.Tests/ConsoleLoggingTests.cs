using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Synera.DeviceClient.Hosting;

namespace Synera.Tests;

/// <summary>Programs whose standard output is the answer log to standard error only.</summary>
public class ConsoleLoggingTests
{
    [Fact]
    public void EveryLevelGoesToStandardError()
    {
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddStderrConsole(LogLevel.Information));
        using var provider = services.BuildServiceProvider();
        Assert.Equal(LogLevel.Trace, provider.GetRequiredService<IOptions<ConsoleLoggerOptions>>().Value.LogToStandardErrorThreshold);
        Assert.Contains(provider.GetServices<ILoggerProvider>(), p => p is ConsoleLoggerProvider);
    }
}

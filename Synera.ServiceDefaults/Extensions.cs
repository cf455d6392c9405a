using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Telemetry every Synera host shares: logs, metrics and traces through OpenTelemetry, exported over OTLP
/// when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the Aspire AppHost sets it, so the dashboard shows them).
/// </summary>
public static class SyneraServiceDefaults
{
    /// <summary>Meters and activity sources published by Synera and Orleans.</summary>
    public static readonly string[] Meters = ["Synera.Verifier", "Synera.Device", "Microsoft.Orleans"];
    public static readonly string[] Sources = ["Synera.*", "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(o => { o.IncludeFormattedMessage = true; o.IncludeScopes = true; });
        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(m => m.AddMeter(Meters).AddRuntimeInstrumentationIfPresent())
            .WithTracing(t => t.AddSource(Sources));
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])) telemetry.UseOtlpExporter();
        return builder;
    }

    private static MeterProviderBuilder AddRuntimeInstrumentationIfPresent(this MeterProviderBuilder m) => m.AddMeter("System.Runtime");
}

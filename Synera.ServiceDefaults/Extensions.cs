using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
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

    /// <summary>
    /// For a process without a host (the <c>synera</c> command line as a device): exports Synera's and Orleans' traces and
    /// metrics over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, as the AppHost sets it for its sample devices.
    /// Dispose to flush. Null when nothing is configured.
    /// </summary>
    public static IDisposable? StartOtlpExportIfConfigured(string serviceName)
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"))) return null;
        var resource = ResourceBuilder.CreateDefault().AddService(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") ?? serviceName);
        var tracer = Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource).AddSource(Sources).AddOtlpExporter().Build();
        var meter = Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(Meters).AddOtlpExporter().Build();
        return new Both(tracer, meter);
    }

    private sealed class Both(IDisposable? a, IDisposable? b) : IDisposable
    {
        public void Dispose() { a?.Dispose(); b?.Dispose(); }
    }

    private static MeterProviderBuilder AddRuntimeInstrumentationIfPresent(this MeterProviderBuilder m) => m.AddMeter("System.Runtime");
}

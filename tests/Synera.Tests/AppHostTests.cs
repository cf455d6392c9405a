using System.Collections.Concurrent;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>
/// The developer cluster as <c>dotnet run --project Synera.AppHost</c> starts it, through Aspire.Hosting.Testing: the
/// store, the frontend silo, two verifier silos and two sample devices. A device's answer must complete through the
/// frontend's gateway and a verifier silo, both verifier silos must serve, and the Orleans dashboard must answer. The
/// silos cluster through Aspire's Orleans integration (Redis-protocol membership and storage in the store).
/// </summary>
public class AppHostTests(ITestOutputHelper output)
{
    private static readonly string[] Resources = ["store", "frontend", "verifier-1", "verifier-2", "device-economy", "device-standard"];

    [Fact]
    public async Task TheDeveloperClusterAnswersThroughBothSiloRolesAndBothVerifiersServe()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Synera_AppHost>(["VerifierActivityLogPeriod=00:00:03"], timeout.Token);
        await using var app = await builder.BuildAsync(timeout.Token);
        var logs = app.Services.GetRequiredService<ResourceLoggerService>();
        var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
        // Clustering comes through Aspire's Orleans integration: every silo's Orleans section names the Redis providers,
        // keyed to the store, whose connection string it gets by reference.
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        foreach (var silo in new[] { "frontend", "verifier-1", "verifier-2" })
        {
#pragma warning disable CS0618   // the one-call form of what its replacement (ExecutionConfigurationBuilder) gathers
            var environment = await ((IResourceWithEnvironment)model.Resources.Single(r => r.Name == silo))
                .GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Run);
#pragma warning restore CS0618
            Assert.Equal("Redis", environment["Orleans__Clustering__ProviderType"]);
            Assert.Equal("store", environment["Orleans__Clustering__ServiceKey"]);
            Assert.Equal("Redis", environment["Orleans__GrainStorage__sessions__ProviderType"]);
            Assert.Equal("Redis", environment["Orleans__GrainStorage__PubSubStore__ProviderType"]);
            Assert.Equal("127.0.0.1:6390", environment["ConnectionStrings__store"]);
        }
        await app.StartAsync(timeout.Token);
        // Every resource's log and state, kept so that a failure says what each one was doing.
        var lines = new ConcurrentDictionary<string, ConcurrentQueue<string>>();
        var states = new ConcurrentDictionary<string, string>();
        var watched = new ConcurrentDictionary<string, bool>();
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in notifications.WatchAsync(timeout.Token))
                {
                    states[e.Resource.Name] = $"{e.Snapshot.State?.Text} (exit code {e.Snapshot.ExitCode?.ToString() ?? "-"})";
                    // Logs are kept per resource instance (its id, e.g. frontend-abcd): follow each one once.
                    if (watched.TryAdd(e.ResourceId, true))
                    {
                        var queue = lines.GetOrAdd(e.Resource.Name, _ => new());
                        _ = Task.Run(async () =>
                        {
                            try { await foreach (var batch in logs.WatchAsync(e.ResourceId).WithCancellation(timeout.Token)) foreach (var line in batch) queue.Enqueue(line.Content); }
                            catch (OperationCanceledException) { }
                        });
                    }
                }
            }
            catch (OperationCanceledException) { }
        });
        bool Seen(string resource, Func<string, bool> match) => lines.TryGetValue(resource, out var q) && q.Any(match);
        bool answered = false, served1 = false, served2 = false;
        try
        {
            while (!(answered && served1 && served2))
            {
                await Task.Delay(1000, timeout.Token);
                // The device prints its answer, then a stats line with the offload ratio; each verifier silo logs what it served.
                answered = Seen("device-standard", l => l.Contains("tokens, offload ratio"));
                served1 = Seen("verifier-1", l => l.Contains("spans ("));
                served2 = Seen("verifier-2", l => l.Contains("spans ("));
            }
        }
        catch (OperationCanceledException)
        {
            foreach (var r in Resources)
                output.WriteLine($"--- {r}: {states.GetValueOrDefault(r)} (last lines) ---\n{string.Join("\n", (lines.GetValueOrDefault(r) ?? new()).TakeLast(15))}");
            Assert.Fail($"within 6 minutes: answered {answered}, verifier-1 served {served1}, verifier-2 served {served2} (resource logs above)");
        }
        Assert.Contains(lines["device-standard"], l => System.Text.RegularExpressions.Regex.IsMatch(l, @"synera: \d+ tokens, offload ratio"));
        // It asks the held-out suite's prompts and keeps score of them.
        Assert.Contains(lines["device-standard"], l => System.Text.RegularExpressions.Regex.IsMatch(l, @"(right|wrong).*; \d+/\d+ right \(\d+ %\), offload ratio"));
        // The Orleans dashboard answers on the frontend.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var dashboard = await http.GetAsync("http://127.0.0.1:8090/", timeout.Token);
        Assert.True(dashboard.IsSuccessStatusCode, $"Orleans dashboard: {(int)dashboard.StatusCode}");
        await app.StopAsync(CancellationToken.None);
    }
}

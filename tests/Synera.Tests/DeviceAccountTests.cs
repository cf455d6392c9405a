using System.Threading.Channels;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;

namespace Synera.Tests;

/// <summary>The device's long-run account in the cluster: kept by its device grain across restarts, enforced by the cloud.</summary>
[Collection(ClusterCollection.Name)]
public class DeviceAccountTests(ClusterFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly int[] Prompt = [1, .. TestModels.Tokenizer.Encode("user: What is 1+1?\nassistant: ")];
    private static readonly string[] Prompts = ["What is 12+34?", "Sort 3 1 2.", "Tell me about Tom's red cat."];

    private static GenerationOptions Synera(double budget) => new() { Mode = GenerationMode.Synera, Budget = budget, MaxNewTokens = 24, LoadAware = false };

    [Fact]
    public async Task DeviceThatRestartsWithTheSameIdContinuesItsAccount()
    {
        const string device = "restarting-device";
        long generatedBefore, offloadedBefore;
        using (var runner = new OnnxDraftRunner(Path.Combine(TestModels.TinyDraft, "model.onnx")))
        using (var generator = new DeviceGenerator(fixture.Client, runner, TestModels.Tokenizer, device))
        {
            foreach (var prompt in Prompts)
            {
                var r = await generator.GenerateAsync(prompt, Synera(0.1));
                output.WriteLine($"{r.Stats.NumGenerated} generated, {r.Stats.NumOffloaded} offloaded; account {generator.Policy!.Account.NumGenerated}/{generator.Policy.Account.NumOffloaded}, grain {(await fixture.Client.GetGrain<IDeviceGrain>(device).GetAccountAsync())?.NumGenerated}");
            }
            generatedBefore = generator.Policy!.Account.NumGenerated;
            offloadedBefore = generator.Policy.Account.NumOffloaded;
        }
        Assert.True(generatedBefore >= 30, $"only {generatedBefore} tokens generated");
        Assert.True(offloadedBefore > 0, "the random draft is unsure of most tokens: some were offloaded");
        var stored = await fixture.Client.GetGrain<IDeviceGrain>(device).GetAccountAsync();
        Assert.NotNull(stored);
        Assert.Equal(generatedBefore, stored.NumGenerated);        // the last report was flushed when each answer ended
        Assert.Equal(offloadedBefore, stored.NumOffloaded);

        // A new process: a new Orleans client through the gateway, a new generator, the same device id.
        await using var restarted = await SyneraClientHost.ConnectAsync(fixture.Cluster.GatewayPort, fixture.Cluster.ClusterId);
        using var runner2 = new OnnxDraftRunner(Path.Combine(TestModels.TinyDraft, "model.onnx"));
        using var generator2 = new DeviceGenerator(restarted.Client, runner2, TestModels.Tokenizer, device);
        var result = await generator2.GenerateAsync(Prompts[0], Synera(0.1));
        Assert.Equal(generatedBefore + result.Stats.NumGenerated, generator2.Policy!.Account.NumGenerated);
        Assert.Equal(offloadedBefore + result.Stats.NumOffloaded, generator2.Policy.Account.NumOffloaded);
        // No fresh allowance: the restarted device's ratio is still bounded by the long run.
        Assert.True(generator2.Policy.Account.NumOffloaded <= 0.1 * generator2.Policy.Account.NumGenerated + DeviceAccount.InitialAllowance);
    }

    [Fact]
    public async Task DeviceThatIgnoresItsBudgetIsRefusedAndLosesNothingCommitted()
    {
        // A rogue device talks to its session grain directly, one drafted token per span, and never reports progress.
        const string id = "rogue-device/answer-1";
        var (session, verdicts, info) = await OpenedSession.OpenAsync(fixture.Client, id, new SessionOptions(new OffloadBudget(0.1)), Prompt);
        var draft = TestModels.Tokenizer.Encode("2");
        int queued = 0;
        EnqueueStatus status = EnqueueStatus.Queued;
        for (long seq = 0; seq < 100; seq++)
        {
            var before = await session.GetSnapshotAsync();
            status = await session.VerifyAsync(new VerifyRequest(id, seq, before.Epoch, before.CommittedTokenIds.Length, [], draft, [0.5f]));
            if (status != EnqueueStatus.Queued) break;
            queued++;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while ((await verdicts.Reader.ReadAsync(timeout.Token)).Seq != seq) { }
        }
        Assert.Equal(EnqueueStatus.OverBudget, status);
        // The cloud allows budget × (reported tokens + report lag) + the initial allowance + the tolerance, and no more.
        Assert.Equal((int)Math.Floor(DeviceAccount.CloudAllowance(0.1, 0)), queued);
        var committed = await session.GetSnapshotAsync();
        Assert.Equal(Prompt.Length + queued, committed.CommittedTokenIds.Length);    // every verified span's token stays committed

        // Refused spans change nothing; a device that reports what it generated earns its budget back.
        Assert.Equal(EnqueueStatus.OverBudget, await session.VerifyAsync(new VerifyRequest(id, 200, committed.Epoch, committed.CommittedTokenIds.Length, [], draft, [0.5f])));
        Assert.Equal(committed.CommittedTokenIds, (await session.GetSnapshotAsync()).CommittedTokenIds);
        await session.ReportProgressAsync(new ProgressReport(200, queued, 0, [], 0.5));
        Assert.Equal(EnqueueStatus.Queued, await session.VerifyAsync(new VerifyRequest(id, 201, committed.Epoch, committed.CommittedTokenIds.Length, [], draft, [0.5f])));
    }
}

/// <summary>The device meter: one answer's counts reach a metrics listener (what OpenTelemetry exports).</summary>
public class DeviceMetricsTests
{
    [Fact]
    public void AnAnswersStatsAreRecordedOnTheSyneraDeviceMeter()
    {
        var seen = new Dictionary<string, long>();
        var ratios = new Dictionary<string, double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == DeviceMetrics.MeterName) l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags) if (tag.Key == "mode" && (string?)tag.Value == "oracle") lock (seen) seen[instrument.Name] = seen.GetValueOrDefault(instrument.Name) + value;
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags) if (tag.Key == "mode" && (string?)tag.Value == "oracle") lock (ratios) ratios[instrument.Name] = value;
        });
        listener.Start();
        DeviceMetrics.Record(new GenerationStats { Mode = GenerationMode.Oracle, NumTokens = 12, NumOffloaded = 2, NumJudged = 12, NumAccepted = 10, BytesUp = 300, BytesDown = 200 });
        Assert.Equal(12, seen["synera.device.tokens"]);
        Assert.Equal(2, seen["synera.device.offloaded_tokens"]);
        Assert.Equal(10, seen["synera.device.accepted_drafts"]);
        Assert.Equal(500, seen["synera.device.bytes"]);
        Assert.Equal(2.0 / 12, ratios["synera.device.offload_ratio"], 6);
        Assert.Equal(10.0 / 12, ratios["synera.device.acceptance_rate"], 6);
    }
}

using Synera.Cli.Bench;
using Synera.DeviceClient.Drafting;
using Synera.Models.Data;
using Synera.Tokenizer;
using Xunit.Abstractions;

namespace Synera.Tests;

/// <summary>
/// A verifier that stops answering without dying (SIGSTOP: its connections stay open, as a host cut off or frozen keeps
/// them until someone gives up), in a real cluster of three silo processes with the grain directory and stream state
/// in the store. The device must lose nothing and wait seconds, not the 30 s response timeout of a call to that silo.
/// The partition with network namespaces (root) is <c>synera bench failover --fault partition</c>.
/// </summary>
public class VerifierFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AFrozenVerifierCostsTheDeviceSecondsNotItsAnswer()
    {
        var tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        var prompt = TaskGenerator.ReadJsonl(TestModels.HeldOut).First(e => e.Task == "prose").Prompt;
        var logs = Directory.CreateTempSubdirectory("synera-fault-").FullName;
        var benchmark = new FailoverBenchmark(runner, tokenizer, logs, output.WriteLine, VerifierFault.Pause);
        var run = (await benchmark.RunAsync([prompt], CancellationToken.None)).Single();
        Assert.NotEqual("none (answer ended first)", run.KilledSilo);
        Assert.Equal(0, run.TokensLost);
        Assert.Equal(0, run.TokensDuplicated);
        Assert.False(run.Differs, "the answer differs from the undisturbed one");
        // Membership declares the frozen silo dead after three missed probes of 1 s; the device's stall timeout and a
        // resync move the session on: about 2 s here, against 12 s with Orleans' connection liveness check and 30 s when a call is waited out.
        Assert.InRange(run.LongestPauseMs, 0, 8_000);
    }
}

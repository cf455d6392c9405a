using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Models.Data;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>
/// The draft runner's replay (<see cref="DraftReplayStore"/>), which lets a load benchmark's devices skip their ONNX
/// forwards: a replayed forward must give the logits the model gives, after rollbacks and branch copies, and a context
/// never seen must run the real model over every position the cache skipped.
/// </summary>
[Collection(ShippedClusterCollection.Name)]
public class DraftReplayTests(ShippedClusterFixture fixture)
{
    private static readonly string Draft = Path.Combine(TestModels.ShippedDraft, "model.onnx");

    /// <summary>A device's pattern of calls: a prompt, decode steps, a rollback, a branch copied from the main context.</summary>
    private static List<float[]> Exercise(OnnxDraftRunner runner, OnnxDraftRunner branch)
    {
        var rows = new List<float[]>();
        runner.Reset();
        rows.Add(runner.Forward([1, 20, 21, 22, 23, 24]).ToArray());
        foreach (var t in new[] { 30, 31, 32, 33 }) rows.Add(runner.Forward([t]).ToArray());
        runner.Truncate(7);                                    // a correction rolls back two tokens
        rows.Add(runner.Forward([40]).ToArray());
        branch.CopyFrom(runner, 6);                            // the runner-up branch starts before the last token
        rows.Add(branch.Forward([41]).ToArray());
        rows.Add(branch.Forward([42, 43]).ToArray());
        runner.CopyFrom(branch, branch.Length);                // the branch becomes the main path
        rows.Add(runner.Forward([44]).ToArray());
        return rows;
    }

    [Fact]
    public void ReplayedForwardsEqualTheModels()
    {
        var store = new DraftReplayStore();
        using var recorder = new OnnxDraftRunner(Draft) { Replay = store };
        using var recorderBranch = recorder.CreateSibling();
        var real = Exercise(recorder, recorderBranch);
        Assert.Equal(0, store.Hits);

        store.Replaying = true;
        using var replayer = new OnnxDraftRunner(Draft) { Replay = store };
        using var replayerBranch = replayer.CreateSibling();
        var replayed = Exercise(replayer, replayerBranch);
        Assert.Equal(real.Count, replayed.Count);
        for (int i = 0; i < real.Count; i++) Assert.Equal(real[i], replayed[i]);
        Assert.Equal(real.Count, store.Hits);
        Assert.Equal(0, store.Misses);
        Assert.Equal(0, replayer.Cache.Length);                // nothing ran: the cache holds no position

        // A context never seen runs the model over every position skipped so far, and equals a plain runner's answer.
        var missed = replayer.Forward([50]).ToArray();
        Assert.Equal(1, store.Misses);
        Assert.Equal(replayer.Length, replayer.Cache.Length);
        using var plain = new OnnxDraftRunner(Draft);
        Exercise(plain, plain.CreateSibling());
        var expected = plain.Forward([50]).ToArray();
        for (int v = 0; v < expected.Length; v++) Assert.Equal(expected[v], missed[v], 1e-4f);
    }

    [Fact]
    public async Task AReplayedDeviceAnswersAsTheRealOne()
    {
        var tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));
        var prompts = TaskGenerator.ReadJsonl(TestModels.HeldOut).Where((_, i) => i % 45 == 7).Select(e => e.Prompt).ToList();
        var options = new GenerationOptions { Mode = GenerationMode.Synera, Budget = 0.2, LoadAware = false, MaxNewTokens = 48 };
        var store = new DraftReplayStore();
        async Task<List<GenerationResult>> Answer(string device)
        {
            using var runner = new OnnxDraftRunner(Draft, vocabSize: tokenizer.VocabSize) { Replay = store };
            using var generator = new DeviceGenerator(fixture.Client, runner, tokenizer, device);
            var results = new List<GenerationResult>();
            foreach (var p in prompts) results.Add(await generator.GenerateAsync(p, options));
            return results;
        }
        var real = await Answer($"replay-real-{Guid.NewGuid():N}"[..24]);
        store.Replaying = true;
        var replayed = await Answer($"replay-copy-{Guid.NewGuid():N}"[..24]);
        Assert.Equal(real.Select(r => r.Text), replayed.Select(r => r.Text));
        Assert.Equal(real.Select(r => r.Stats.NumOffloaded), replayed.Select(r => r.Stats.NumOffloaded));
        Assert.Equal(real.Select(r => r.Stats.NumRequests), replayed.Select(r => r.Stats.NumRequests));
        Assert.True(real.Sum(r => r.Stats.NumOffloaded) > 0, "the answers offloaded nothing: the check says nothing about verified spans");
        Assert.True(store.Hits > 10 * Math.Max(1, store.Misses), $"{store.Hits} replayed forwards, {store.Misses} run for real");
    }
}

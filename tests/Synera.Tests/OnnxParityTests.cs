using Synera.DeviceClient.Drafting;
using Synera.Models;
using static TorchSharp.torch;

namespace Synera.Tests;

/// <summary>The ONNX export run by ONNX Runtime matches the TorchSharp model, with and without the KV cache.</summary>
public class OnnxParityTests
{
    private const float Tolerance = 1e-4f;

    public static TheoryData<string> Drafts()
    {
        var data = new TheoryData<string> { "tiny" };
        if (File.Exists(Path.Combine(TestModels.ShippedDraft, "model.onnx"))) data.Add("shipped");
        return data;
    }

    private static string Dir(string which) => which == "tiny" ? TestModels.TinyDraft : TestModels.ShippedDraft;

    [Theory]
    [MemberData(nameof(Drafts))]
    public void PromptThenTwentyCachedDecodeStepsMatchTorchSharp(string which)
    {
        var (model, tokenizer) = ModelCheckpoint.Load(Dir(which));
        using var _ = model;
        using var runner = new OnnxDraftRunner(Path.Combine(Dir(which), "model.onnx"));
        var prompt = new List<int> { tokenizer.BosId };
        prompt.AddRange(tokenizer.Encode("user: What is 12+34?\nassistant: "));
        var ids = new List<int>(prompt);
        float maxDiff = Compare(model, ids, runner.Forward(prompt.ToArray()).ToArray());
        for (int step = 0; step < 20; step++)
        {
            int next = TokenSampler.ArgMax(TorchLast(model, ids));
            ids.Add(next);
            maxDiff = Math.Max(maxDiff, Compare(model, ids, runner.Forward([next]).ToArray()));
        }
        Assert.True(maxDiff <= Tolerance, $"max |ORT − TorchSharp| = {maxDiff}");
        Assert.Equal(ids.Count, runner.Length);
    }

    [Fact]
    public void RollbackLeavesTheCacheEqualToAFreshPrefill()
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.TinyDraft, "model.onnx"));
        using var fresh = new OnnxDraftRunner(Path.Combine(TestModels.TinyDraft, "model.onnx"));
        var committed = TestModels.Tokenizer.Encode("user: Sort 3 1 2.\nassistant: 1 2");
        runner.Forward(committed);
        foreach (var t in TestModels.Tokenizer.Encode(" 9 9 9")) runner.Forward([t]);   // drafts that get rejected
        runner.Truncate(committed.Length);                                                // rejection at position k
        int correction = TestModels.Tokenizer.Encode(" ")[0];
        var afterRollback = runner.Forward([correction]).ToArray();
        var expected = fresh.Forward([.. committed, correction]).ToArray();
        Assert.Equal(committed.Length + 1, runner.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - afterRollback[i]) <= Tolerance, $"logit {i}: {expected[i]} vs {afterRollback[i]}");
    }

    [Fact]
    public void MissingOrForeignOnnxFileGivesAClearError()
    {
        Assert.Throws<FileNotFoundException>(() => new OnnxDraftRunner("/nonexistent/model.onnx"));
    }

    [Fact]
    public void OutOfVocabularyTokenIsRefusedBeforeOnnxRuntime()
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.TinyDraft, "model.onnx"));
        Assert.Throws<ArgumentOutOfRangeException>(() => runner.Forward([1, 5000]));
        Assert.Equal(0, runner.Length);
    }

    private static float[] TorchLast(Transformer model, List<int> ids)
    {
        using var _ = no_grad();
        using var r = model.Forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count]));
        return r.Logits[0, -1].data<float>().ToArray();
    }

    private static float Compare(Transformer model, List<int> ids, float[] onnx)
    {
        var torchLogits = TorchLast(model, ids);
        float max = 0;
        for (int i = 0; i < onnx.Length; i++) max = Math.Max(max, Math.Abs(onnx[i] - torchLogits[i]));
        return max;
    }
}

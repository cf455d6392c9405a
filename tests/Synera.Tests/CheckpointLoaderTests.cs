using Synera.Models;
using static TorchSharp.torch;

namespace Synera.Tests;

/// <summary>Loading HF-layout checkpoints (config.json + model.safetensors + tokenizer.json) that the tests write themselves.</summary>
public class CheckpointLoaderTests
{
    private static string WriteCheckpoint(TransformerConfig config, Action<List<NamedTensor>>? edit = null, string? modelType = null)
    {
        var dir = TestModels.TempDir("ckpt");
        using var model = new Transformer(config, seed: 7);
        var tensors = ModelCheckpoint.ExportTensors(model).ToList();
        edit?.Invoke(tensors);
        (config with { ModelType = modelType ?? config.ModelType }).Save(Path.Combine(dir, "config.json"));
        SafetensorsFile.Write(Path.Combine(dir, "model.safetensors"), tensors, float16: false);
        TestModels.Tokenizer.Save(Path.Combine(dir, "tokenizer.json"));
        return dir;
    }

    private static float[] Logits(Transformer model, long[] ids)
    {
        using var _ = no_grad();
        using var r = model.Forward(tensor(ids, [1, ids.Length]));
        return r.Logits.data<float>().ToArray();
    }

    [Theory]
    [InlineData(false, false)]   // Llama, untied, GQA
    [InlineData(true, false)]    // tied embeddings (no lm_head.weight stored)
    [InlineData(false, true)]    // Qwen2-style q/k/v biases
    public void LoadedModelComputesTheSameLogitsAsTheSavedOne(bool tied, bool bias)
    {
        var config = TestModels.TargetConfig with { TieWordEmbeddings = tied, AttentionBias = bias, ModelType = bias ? "qwen2" : "llama" };
        var dir = WriteCheckpoint(config);
        using var original = new Transformer(config, seed: 7);
        var (loaded, tokenizer) = ModelCheckpoint.Load(dir);
        using (loaded)
        {
            Assert.Equal(config, loaded.Config);
            long[] ids = [1, 20, 30, 40, 50];
            var expected = Logits(original, ids);
            var actual = Logits(loaded, ids);
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
            Assert.Equal(TestModels.Tokenizer.VocabSize, tokenizer.VocabSize);
        }
    }

    [Fact]
    public void Float16WeightsLoadWithinHalfPrecision()
    {
        var dir = TestModels.TempDir("ckpt16");
        using var model = new Transformer(TestModels.TargetConfig, seed: 3);
        ModelCheckpoint.Save(model, TestModels.Tokenizer, dir, float16: true);
        var stored = SafetensorsFile.Read(Path.Combine(dir, "model.safetensors"));
        var original = ModelCheckpoint.ExportTensors(model).ToDictionary(t => t.Name);
        foreach (var (name, t) in stored)
            for (int i = 0; i < t.Data.Length; i += 97) Assert.Equal(original[name].Data[i], t.Data[i], 2);
    }

    /// <summary>The parameter count a config reports (bench scale prints it for the targets it serves) is what the
    /// checkpoint holds: the shipped target (untied head) and the shipped draft (tied).</summary>
    [Theory]
    [InlineData("target")]
    [InlineData("draft")]
    public void ConfigCountsTheParametersItsCheckpointHolds(string model)
    {
        var dir = Path.Combine(TestModels.RepoRoot, "models", model);
        var config = TransformerConfig.Load(Path.Combine(dir, "config.json"));
        var stored = SafetensorsFile.Read(Path.Combine(dir, "model.safetensors")).Values.Sum(t => t.NumElements);
        Assert.Equal(stored, config.ParameterCount());
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        var dir = WriteCheckpoint(TestModels.TargetConfig, ts => ts.RemoveAll(t => t.Name == "model.layers.1.mlp.up_proj.weight"));
        var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(dir));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", e.Message);
    }

    [Fact]
    public void ShapeMismatchIsNamed()
    {
        var dir = WriteCheckpoint(TestModels.TargetConfig, ts =>
        {
            var i = ts.FindIndex(t => t.Name == "model.layers.0.self_attn.k_proj.weight");
            ts[i] = ts[i] with { Shape = [ts[i].Shape[1], ts[i].Shape[0]] };
        });
        var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(dir));
        Assert.Contains("model.layers.0.self_attn.k_proj.weight", e.Message);
        Assert.Contains("shape", e.Message);
    }

    [Fact]
    public void UnknownArchitectureIsRefused()
    {
        var dir = WriteCheckpoint(TestModels.TargetConfig, modelType: "gpt_neox");
        var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(dir));
        Assert.Contains("gpt_neox", e.Message);
    }

    [Fact]
    public void MissingFilesAreNamed()
    {
        var dir = WriteCheckpoint(TestModels.TargetConfig);
        File.Delete(Path.Combine(dir, "model.safetensors"));
        var e = Assert.Throws<FileNotFoundException>(() => ModelCheckpoint.Load(dir));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Throws<DirectoryNotFoundException>(() => ModelCheckpoint.Load(Path.Combine(dir, "nope")));
    }

    /// <summary>
    /// The shipped target was trained by transformers' own LlamaForCausalLM (tools/gpu/train_target.py), which also
    /// wrote its float32 logits for three held-out sequences. Our TorchSharp model, loading that checkpoint through the
    /// HF loader, must give the same logits: proof that names, RoPE, GQA order and norms follow the reference.
    /// </summary>
    [Fact]
    public void ShippedTargetMatchesTransformersReferenceLogits()
    {
        var fixture = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(TestModels.RepoRoot, "tests", "Synera.Tests", "Fixtures", "hf_target_parity.json")))!;
        var (model, _) = ModelCheckpoint.Load(TestModels.ShippedTarget);
        using (model)
        {
            var sequences = fixture["sequences"]!.AsArray();
            Assert.Equal(3, sequences.Count);
            foreach (var sequence in sequences)
            {
                var ids = sequence!["ids"]!.AsArray().Select(n => (long)n!.GetValue<int>()).ToArray();
                var expected = sequence["logits"]!.AsArray().SelectMany(row => row!.AsArray().Select(v => v!.GetValue<float>())).ToArray();
                var actual = Logits(model, ids);
                Assert.Equal(expected.Length, actual.Length);
                var maxDiff = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
                Assert.True(maxDiff <= 1e-4, $"max |logit difference| vs transformers = {maxDiff}");
            }
        }
    }

    [Fact]
    public void Transformers5ConfigWithRopeParametersLoads()
    {
        var config = TransformerConfig.Load(Path.Combine(TestModels.RepoRoot, "tests", "Synera.Tests", "Fixtures", "hf_llama_config.json"));
        Assert.Equal(TransformerConfig.Load(Path.Combine(TestModels.ShippedTarget, "config.json")), config);
    }

    [Theory]
    [InlineData("\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 500000.0, \"factor\": 4.0}", "yarn")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2.0}", "dynamic")]
    [InlineData("\"hidden_act\": \"gelu\"", "gelu")]
    public void UnsupportedConfigVariantsAreRefusedByName(string entry, string expected)
    {
        var dir = TestModels.TempDir("cfg");
        var path = Path.Combine(dir, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(TestModels.ShippedTarget, "config.json")))!.AsObject();
        foreach (var (key, value) in System.Text.Json.Nodes.JsonNode.Parse("{" + entry + "}")!.AsObject().ToList())
            json[key] = value?.DeepClone();
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => TransformerConfig.Load(path));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ARandomModelWithAnotherFamilysTokenizerStopsOnThatTokenizersTokens()
    {
        // A Llama shape with the shipped 100-token tokenizer: Llama's stop ids (128001…) do not exist there.
        var preset = ArchitecturePresets.Get("llama3.2-1b");
        var dir = Directory.CreateTempSubdirectory("synera-random-").FullName;
        RandomModelWriter.Write(preset, ArchitecturePresets.Scale(preset.Config, layers: 1, hidden: 64, heads: 4, kvHeads: 2) with { VocabSize = 100 },
            TestModels.ShippedTarget, dir, draft: false, ScalarType.Float32);
        var tokenizer = Synera.Tokenizer.SyneraTokenizer.LoadForModel(dir);
        Assert.NotEmpty(tokenizer.EosIds);
        Assert.All(tokenizer.EosIds, id => Assert.InRange(id, 0, tokenizer.VocabSize - 1));
        var (model, _) = ModelCheckpoint.Load(dir, CPU, ScalarType.Float32);
        Assert.Equal(tokenizer.EosId, model.Config.EosTokenId);
        model.Dispose();
    }
}

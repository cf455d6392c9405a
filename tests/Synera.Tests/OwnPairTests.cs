using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Synera.Cli.Serve;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Models;
using Synera.Silo.Hosting;
using Synera.Tokenizer;
using static TorchSharp.torch;

namespace Synera.Tests;

/// <summary>
/// A user's own pair, Qwen2.5-shaped: random weights with the real architecture (q/k/v biases, GQA, tied draft
/// embeddings), the real tokenizer and chat template, a draft of 151,936 logit rows against a target of 152,064 (the
/// same tokenizer, padded differently), the target as sharded bf16 safetensors and the draft in Optimum's ONNX layout
/// with external data. Written once per test run by the code `synera models random` runs.
/// </summary>
public sealed class QwenPairFixture : IAsyncLifetime
{
    public string Draft { get; } = TestModels.TempDir("qwen-draft");
    public string Target { get; } = TestModels.TempDir("qwen-target");
    public EmbeddedCluster Cluster { get; private set; } = null!;

    public static void WritePair(string draft, string target)
    {
        var tokenizers = Path.Combine(TestModels.RepoRoot, "models", "tokenizers");
        var small = ArchitecturePresets.Get("qwen2.5-0.5b");
        var large = ArchitecturePresets.Get("qwen2.5-7b");
        RandomModelWriter.Write(small, ArchitecturePresets.Scale(small.Config, layers: 2, hidden: 64, heads: 4, kvHeads: 2), Path.Combine(tokenizers, small.Tokenizer),
            draft, draft: true, seed: 1);
        RandomModelWriter.Write(large, ArchitecturePresets.Scale(large.Config, layers: 2, hidden: 64, heads: 4, kvHeads: 2), Path.Combine(tokenizers, large.Tokenizer),
            target, draft: false, dtype: ScalarType.BFloat16, maxShardBytes: 16_000_000, seed: 2);
    }

    public async Task InitializeAsync()
    {
        WritePair(Draft, Target);
        Cluster = await EmbeddedCluster.StartAsync(v => { v.ModelPath = Target; v.MaxContextTokens = 512; });
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public class OwnPairTests(QwenPairFixture pair) : IClassFixture<QwenPairFixture>
{
    private static GenerationOptions Greedy(GenerationMode mode, double budget = 0) =>
        new() { Mode = mode, Budget = budget, MaxNewTokens = 24, LoadAware = false };

    private async Task<GenerationResult> Generate(string prompt, GenerationOptions options, string? draft = null)
    {
        var (runner, tokenizer) = OnnxDraftRunner.Open(draft ?? pair.Draft);
        using (runner)
        using (var generator = new DeviceGenerator(pair.Cluster.Client, runner, tokenizer))
            return await generator.GenerateAsync(prompt, options);
    }

    [Fact]
    public void TheFilesAreLaidOutAsHuggingFaceAndOptimumWriteThem()
    {
        Assert.True(File.Exists(Path.Combine(pair.Target, ModelCheckpoint.WeightsIndexFile)));
        Assert.True(Directory.GetFiles(pair.Target, "model-0000*-of-0000*.safetensors").Length > 1);
        Assert.All(ModelCheckpoint.WeightEntries(pair.Target).Values, e => Assert.Equal("BF16", e.Dtype));
        Assert.True(File.Exists(Path.Combine(pair.Draft, "model.onnx_data")));
        Assert.True(new FileInfo(Path.Combine(pair.Draft, "model.onnx")).Length < 1_000_000);   // the weights are outside the graph
        using var runner = new OnnxDraftRunner(pair.Draft, vocabSize: SyneraTokenizer.Load(pair.Draft).VocabSize);
        Assert.Equal(151_936, runner.NumLogits);
        Assert.Equal(151_669, runner.VocabSize);                                       // the tokenizer's ids; the rest is padding
        Assert.Equal(152_064, TransformerConfig.Load(Path.Combine(pair.Target, "config.json")).VocabSize);
    }

    [Fact]
    public async Task SyneraAtBudgetOneEqualsLlmTokenForToken()
    {
        foreach (var prompt in new[] { "What is 2+2?", "Écris une phrase. 你好！" })
        {
            var llm = await Generate(prompt, Greedy(GenerationMode.Llm));
            var synera = await Generate(prompt, Greedy(GenerationMode.Synera, 1));
            Assert.Equal(24, llm.TokenIds.Count);
            Assert.Equal(llm.TokenIds, synera.TokenIds);
            Assert.True(synera.Stats.NumOffloaded > 0);
            var slm = await Generate(prompt, Greedy(GenerationMode.Slm));
            Assert.NotEqual(llm.TokenIds, slm.TokenIds);                               // two random models: the cloud's tokens are its own
        }
    }

    [Fact]
    public async Task APairWithAnotherTokenizerIsRefusedAtOpen()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Generate("What is 2+2?", Greedy(GenerationMode.Synera, 1), TestModels.ShippedDraft));
        Assert.Contains("do not share a tokenizer", e.Message);
        Assert.Contains("models/draft", e.Message);
        Assert.Contains(Path.GetFileName(pair.Target), e.Message);
    }

    [Fact]
    public void CalibrationRunsOnTheUsersOwnChatPrompts()
    {
        var prompts = TestModels.TempDir("prompts");
        var file = Path.Combine(prompts, "prompts.jsonl");
        File.WriteAllLines(file, ["""{"prompt": "What is 2+2?"}""", "",
            """{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]}"""]);
        var output = Path.Combine(prompts, "offload.json");
        Assert.Equal(0, Synera.Cli.Commands.CalibrateCommand.Create().Parse(
            ["--draft", pair.Draft, "--target", pair.Target, "--prompts", file, "--max-answer-tokens", "8", "--out", output]).Invoke());
        var calibration = Synera.DeviceClient.Offloading.OffloadCalibration.Load(output);
        Assert.Equal(2, calibration.Examples);
        Assert.Equal(2 * 8, calibration.Tokens);          // random models never stop early: 8 answer tokens each
        File.AppendAllText(file, "{\"messages\": [{\"role\": \"user\"}]}\n");
        var e = Assert.Throws<InvalidDataException>(() => Synera.Cli.Commands.CalibrateCommand.Create().Parse(
            ["--draft", pair.Draft, "--target", pair.Target, "--prompts", file, "--out", output]).Invoke(new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false }));
        Assert.Contains("prompts.jsonl:4", e.Message);
    }

    [Fact]
    public async Task TheOpenAiApiAnswersThroughTheModelsOwnChatTemplate()
    {
        var (runner, tokenizer) = OnnxDraftRunner.Open(pair.Draft);
        using var _ = runner;
        using var generator = new DeviceGenerator(pair.Cluster.Client, runner, tokenizer);
        var port = EmbeddedCluster.FreePort();
        await using var app = new OpenAiServer(generator, Greedy(GenerationMode.Synera, 1)).Build($"http://127.0.0.1:{port}");
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        var messages = new[] { new { role = "system", content = "Be brief." }, new { role = "user", content = "What is 2+2?" } };
        var response = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "synera", messages, max_tokens = 12 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        var expectedPrompt = tokenizer.EncodeChat([new("system", "Be brief."), new("user", "What is 2+2?")]);
        Assert.Equal(expectedPrompt.Length, body["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
            tokenizer.Decode(expectedPrompt, skipSpecialTokens: false));
        var llm = await generator.GenerateAsync(expectedPrompt, Greedy(GenerationMode.Llm) with { MaxNewTokens = 12 });
        Assert.Equal(llm.Text, body["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        await app.StopAsync();
    }
}

/// <summary>Loading real-format models: shards, dtypes, RoPE variants, ONNX layouts, and what is refused.</summary>
public class ModelLoadingTests
{
    /// <summary>A Llama-3.2-shaped model (llama3 RoPE scaling, explicit head_dim unlike hidden/heads, GQA, tied) written as
    /// sharded float32 safetensors and as ONNX with float16 I/O: the ONNX draft runner and the TorchSharp model must
    /// compute the same next-token logits, step by step.</summary>
    [Fact]
    public void OnnxDraftAndTorchTargetAgreeOnALlama3ShapedModelWithScaledRope()
    {
        var preset = ArchitecturePresets.Get("llama3.2-1b");
        var config = ArchitecturePresets.Scale(preset.Config, layers: 2, hidden: 96, heads: 4, kvHeads: 2) with { ExplicitHeadDim = 32, VocabSize = 128_256 };
        Assert.NotEqual(config.HiddenSize / config.NumHeads, config.HeadDim);
        var tokenizers = Path.Combine(TestModels.RepoRoot, "models", "tokenizers", preset.Tokenizer);
        var (draft, target) = (TestModels.TempDir("llama-draft"), TestModels.TempDir("llama-target"));
        RandomModelWriter.Write(preset, config, tokenizers, draft, draft: true, float16Io: true, seed: 3);
        RandomModelWriter.Write(preset, config, tokenizers, target, draft: false, dtype: ScalarType.Float32, maxShardBytes: 20_000_000, seed: 3);
        var (model, tokenizer) = ModelCheckpoint.Load(target);
        using (model)
        {
            Assert.Equal("llama3", model.Config.RopeScaling!.Type);
            Assert.True(tokenizer.IsEos(128_009) && tokenizer.IsEos(128_001));         // generation_config's list
            var (runner, _) = OnnxDraftRunner.Open(draft);
            using var __ = runner;
            Assert.Equal(typeof(Microsoft.ML.OnnxRuntime.Float16), runner.KvElementType);
            // Positions past the original context's short wavelengths exercise the scaled frequencies.
            var ids = tokenizer.EncodeChatPrompt("Tell me a long story about RoPE scaling, please.").ToList();
            var onnx = runner.Forward(ids.ToArray()).ToArray();
            for (int step = 0; step < 4; step++)
            {
                using var _ = no_grad();
                using var r = model.Forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count]));
                var torchRow = r.Logits[0, -1].narrow(0, 0, runner.VocabSize).data<float>().ToArray();
                float maxDiff = torchRow.Zip(onnx, (a, b) => Math.Abs(a - b)).Max();
                Assert.True(maxDiff < 0.05f, $"step {step}: ONNX and TorchSharp logits differ by {maxDiff}");   // float16 K/V at the boundary
                int next = Array.IndexOf(torchRow, torchRow.Max());
                ids.Add(next);
                onnx = runner.Forward([next]).ToArray();
            }
        }
    }

    [Fact]
    public void ABf16CheckpointLoadsInEveryDtypeWithTheSameGreedyTokens()
    {
        var target = TestModels.TempDir("qwen-target");
        var preset = ArchitecturePresets.Get("qwen2.5-0.5b");
        RandomModelWriter.Write(preset, ArchitecturePresets.Scale(preset.Config, layers: 2, hidden: 64, heads: 4, kvHeads: 2),
            Path.Combine(TestModels.RepoRoot, "models", "tokenizers", preset.Tokenizer), target, draft: false, dtype: ScalarType.BFloat16, seed: 4);
        var (f32, tokenizer) = ModelCheckpoint.Load(target, dtype: ScalarType.Float32);
        var (bf16, _) = ModelCheckpoint.Load(target, dtype: ScalarType.BFloat16);
        using (f32)
        using (bf16)
        {
            Assert.Equal(ScalarType.BFloat16, bf16.parameters().First().dtype);
            var prompt = tokenizer.EncodeChatPrompt("What is 2+2?");
            var a = new Synera.Models.Evaluation.GreedyGenerator(f32, tokenizer.VocabSize).Generate(prompt, 8, tokenizer.EosIds);
            var b = new Synera.Models.Evaluation.GreedyGenerator(bf16, tokenizer.VocabSize).Generate(prompt, 8, tokenizer.EosIds);
            Assert.Equal(a, b);
            // bf16 weights widen to float32 exactly: the float32 model holds the stored values.
            var stored = ModelCheckpoint.WeightEntries(target)["model.norm.weight"];
            var raw = new float[stored.NumElements];
            using (var t = frombuffer(raw, ScalarType.Float32, raw.Length)) SafetensorsFile.CopyInto(stored, t);
            Assert.Equal(raw, f32.named_parameters().Single(p => p.name == "model.norm.weight").parameter.data<float>().ToArray());
        }
    }

    [Fact]
    public void AnOnnxRuntimeGenAiFolderIsFoundByItsConfig()
    {
        var dir = TestModels.TempDir("genai");
        var preset = ArchitecturePresets.Get("qwen2.5-0.5b");
        RandomModelWriter.Write(preset, ArchitecturePresets.Scale(preset.Config, layers: 1, hidden: 32, heads: 2, kvHeads: 1),
            Path.Combine(TestModels.RepoRoot, "models", "tokenizers", preset.Tokenizer), dir, draft: true, seed: 5);
        File.Move(Path.Combine(dir, "model.onnx"), Path.Combine(dir, "decoder.onnx"));
        File.Move(Path.Combine(dir, "config.json"), Path.Combine(dir, "hf_config.json"));
        File.WriteAllText(Path.Combine(dir, "genai_config.json"), """
            {"model": {"type": "qwen2", "context_length": 300, "eos_token_id": [151645, 151643, 151644],
              "decoder": {"filename": "decoder.onnx", "num_hidden_layers": 1,
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask", "position_ids": "position_ids",
                           "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"}}}}
            """);
        var (runner, tokenizer) = OnnxDraftRunner.Open(dir);
        using var _ = runner;
        Assert.Equal(300, runner.MaxLength);                      // the window from genai_config, not a fixed 512
        Assert.True(tokenizer.IsEos(151_644));                     // its EOS list joins the stop set
        Assert.Equal(runner.VocabSize, runner.Forward(tokenizer.EncodeChatPrompt("hi")).Length);
        var branch = runner.CreateSibling();                       // the runner-up branch shares the loaded model
        var continued = runner.Forward([42]).ToArray();
        var fresh = branch.Forward([.. tokenizer.EncodeChatPrompt("hi"), 42]).ToArray();
        Assert.True(continued.Zip(fresh, (a, b) => Math.Abs(a - b)).Max() < 1e-4f);
    }

    [Fact]
    public void WhatTheVerifierCannotServeIsRefusedByName()
    {
        var dir = TestModels.TempDir("refused");
        var config = TestModels.TargetConfig;
        using (var model = new Transformer(config)) ModelCheckpoint.Save(model, TestModels.Tokenizer, dir, float16: false);
        void Edit(Action<JsonObject> edit)
        {
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
            edit(json);
            File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        }
        Edit(j => j["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 });
        Assert.Contains("yarn", Assert.Throws<InvalidDataException>(() => TransformerConfig.Load(Path.Combine(dir, "config.json"))).Message);
        Edit(j => { j.Remove("rope_scaling"); j["model_type"] = "mistral"; j["sliding_window"] = 64; });
        var (model2, tokenizer) = ModelCheckpoint.Load(dir);
        var e = Assert.Throws<ArgumentException>(() => new Synera.Grains.Verification.TorchModelRunner(model2, CPU, 1L << 30, "windowed", 16, tokenizer));
        Assert.Contains("sliding window of 64", e.Message);
        using var ok = new Synera.Grains.Verification.TorchModelRunner(model2, CPU, 1L << 30, "windowed", 16, tokenizer, maxContext: 64);
        Assert.Equal(64, ok.Info.MaxSequenceLength);
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), """{"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}""");
        Assert.Contains("model-00002-of-00002.safetensors", Assert.Throws<FileNotFoundException>(() => ModelCheckpoint.Load(dir)).Message);
    }
}

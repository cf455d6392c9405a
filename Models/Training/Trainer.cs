using Synera.Tokenizer;
using System.Diagnostics;
using System.Text.Json;
using Synera.Models.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Models.Training;

/// <summary>
/// Trains a draft or target model on the generated task suite (loss on answer tokens only), with AdamW,
/// linear warm-up then cosine decay, periodic checkpoints (weights + optimizer + step) and resume.
/// The data stream is a pure function of (seed, step), so a resumed run sees what an uninterrupted one would.
/// </summary>
public sealed class Trainer(TrainOptions options, IProgress<TrainProgress>? progress = null)
{
    private const int IgnoreIndex = -100;

    public Transformer Train(CancellationToken cancellation = default)
    {
        torch.set_num_threads(Math.Max(1, options.Threads));
        var tokenizer = SyneraTokenizer.CreateCharLevel();
        var config = options.Config ?? ModelPresets.For(options.Kind, tokenizer.VocabSize);
        var model = new Transformer(config, options.Seed);
        var optimizer = optim.AdamW(model.parameters(), lr: options.LearningRate, weight_decay: 0.01);
        var heldOut = TaskGenerator.HeldOut(HeldOutPerTask).Select(e => e.Prompt).ToHashSet();

        int step = options.Resume ? TryResume(model, optimizer) : 0;
        var clock = Stopwatch.StartNew();
        long tokensSeen = 0;
        double lossEma = double.NaN;
        model.train();
        while (step < options.Steps && !cancellation.IsCancellationRequested && clock.Elapsed.TotalMinutes < options.MaxMinutes)
        {
            var batch = BuildBatch(tokenizer, new TaskGenerator(options.Seed * 1_000_003 + step) { Weights = options.TaskWeights }, heldOut);
            SetLearningRate(optimizer, step);
            using (var scope = NewDisposeScope())
            {
                using var result = model.Forward(batch.Inputs);
                var loss = nn.functional.cross_entropy(result.Logits.reshape(-1, config.VocabSize), batch.Targets.reshape(-1), ignore_index: IgnoreIndex);
                optimizer.zero_grad();
                loss.backward();
                nn.utils.clip_grad_norm_(model.parameters(), 1.0);
                optimizer.step();
                var l = loss.item<float>();
                lossEma = double.IsNaN(lossEma) ? l : 0.95 * lossEma + 0.05 * l;
            }
            tokensSeen += batch.NumTokens;
            batch.Dispose();
            step++;
            if (step % options.LogEvery == 0 || step == options.Steps)
            {
                var tps = tokensSeen / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                var perStep = clock.Elapsed / Math.Max(1, step - startStep);
                progress?.Report(new TrainProgress(step, options.Steps, lossEma, tps, clock.Elapsed, perStep * (options.Steps - step)));
            }
            if (step % options.CheckpointEvery == 0) SaveCheckpoint(model, optimizer, step);
        }
        SaveCheckpoint(model, optimizer, step);
        model.eval();
        ModelCheckpoint.Save(model, tokenizer, options.OutputDir, float16: options.Kind == "target");
        return model;
    }

    private int startStep;

    /// <summary>Number of held-out examples per task excluded from training (same as the shipped suite).</summary>
    public const int HeldOutPerTask = 50;

    private void SetLearningRate(TorchSharp.Modules.AdamW optimizer, int step)
    {
        double lr = step < options.WarmupSteps
            ? options.LearningRate * (step + 1) / options.WarmupSteps
            : options.LearningRate * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * (step - options.WarmupSteps) / Math.Max(1, options.Steps - options.WarmupSteps))));
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
    }

    /// <summary>A padded batch: inputs (B, T) and next-token targets (B, T) with non-answer positions ignored.</summary>
    private sealed record Batch(Tensor Inputs, Tensor Targets, long NumTokens) : IDisposable
    {
        public void Dispose() { Inputs.Dispose(); Targets.Dispose(); }
    }

    private Batch BuildBatch(SyneraTokenizer tokenizer, TaskGenerator generator, IReadOnlySet<string> exclude)
    {
        var rows = generator.TrainStream(exclude).Take(options.BatchSize).Select(ex =>
        {
            var encoded = TokenizedExample.Encode(tokenizer, ex);
            return (ids: encoded.Ids, answerStart: encoded.AnswerStart);
        }).ToList();
        int T = rows.Max(r => r.ids.Length) - 1;
        var inputs = new long[rows.Count * T];
        var targets = new long[rows.Count * T];
        Array.Fill(targets, IgnoreIndex);
        for (int b = 0; b < rows.Count; b++)
        {
            var (ids, answerStart) = rows[b];
            for (int t = 0; t < T; t++)
            {
                inputs[b * T + t] = t < ids.Length - 1 ? ids[t] : tokenizer.PadId;
                // position t predicts token t+1; only answer tokens (and EOS) are trained on
                if (t + 1 < ids.Length && t + 1 >= answerStart) targets[b * T + t] = ids[t + 1];
            }
        }
        return new Batch(tensor(inputs, [rows.Count, T]), tensor(targets, [rows.Count, T]), rows.Sum(r => (long)r.ids.Length));
    }

    private void SaveCheckpoint(Transformer model, TorchSharp.Modules.AdamW optimizer, int step)
    {
        var dir = options.CheckpointDir;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "model.safetensors.tmp");
        SafetensorsFile.Write(tmp, ModelCheckpoint.ExportTensors(model), float16: false);
        File.Move(tmp, Path.Combine(dir, "model.safetensors"), overwrite: true);
        optimizer.save_state_dict(Path.Combine(dir, "optimizer.bin"));
        model.Config.Save(Path.Combine(dir, "config.json"));
        File.WriteAllText(Path.Combine(dir, "trainer_state.json"), JsonSerializer.Serialize(new { step, options.Kind, options.Seed, options.Steps }));
    }

    private int TryResume(Transformer model, TorchSharp.Modules.AdamW optimizer)
    {
        var dir = options.CheckpointDir;
        var statePath = Path.Combine(dir, "trainer_state.json");
        if (!File.Exists(statePath)) return 0;
        var state = JsonDocument.Parse(File.ReadAllText(statePath)).RootElement;
        var saved = TransformerConfig.Load(Path.Combine(dir, "config.json"));
        if (saved != model.Config) throw new InvalidOperationException($"checkpoint in {dir} has a different model shape; delete it or choose another --out");
        ModelCheckpoint.LoadWeights(model, dir);
        var optPath = Path.Combine(dir, "optimizer.bin");
        if (File.Exists(optPath)) optimizer.load_state_dict(optPath);
        startStep = state.GetProperty("step").GetInt32();
        return startStep;
    }
}

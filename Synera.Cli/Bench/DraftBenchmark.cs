using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Synera.DeviceClient.Drafting;

namespace Synera.Cli.Bench;

/// <summary>One side of the draft comparison: decode tokens/s after the prompt, and what the process held.</summary>
/// <param name="ResidentBytes">The process's resident memory after decoding, the model still loaded.</param>
public sealed record DraftBenchRow(string Name, int PromptTokens, int Tokens, double TokensPerSecond, int[] Ids, long ResidentBytes);

/// <summary>
/// The device's draft runner against ONNX Runtime driven the plain way on the same file (a fresh session, every output
/// left to ORT, each step's presents fed back as the next step's past): greedy decoding of the same tokens after the same
/// prompt, timed after the prompt. The two must produce the same ids; the ratio of their tokens/s is what the device's
/// buffers and bindings cost or save.
/// </summary>
public static class DraftBenchmark
{
    public static DraftBenchRow Device(string dir, int[] prompt, int tokens, int threads)
    {
        var (runner, tokenizer) = OnnxDraftRunner.Open(dir, threads: threads);
        using var _ = runner;
        var ids = new List<int>();
        int next = ArgMax(runner.Forward(prompt));
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < tokens; i++)
        {
            ids.Add(next);
            next = ArgMax(runner.Forward([next]));
        }
        var seconds = clock.Elapsed.TotalSeconds;
        return new DraftBenchRow("device runner", prompt.Length, tokens, tokens / seconds, [.. ids], ProcessMemory.Read().Resident);
    }

    public static DraftBenchRow RawOnnxRuntime(string dir, int[] prompt, int tokens, int threads, int vocabSize)
    {
        var files = DraftModelFiles.Find(dir);
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(files.ModelPath, options);
        // The same I/O names the device's runner uses (Optimum's, or those genai_config.json gives).
        int layers = 0;
        while (session.InputMetadata.ContainsKey(DraftModelFiles.Layer(files.PastKey, layers))) layers++;
        var kv = session.InputMetadata[DraftModelFiles.Layer(files.PastKey, 0)];
        bool half = kv.ElementDataType == TensorElementType.Float16;
        var outputNames = new List<string> { files.Logits };
        for (int l = 0; l < layers; l++) { outputNames.Add(DraftModelFiles.Layer(files.PresentKey, l)); outputNames.Add(DraftModelFiles.Layer(files.PresentValue, l)); }
        IDisposableReadOnlyCollection<OrtValue>? previous = null;
        int past = 0;
        int Step(int[] input)
        {
            int T = input.Length;
            var names = new List<string> { files.InputIds, files.AttentionMask, files.PositionIds };
            var values = new List<OrtValue>
            {
                OrtValue.CreateTensorValueFromMemory(input.Select(i => (long)i).ToArray(), [1, T]),
                OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, past + T).ToArray(), [1, past + T]),
                OrtValue.CreateTensorValueFromMemory(Enumerable.Range(past, T).Select(i => (long)i).ToArray(), [1, T]),
            };
            for (int l = 0; l < layers; l++)
                foreach (var part in new[] { "key", "value" })
                {
                    names.Add(DraftModelFiles.Layer(part == "value" ? files.PastValue : files.PastKey, l));
                    values.Add(previous is not null ? previous[1 + 2 * l + (part == "value" ? 1 : 0)]
                        : half ? OrtValue.CreateTensorValueFromMemory(Array.Empty<Float16>(), [1, kv.Dimensions[1], 0, kv.Dimensions[3]])
                               : OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, kv.Dimensions[1], 0, kv.Dimensions[3]]));
                }
            using var runOptions = new RunOptions();
            var outputs = session.Run(runOptions, names, values, outputNames);
            for (int i = 0; i < 3; i++) values[i].Dispose();
            if (previous is null) for (int i = 3; i < values.Count; i++) values[i].Dispose();
            previous?.Dispose();
            previous = outputs;
            past += T;
            var logits = outputs[0];
            int stride = (int)logits.GetTensorTypeAndShape().Shape[2];
            float[] row = half
                ? logits.GetTensorDataAsSpan<Float16>().Slice((T - 1) * stride, vocabSize).ToArray().Select(h => (float)h).ToArray()
                : logits.GetTensorDataAsSpan<float>().Slice((T - 1) * stride, vocabSize).ToArray();
            return ArgMax(row);
        }
        var ids = new List<int>();
        int next = Step(prompt);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < tokens; i++)
        {
            ids.Add(next);
            next = Step([next]);
        }
        var seconds = clock.Elapsed.TotalSeconds;
        var resident = ProcessMemory.Read().Resident;
        previous?.Dispose();
        return new DraftBenchRow("raw ONNX Runtime", prompt.Length, tokens, tokens / seconds, [.. ids], resident);
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}

using Microsoft.ML.OnnxRuntime;

namespace Synera.DeviceClient.Drafting;

/// <summary>
/// Runs a decoder ONNX model in the common KV-cache layout (inputs <c>input_ids</c>, <c>attention_mask</c>,
/// <c>position_ids</c>, <c>past_key_values.{i}.key|value</c>; outputs <c>logits</c>, <c>present.{i}.key|value</c>)
/// with ONNX Runtime, batch 1. Layers, K/V heads and head size are read from the graph, so any exported SLM in
/// that layout can be dropped in. Inputs and outputs are bound to preallocated buffers (<see cref="DeviceKvCache"/>);
/// per step only the small OrtValue headers are made, because the shapes grow by a token each step.
/// </summary>
public sealed class OnnxDraftRunner : IDisposable
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly long[] inputIds, attentionMask, positionIds;
    private readonly float[] logits;
    private readonly string[] inputNames, outputNames;

    private readonly string modelPath;
    private readonly int threads;

    public OnnxDraftRunner(string modelPath, int maxLength = 512, int threads = 1)
    {
        this.modelPath = modelPath; this.threads = threads;
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"draft model not found: {modelPath}", modelPath);
        var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        session = new InferenceSession(modelPath, sessionOptions);
        foreach (var required in new[] { "input_ids", "attention_mask", "position_ids" })
            if (!session.InputMetadata.ContainsKey(required))
                throw new InvalidDataException($"{modelPath}: not a decoder in the KV-cache layout (no input '{required}')");
        NumLayers = session.InputMetadata.Keys.Count(k => k.StartsWith("past_key_values.") && k.EndsWith(".key"));
        if (NumLayers == 0) throw new InvalidDataException($"{modelPath}: no past_key_values.{{i}}.key inputs");
        var kvDims = session.InputMetadata["past_key_values.0.key"].Dimensions;      // (batch, nkv, past, hs)
        NumKvHeads = kvDims[1];
        HeadDim = kvDims[3];
        var logitDims = session.OutputMetadata["logits"].Dimensions;               // (batch, seq, vocab)
        VocabSize = logitDims[2];
        if (NumKvHeads <= 0 || HeadDim <= 0 || VocabSize <= 0)
            throw new InvalidDataException($"{modelPath}: K/V heads, head size and vocabulary must be fixed in the graph");
        MaxLength = maxLength;
        Cache = new DeviceKvCache(NumLayers, NumKvHeads, HeadDim, maxLength);
        inputIds = new long[maxLength];
        attentionMask = Enumerable.Repeat(1L, maxLength).ToArray();
        positionIds = new long[maxLength];
        logits = new float[maxLength * VocabSize];
        inputNames = ["input_ids", "attention_mask", "position_ids", .. Enumerable.Range(0, NumLayers).SelectMany(i => new[] { $"past_key_values.{i}.key", $"past_key_values.{i}.value" })];
        outputNames = ["logits", .. Enumerable.Range(0, NumLayers).SelectMany(i => new[] { $"present.{i}.key", $"present.{i}.value" })];
    }

    public int NumLayers { get; }
    public int NumKvHeads { get; }
    public int HeadDim { get; }
    public int VocabSize { get; }
    public int MaxLength { get; }
    public DeviceKvCache Cache { get; }

    /// <summary>Tokens whose K/V are cached.</summary>
    public int Length => Cache.Length;

    /// <summary>Runs <paramref name="tokens"/> after the cached prefix; returns the logits of the last token.</summary>
    public ReadOnlySpan<float> Forward(ReadOnlySpan<int> tokens)
    {
        int T = tokens.Length, P = Cache.Length;
        if (T == 0) throw new ArgumentException("no tokens to run", nameof(tokens));
        if (P + T > MaxLength) throw new InvalidOperationException($"sequence of {P + T} tokens exceeds the draft runner's window of {MaxLength}");
        for (int t = 0; t < T; t++)
        {
            if ((uint)tokens[t] >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[t]} outside the vocabulary [0, {VocabSize})");
            inputIds[t] = tokens[t];
            positionIds[t] = P + t;
        }
        var kvShapePast = new long[] { 1, NumKvHeads, P, HeadDim };
        var kvShapePresent = new long[] { 1, NumKvHeads, P + T, HeadDim };
        int pastSize = NumKvHeads * P * HeadDim, presentSize = NumKvHeads * (P + T) * HeadDim;
        var inputs = new List<OrtValue>(3 + 2 * NumLayers)
        {
            OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, inputIds.AsMemory(0, T), [1, T]),
            OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, attentionMask.AsMemory(0, P + T), [1, P + T]),
            OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, positionIds.AsMemory(0, T), [1, T]),
        };
        var outputs = new List<OrtValue>(1 + 2 * NumLayers)
        {
            OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, logits.AsMemory(0, T * VocabSize), [1, T, VocabSize]),
        };
        for (int l = 0; l < NumLayers; l++)
            foreach (var value in new[] { false, true })
            {
                inputs.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, Cache.Past(l, value).AsMemory(0, pastSize), kvShapePast));
                outputs.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, Cache.Present(l, value).AsMemory(0, presentSize), kvShapePresent));
            }
        try
        {
            session.Run(runOptions, inputNames, inputs, outputNames, outputs);
        }
        finally
        {
            foreach (var v in inputs) v.Dispose();
            foreach (var v in outputs) v.Dispose();
        }
        Cache.Advance(T);
        return logits.AsSpan((T - 1) * VocabSize, VocabSize);
    }

    /// <summary>All logits of the last <see cref="Forward"/> call, row-major (T × vocab).</summary>
    public ReadOnlySpan<float> LastLogits(int numTokens) => logits.AsSpan(0, numTokens * VocabSize);

    /// <summary>A second runner of the same model, with a cache of its own (the device's runner-up branch).</summary>
    public OnnxDraftRunner CreateSibling() => new(modelPath, MaxLength, threads);

    /// <summary>Rolls the cache back to the first <paramref name="length"/> tokens.</summary>
    public void Truncate(int length) => Cache.Truncate(length);

    public void Reset() => Cache.Clear();

    public void Dispose()
    {
        runOptions.Dispose();
        session.Dispose();
    }
}

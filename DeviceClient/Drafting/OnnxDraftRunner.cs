using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Synera.Tokenizer;

namespace Synera.DeviceClient.Drafting;

/// <summary>
/// Runs a decoder ONNX model in the common KV-cache layout (Optimum's and onnxruntime-genai's: <c>input_ids</c>,
/// <c>attention_mask</c>, optionally <c>position_ids</c>, <c>past_key_values.{i}.key|value</c> → <c>logits</c>,
/// <c>present.{i}.key|value</c>; names from <see cref="DraftModelFiles"/>) with ONNX Runtime, batch 1. Layers, K/V heads,
/// head size and element types (float32 or float16) are read from the graph. Past and present K/V are bound to
/// preallocated buffers (<see cref="DeviceKvCache"/>); logits are left to ONNX Runtime and only the rows asked for are
/// read, so a 150k vocabulary costs one row per decoded token, not a window × vocab buffer. Long inputs (a prompt) run
/// in chunks, which bounds the logits a step allocates.
/// </summary>
public sealed class OnnxDraftRunner : IDisposable
{
    /// <summary>The window when neither the caller nor the model's config sets one: the config's, at most this.</summary>
    public const int DefaultMaxLength = 2048;
    /// <summary>Tokens per forward when an input is longer (prefill): logits of at most this many rows exist at once.</summary>
    public const int MaxChunkTokens = 64;

    private readonly InferenceSession session;
    private readonly bool ownsSession;
    private readonly DraftModelFiles files;
    private readonly RunOptions runOptions = new();
    private readonly long[] inputIds, attentionMask, positionIds;
    private readonly bool hasPositionIds, hasCacheBranch;
    private readonly bool float16Logits;
    private readonly float[] lastRow;
    private readonly int threads;
    // The context the caller has run, token by token, and each prefix's replay key. The K/V cache holds a prefix of it:
    // all of it, unless a replay answered a forward without running the model.
    private readonly List<int> context = [];
    private readonly List<ContextKey> keys = [];

    /// <param name="modelPath">An .onnx file, or a model folder (<see cref="DraftModelFiles.Find"/>).</param>
    /// <param name="maxLength">Positions the device cache holds; 0: the model's context (genai_config.json or config.json),
    /// at most <see cref="DefaultMaxLength"/>.</param>
    /// <param name="vocabSize">Rows of the logits the tokenizer uses (a model may pad its vocabulary); 0: all of them.</param>
    public OnnxDraftRunner(string modelPath, int maxLength = 0, int threads = 1, int vocabSize = 0)
    {
        files = DraftModelFiles.Find(modelPath);
        this.threads = threads;
        if (!File.Exists(files.ModelPath)) throw new FileNotFoundException($"draft model not found: {files.ModelPath}", files.ModelPath);
        var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        session = new InferenceSession(files.ModelPath, sessionOptions);
        ownsSession = true;
        foreach (var required in new[] { files.InputIds, files.AttentionMask })
            if (!session.InputMetadata.ContainsKey(required))
                throw new InvalidDataException($"{files.ModelPath}: not a decoder in the KV-cache layout (no input '{required}')");
        NumLayers = 0;
        while (session.InputMetadata.ContainsKey(DraftModelFiles.Layer(files.PastKey, NumLayers))) NumLayers++;
        if (NumLayers == 0) throw new InvalidDataException($"{files.ModelPath}: no {DraftModelFiles.Layer(files.PastKey, 0)} input");
        var kv = session.InputMetadata[DraftModelFiles.Layer(files.PastKey, 0)];                // (batch, nkv, past, hs)
        NumKvHeads = kv.Dimensions[1];
        HeadDim = kv.Dimensions[3];
        KvElementType = ElementType(kv, files.ModelPath);
        var logits = session.OutputMetadata[files.Logits];                                     // (batch, seq, vocab)
        NumLogits = logits.Dimensions[2];
        float16Logits = ElementType(logits, files.ModelPath) == typeof(Float16);
        if (NumKvHeads <= 0 || HeadDim <= 0 || NumLogits <= 0)
            throw new InvalidDataException($"{files.ModelPath}: K/V heads, head size and vocabulary must be fixed in the graph");
        VocabSize = vocabSize > 0 ? vocabSize : NumLogits;
        if (VocabSize > NumLogits) throw new InvalidDataException($"{files.ModelPath}: the tokenizer has {VocabSize} tokens but the model only {NumLogits} logits");
        hasPositionIds = session.InputMetadata.ContainsKey(files.PositionIds);
        hasCacheBranch = session.InputMetadata.ContainsKey("use_cache_branch");
        MaxLength = maxLength > 0 ? maxLength : Math.Min(files.ContextLength ?? DefaultMaxLength, DefaultMaxLength);
        Cache = new DeviceKvCache(NumLayers, NumKvHeads, HeadDim, MaxLength, KvElementType);
        inputIds = new long[MaxChunkTokens];
        attentionMask = Enumerable.Repeat(1L, MaxLength).ToArray();
        positionIds = new long[MaxChunkTokens];
        lastRow = new float[VocabSize];
    }

    /// <summary>A draft model folder's runner and tokenizer (with the model's stop tokens); the runner reads only the
    /// tokenizer's rows of the logits.</summary>
    public static (OnnxDraftRunner Runner, SyneraTokenizer Tokenizer) Open(string dir, int maxLength = 0, int threads = 1)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"draft model folder not found: {dir}");
        var tokenizer = SyneraTokenizer.LoadForModel(dir);
        return (new OnnxDraftRunner(dir, maxLength, threads, tokenizer.VocabSize), tokenizer);
    }

    /// <summary>A runner over the same loaded model with a cache of its own (the runner-up branch): the graph and its
    /// weights are not loaded a second time.</summary>
    private OnnxDraftRunner(OnnxDraftRunner owner)
    {
        session = owner.session; ownsSession = false; files = owner.files; threads = owner.threads; Replay = owner.Replay;
        (NumLayers, NumKvHeads, HeadDim, KvElementType, NumLogits, VocabSize, MaxLength) =
            (owner.NumLayers, owner.NumKvHeads, owner.HeadDim, owner.KvElementType, owner.NumLogits, owner.VocabSize, owner.MaxLength);
        (float16Logits, hasPositionIds, hasCacheBranch) = (owner.float16Logits, owner.hasPositionIds, owner.hasCacheBranch);
        Cache = new DeviceKvCache(NumLayers, NumKvHeads, HeadDim, MaxLength, KvElementType);
        inputIds = new long[MaxChunkTokens];
        attentionMask = owner.attentionMask;                  // all ones, never written
        positionIds = new long[MaxChunkTokens];
        lastRow = new float[VocabSize];
    }

    private static Type ElementType(NodeMetadata meta, string path) => meta.ElementDataType switch
    {
        TensorElementType.Float => typeof(float),
        TensorElementType.Float16 => typeof(Float16),
        var other => throw new InvalidDataException($"{path}: element type {other} is not supported (float32 or float16)"),
    };

    public int NumLayers { get; }
    public int NumKvHeads { get; }
    public int HeadDim { get; }
    public Type KvElementType { get; }
    /// <summary>Logit rows the graph computes (may include padding).</summary>
    public int NumLogits { get; }
    /// <summary>Token ids the runner accepts and logits it returns: [0, VocabSize).</summary>
    public int VocabSize { get; }
    public int MaxLength { get; }
    public DeviceKvCache Cache { get; }
    public string ModelPath => files.ModelPath;

    /// <summary>Tokens run so far (the context the next forward continues).</summary>
    public int Length => context.Count;

    /// <summary>When set, forwards are kept in (and, while it replays, answered from) this store; siblings made after
    /// share it. See <see cref="DraftReplayStore"/>.</summary>
    public DraftReplayStore? Replay { get; set; }

    /// <summary>Runs <paramref name="tokens"/> after the cached prefix; returns the logits of the last token.</summary>
    public ReadOnlySpan<float> Forward(ReadOnlySpan<int> tokens)
    {
        Check(tokens);
        Append(tokens);
        if (Replay?.TryReplay(keys[^1], lastRow) == true) return lastRow;
        RunPending(context.Count, keepLastRow: true);
        Replay?.Keep(keys[^1], lastRow);
        return lastRow;
    }

    private void Append(ReadOnlySpan<int> tokens)
    {
        var key = keys.Count == 0 ? ContextKey.Empty : keys[^1];
        foreach (var t in tokens) { context.Add(t); keys.Add(key = key.Append(t)); }
    }

    /// <summary>Runs the model over the context's positions the K/V cache lacks, up to <paramref name="end"/>.</summary>
    private void RunPending(int end, bool keepLastRow)
    {
        var pending = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(context)[Cache.Length..end];
        for (int start = 0; start < pending.Length; start += MaxChunkTokens)
        {
            int count = Math.Min(MaxChunkTokens, pending.Length - start);
            RunChunk(pending.Slice(start, count), keepLastRow && start + count == pending.Length ? count - 1 : -1, null, 0);
        }
    }

    /// <summary>Runs <paramref name="tokens"/> and returns every position's logits, row-major (tokens × vocab):
    /// teacher-forced calibration reads them all.</summary>
    public float[] ForwardAllRows(ReadOnlySpan<int> tokens)
    {
        Check(tokens);
        RunPending(context.Count, keepLastRow: false);   // after replayed forwards, the cache catches up first
        Append(tokens);
        var rows = new float[(long)tokens.Length * VocabSize];
        for (int start = 0; start < tokens.Length; start += MaxChunkTokens)
        {
            int count = Math.Min(MaxChunkTokens, tokens.Length - start);
            RunChunk(tokens.Slice(start, count), -1, rows, start);
        }
        return rows;
    }

    private void Check(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length == 0) throw new ArgumentException("no tokens to run", nameof(tokens));
        if (Length + tokens.Length > MaxLength)
            throw new InvalidOperationException($"sequence of {Length + tokens.Length} tokens exceeds the draft runner's window of {MaxLength}");
        foreach (var t in tokens)
            if ((uint)t >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {t} outside the vocabulary [0, {VocabSize})");
    }

    /// <summary>One forward over at most <see cref="MaxChunkTokens"/> tokens; copies row <paramref name="keepRow"/> into
    /// the last-row buffer, or all rows into <paramref name="allRows"/> from row <paramref name="rowOffset"/>.</summary>
    private void RunChunk(ReadOnlySpan<int> tokens, int keepRow, float[]? allRows, int rowOffset)
    {
        int T = tokens.Length, P = Cache.Length;
        for (int t = 0; t < T; t++) { inputIds[t] = tokens[t]; positionIds[t] = P + t; }
        long[] pastShape = [1, NumKvHeads, P, HeadDim], presentShape = [1, NumKvHeads, P + T, HeadDim];
        int pastSize = NumKvHeads * P * HeadDim, presentSize = NumKvHeads * (P + T) * HeadDim;
        var values = new List<OrtValue>(4 + 4 * NumLayers);
        using var binding = session.CreateIoBinding();
        try
        {
            OrtValue Add(OrtValue v) { values.Add(v); return v; }
            binding.BindInput(files.InputIds, Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, inputIds.AsMemory(0, T), [1, T])));
            binding.BindInput(files.AttentionMask, Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, attentionMask.AsMemory(0, P + T), [1, P + T])));
            if (hasPositionIds)
                binding.BindInput(files.PositionIds, Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, positionIds.AsMemory(0, T), [1, T])));
            if (hasCacheBranch)
                binding.BindInput("use_cache_branch", Add(OrtValue.CreateTensorValueFromMemory(new[] { P > 0 }, [1])));
            binding.BindOutputToDevice(files.Logits, OrtMemoryInfo.DefaultInstance);   // bound first: output 0 below
            for (int l = 0; l < NumLayers; l++)
                foreach (var value in new[] { false, true })
                {
                    binding.BindInput(DraftModelFiles.Layer(value ? files.PastValue : files.PastKey, l), Add(Bind(Cache.Past(l, value), pastSize, pastShape)));
                    binding.BindOutput(DraftModelFiles.Layer(value ? files.PresentValue : files.PresentKey, l), Add(Bind(Cache.Present(l, value), presentSize, presentShape)));
                }
            session.RunWithBinding(runOptions, binding);
            using var outputs = binding.GetOutputValues();
            var logits = outputs.First();   // in binding order: the logits, then the presents in our buffers
            if (keepRow >= 0) ReadRow(logits, keepRow, lastRow);
            if (allRows is not null)
                for (int t = 0; t < T; t++) ReadRow(logits, t, allRows.AsSpan((rowOffset + t) * VocabSize, VocabSize));
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
        Cache.Advance(T);
    }

    private void ReadRow(OrtValue logits, int row, Span<float> destination)
    {
        if (float16Logits)
        {
            var halves = logits.GetTensorDataAsSpan<Float16>().Slice(row * NumLogits, VocabSize);
            for (int i = 0; i < halves.Length; i++) destination[i] = (float)halves[i];
        }
        else logits.GetTensorDataAsSpan<float>().Slice(row * NumLogits, VocabSize).CopyTo(destination);
    }

    private static OrtValue Bind(Array buffer, int length, long[] shape) => buffer switch
    {
        float[] f => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, f.AsMemory(0, length), shape),
        Float16[] h => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, h.AsMemory(0, length), shape),
        _ => throw new InvalidOperationException($"K/V buffer of {buffer.GetType().Name}"),
    };

    /// <summary>A second runner of the same model, with a cache of its own (the device's runner-up branch).</summary>
    public OnnxDraftRunner CreateSibling() => new(this);

    /// <summary>Rolls the context (and the cache) back to the first <paramref name="length"/> tokens.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length), $"cannot truncate a context of {Length} tokens to {length}");
        context.RemoveRange(length, context.Count - length);
        keys.RemoveRange(length, keys.Count - length);
        Cache.Truncate(Math.Min(Cache.Length, length));
    }

    public void Reset()
    {
        context.Clear();
        keys.Clear();
        Cache.Clear();
    }

    /// <summary>Becomes a copy of <paramref name="other"/>'s first <paramref name="length"/> tokens, K/V included (a
    /// sibling's branch taken over, or a branch started from the main context).</summary>
    public void CopyFrom(OnnxDraftRunner other, int length)
    {
        if (length < 0 || length > other.Length) throw new ArgumentOutOfRangeException(nameof(length));
        context.Clear(); context.AddRange(other.context.Take(length));
        keys.Clear(); keys.AddRange(other.keys.Take(length));
        Cache.CopyFrom(other.Cache, Math.Min(length, other.Cache.Length));
    }

    public void Dispose()
    {
        runOptions.Dispose();
        if (ownsSession) session.Dispose();
    }
}

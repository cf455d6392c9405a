using Synera.Abstractions.Messages;
using Synera.Models;
using Synera.Tokenizer;
using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Grains.Verification;

/// <summary>
/// The TorchSharp LLM runner: runs one step's inputs (cached prefix, new tokens), laid out by the
/// <see cref="BatchBuilder"/>, in one forward whose attention layers write and read K/V in the
/// <see cref="KvCacheManager"/>'s slot pools. Runs on CUDA when the silo
/// has it (same code path), else CPU. Inputs are validated before they reach torch (a libtorch error aborts
/// the process on this platform rather than raising an exception).
/// </summary>
public sealed class TorchModelRunner : IVerifierModelRunner
{
    /// <summary>The context a slot holds when the operator sets none: the model's own limit, at most this.</summary>
    public const int DefaultMaxContext = 4096;

    private readonly Transformer model;
    private readonly Device device;
    private readonly int vocab;          // the tokenizer's ids; logit rows past it are padding, never chosen

    /// <param name="tokenizer">The model's tokenizer (its vocabulary, stop tokens and fingerprint); without one the
    /// model's vocab_size and eos_token_id stand in.</param>
    /// <param name="maxContext">Longest session (prompt and answer) a KV slot holds; 0: the model's
    /// <c>max_position_embeddings</c>, at most <see cref="DefaultMaxContext"/>.</param>
    public TorchModelRunner(Transformer model, Device device, long kvCacheBudgetBytes, string modelName, int maxSpanTokens,
        SyneraTokenizer? tokenizer = null, int maxContext = 0)
    {
        this.model = model;
        this.device = device;
        var c = model.Config;
        int context = maxContext > 0 ? maxContext : Math.Min(c.MaxPositions, DefaultMaxContext);
        if (context > c.MaxPositions)
            throw new ArgumentException($"a maximum context of {context} tokens exceeds {modelName}'s max_position_embeddings ({c.MaxPositions})");
        if (c.SlidingWindow is int window && context > window)
            throw new ArgumentException($"{modelName} attends over a sliding window of {window} tokens, which this verifier does not implement; " +
                $"within the window it is full attention, so serve it with a maximum context of at most {window} (asked: {context})");
        vocab = tokenizer?.VocabSize ?? c.VocabSize;
        if (vocab > c.VocabSize) throw new ArgumentException($"{modelName}: the tokenizer has {vocab} tokens, the model {c.VocabSize} logit rows");
        KvCache = new KvCacheManager(KvLayout.For(c, context, model.DType), kvCacheBudgetBytes, device);
        Info = new VerifierModelInfo(modelName, vocab, maxSpanTokens, context, DeviceName(device), tokenizer?.Fingerprint);
        EosTokenIds = tokenizer is null ? new HashSet<int> { c.EosTokenId } : tokenizer.EosIds;
    }

    public VerifierModelInfo Info { get; }
    public IReadOnlySet<int> EosTokenIds { get; }
    public KvCacheManager KvCache { get; }

    /// <summary>Picks <c>cuda</c> when requested or available (<c>auto</c>), else <c>cpu</c>.</summary>
    public static Device SelectDevice(string preference) => preference switch
    {
        "cuda" => cuda.is_available() ? CUDA : throw new InvalidOperationException("Device 'cuda' requested but CUDA is not available on this silo"),
        "cpu" => CPU,
        _ => cuda.is_available() ? CUDA : CPU,
    };

    /// <summary><c>cpu</c> or <c>cuda</c>, as reported to devices and written in benchmark files.</summary>
    public static string DeviceName(Device device) => device.type.ToString().ToLowerInvariant();

    public IReadOnlyList<RunnerOutput> Execute(IReadOnlyList<RunnerInput> inputs)
    {
        if (inputs.Count == 0) return [];
        Validate(inputs);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var batch = BatchBuilder.Build(inputs, KvCache.AcquireSlots(inputs.Select(i => i.SessionId).ToList()));
        var attention = batch.Groups.Select(g => new AttentionGroup(g.Rows, g.Length,
            AttentionMasks.Aligned(g.PastLengths, g.Length, g.AttendLength, device),
            KvCache.OpenBatch(g.Slots, g.PastLengths, g.NewLengths, g.Length))).ToList();
        // Only the rows someone reads reach the output head: [LogitsFrom, length) of each input, in input order.
        var rowIndex = new List<long>();
        var firstRow = new int[inputs.Count];
        foreach (var g in batch.Groups)
            for (int b = 0; b < g.Rows; b++)
            {
                if (g.InputOfRow[b] < 0) continue;
                var input = inputs[g.InputOfRow[b]];
                KvCache.SetLength(input.SessionId, g.PastLengths[b] + g.NewLengths[b]);
                firstRow[g.InputOfRow[b]] = rowIndex.Count;
                for (int t = input.LogitsFrom; t < g.NewLengths[b]; t++) rowIndex.Add(g.Offset + b * g.Length + t);
            }
        var logitsTensor = model.Forward(tensor(batch.TokenIds, device: device), tensor(batch.Positions, device: device), attention,
            tensor(rowIndex.ToArray(), device: device));   // (R, V)

        // One copy of the read rows to the host, padded vocabulary rows dropped.
        int V = vocab;
        var logits = logitsTensor.narrow(1, 0, V).to_type(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        var outputs = new RunnerOutput[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            int rows = inputs[i].InputIds.Length - inputs[i].LogitsFrom;
            outputs[i] = new RunnerOutput(logits.AsSpan(firstRow[i] * V, rows * V).ToArray(), rows, V);
        }
        return outputs;
    }

    /// <summary>
    /// Runs a full step of <paramref name="stepTokens"/> tokens twice (as first spans, then continuing their caches) and
    /// frees the sessions again: the JIT compiles the step's path, the BLAS library picks its kernels and the KV pools grow
    /// before the first device waits on them. Measured here: a cold verifier's first steps took seconds, long enough for
    /// sessions placed on it as it joined to resynchronise (their verdicts overdue) and move elsewhere.
    /// </summary>
    public void WarmUp(int stepTokens, int spanTokens = 16)
    {
        int rows = Math.Max(1, Math.Min(stepTokens / spanTokens, KvCache.MaxSessions));
        int span = Math.Min(spanTokens, Math.Max(1, KvCache.Layout.Positions / 2));
        var ids = Enumerable.Range(0, rows).Select(i => $"warm-up/{i}").ToArray();
        var tokens = Enumerable.Range(0, span).Select(i => i % vocab).ToArray();
        try
        {
            Execute([.. ids.Select(id => new RunnerInput(id, tokens, 0, 0))]);
            Execute([.. ids.Select(id => new RunnerInput(id, tokens, span, 0))]);
        }
        finally
        {
            foreach (var id in ids) KvCache.Release(id);
        }
    }

    private void Validate(IReadOnlyList<RunnerInput> inputs)
    {
        foreach (var input in inputs)
        {
            if (input.InputIds.Length == 0) throw new ArgumentException($"session {input.SessionId}: empty input");
            if (input.StartPosition != KvCache.CachedLength(input.SessionId))
                throw new InvalidOperationException($"session {input.SessionId}: input starts at {input.StartPosition} but {KvCache.CachedLength(input.SessionId)} positions are cached");
            if (input.StartPosition + input.InputIds.Length > KvCache.Layout.Positions)
                throw new ArgumentException($"session {input.SessionId}: {input.StartPosition + input.InputIds.Length} positions exceed the model's {KvCache.Layout.Positions}");
            if (input.LogitsFrom < 0 || input.LogitsFrom >= input.InputIds.Length)
                throw new ArgumentException($"session {input.SessionId}: LogitsFrom {input.LogitsFrom} outside the input");
            foreach (var id in input.InputIds)
                if ((uint)id >= (uint)vocab) throw new ArgumentException($"session {input.SessionId}: token id {id} outside the vocabulary");
        }
    }

    public void Dispose()
    {
        KvCache.Dispose();
        model.Dispose();
    }
}

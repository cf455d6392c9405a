using Synera.Abstractions.Messages;
using Synera.Models;
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
    private readonly Transformer model;
    private readonly Device device;

    public TorchModelRunner(Transformer model, Device device, long kvCacheBudgetBytes, string modelName, int maxSpanTokens)
    {
        this.model = model;
        this.device = device;
        KvCache = new KvCacheManager(KvLayout.For(model.Config), kvCacheBudgetBytes, device);
        Info = new VerifierModelInfo(modelName, model.Config.VocabSize, maxSpanTokens, model.Config.MaxPositions, DeviceName(device));
        EosTokenId = model.Config.EosTokenId;
    }

    public VerifierModelInfo Info { get; }
    public int EosTokenId { get; }
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
        var logitsTensor = model.Forward(tensor(batch.TokenIds, device: device), tensor(batch.Positions, device: device), attention);   // (N, V)

        // One copy of all logits to the host; each output takes its rows [LogitsFrom, length).
        int V = model.Config.VocabSize;
        var logits = logitsTensor.cpu().contiguous().data<float>().ToArray();
        var outputs = new RunnerOutput[inputs.Count];
        foreach (var g in batch.Groups)
            for (int b = 0; b < g.Rows; b++)
            {
                if (g.InputOfRow[b] < 0) continue;
                var input = inputs[g.InputOfRow[b]];
                KvCache.SetLength(input.SessionId, g.PastLengths[b] + g.NewLengths[b]);
                int rows = g.NewLengths[b] - input.LogitsFrom;
                outputs[g.InputOfRow[b]] = new RunnerOutput(logits.AsSpan((g.Offset + b * g.Length + input.LogitsFrom) * V, rows * V).ToArray(), rows, V);
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
        var tokens = Enumerable.Range(0, span).Select(i => i % model.Config.VocabSize).ToArray();
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
                if ((uint)id >= (uint)model.Config.VocabSize) throw new ArgumentException($"session {input.SessionId}: token id {id} outside the vocabulary");
        }
    }

    public void Dispose()
    {
        KvCache.Dispose();
        model.Dispose();
    }
}

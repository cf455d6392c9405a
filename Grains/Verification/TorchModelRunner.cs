using Synera.Abstractions.Messages;
using Synera.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Grains.Verification;

/// <summary>
/// The TorchSharp LLM runner: pads a batch of (cached prefix, new tokens) sequences, gathers their past K/V
/// from the <see cref="KvCacheManager"/>'s pools, runs one forward, and writes the new positions back. Runs on CUDA when the silo
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
        Info = new VerifierModelInfo(modelName, model.Config.VocabSize, maxSpanTokens, model.Config.MaxPositions, device.type.ToString().ToLowerInvariant());
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

    public IReadOnlyList<RunnerOutput> Execute(IReadOnlyList<RunnerInput> inputs)
    {
        if (inputs.Count == 0) return [];
        Validate(inputs);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int B = inputs.Count, V = model.Config.VocabSize;
        var pastLengths = inputs.Select(i => i.StartPosition).ToArray();
        var newLengths = inputs.Select(i => i.InputIds.Length).ToArray();
        int maxPast = pastLengths.Max(), maxNew = newLengths.Max();
        var slots = KvCache.AcquireSlots(inputs.Select(i => i.SessionId).ToList());

        // Right-padded inputs; row b's tokens sit at positions pastLengths[b] + t.
        var ids = new long[B * maxNew];
        var positions = new long[B * maxNew];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < maxNew; t++)
            {
                ids[b * maxNew + t] = t < newLengths[b] ? inputs[b].InputIds[t] : 0;
                positions[b * maxNew + t] = pastLengths[b] + t;
            }
        var inputTensor = tensor(ids, [B, maxNew], device: device);
        var positionTensor = tensor(positions, [B, maxNew], device: device);
        var mask = AttentionMasks.Batched(pastLengths, newLengths, maxPast, maxNew, device);
        var (pastKeys, pastValues) = maxPast == 0 ? (null, null) : KvCache.Gather(slots, maxPast);
        var result = model.Forward(inputTensor, positionTensor, mask, pastKeys, pastValues);

        StoreNewPositions(result, slots, pastLengths, newLengths, maxPast, maxNew);
        for (int b = 0; b < B; b++) KvCache.SetLength(inputs[b].SessionId, pastLengths[b] + newLengths[b]);

        // One copy of all logits to the host; each output takes its rows [LogitsFrom, length).
        var logits = result.Logits.cpu().contiguous().data<float>().ToArray();
        var outputs = new RunnerOutput[B];
        for (int b = 0; b < B; b++)
        {
            int rows = newLengths[b] - inputs[b].LogitsFrom;
            outputs[b] = new RunnerOutput(logits.AsSpan((b * maxNew + inputs[b].LogitsFrom) * V, rows * V).ToArray(), rows, V);
        }
        return outputs;
    }

    /// <summary>Copies every real (non-padding) new position's K/V into its session's slot, one index_copy_ per pool.</summary>
    private void StoreNewPositions(ForwardResult result, int[] slots, int[] pastLengths, int[] newLengths, int maxPast, int maxNew)
    {
        int B = slots.Length, total = newLengths.Sum(), layers = model.Config.NumLayers;
        var rows = new long[total];
        var slotOfRow = new long[total];
        var positionOfRow = new long[total];
        for (int b = 0, r = 0; b < B; b++)
            for (int t = 0; t < newLengths[b]; t++, r++)
            {
                rows[r] = b * maxNew + t;
                slotOfRow[r] = slots[b];
                positionOfRow[r] = pastLengths[b] + t;
            }
        using var rowIndex = tensor(rows, device: device);
        var keys = new Tensor[layers];
        var values = new Tensor[layers];
        for (int l = 0; l < layers; l++)
        {
            keys[l] = NewRows(result.Keys[l], rowIndex, maxPast, maxNew);
            values[l] = NewRows(result.Values[l], rowIndex, maxPast, maxNew);
        }
        KvCache.Write(slotOfRow, positionOfRow, keys, values);
    }

    /// <summary>present (B, nkv, Pmax + Tmax, hs) → the selected new rows, (N, nkv, hs).</summary>
    private static Tensor NewRows(Tensor present, Tensor rowIndex, int maxPast, int maxNew)
    {
        var fresh = present.narrow(2, maxPast, maxNew).transpose(1, 2);          // (B, Tmax, nkv, hs)
        return fresh.reshape(-1, fresh.shape[2], fresh.shape[3]).index_select(0, rowIndex);
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

using Synera.Abstractions.Messages;
using Synera.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Grains.Verification;

/// <summary>
/// The TorchSharp LLM runner: pads a batch of (cached prefix, new tokens) sequences and runs one forward whose
/// attention layers write and read K/V in the <see cref="KvCacheManager"/>'s slot pools. Runs on CUDA when the silo
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
        var allSlots = KvCache.AcquireSlots(inputs.Select(i => i.SessionId).ToList());
        // Inputs are right-padded to the longest in a forward, so a session's 40-token prefill would make 31
        // four-token spans pay for 40 positions each. One forward per length bucket (powers of two) bounds
        // the padding to 2x; a step is still one scheduler decision.
        var outputs = new RunnerOutput[inputs.Count];
        foreach (var bucket in Enumerable.Range(0, inputs.Count).GroupBy(i => BucketOf(inputs[i].InputIds.Length)))
        {
            var members = bucket.OrderBy(i => allSlots[i]).ToArray();   // slot order lets the KV store read a view
            var results = ExecuteGroup(members.Select(i => inputs[i]).ToList(), members.Select(i => allSlots[i]).ToArray());
            for (int m = 0; m < members.Length; m++) outputs[members[m]] = results[m];
        }
        return outputs;
    }

    private static int BucketOf(int length) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(length, 4));

    private RunnerOutput[] ExecuteGroup(IReadOnlyList<RunnerInput> inputs, int[] slots)
    {
        using var scope = NewDisposeScope();
        int V = model.Config.VocabSize;
        var rowSlots = RowSlots(slots);
        int B = rowSlots.Length;
        var inputOfRow = rowSlots.Select(slot => Array.IndexOf(slots, slot)).ToArray();   // -1: filler row
        var pastLengths = inputOfRow.Select(i => i < 0 ? 0 : inputs[i].StartPosition).ToArray();
        var newLengths = inputOfRow.Select(i => i < 0 ? 0 : inputs[i].InputIds.Length).ToArray();
        int maxNew = newLengths.Max();

        // Right-padded inputs; row b's tokens sit at positions pastLengths[b] + t.
        var ids = new long[B * maxNew];
        var positions = new long[B * maxNew];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < maxNew; t++)
            {
                ids[b * maxNew + t] = t < newLengths[b] ? inputs[inputOfRow[b]].InputIds[t] : 0;
                positions[b * maxNew + t] = pastLengths[b] + t;
            }
        var inputTensor = tensor(ids, [B, maxNew], device: device);
        var positionTensor = tensor(positions, [B, maxNew], device: device);
        int attendLength = Enumerable.Range(0, B).Max(b => pastLengths[b] + newLengths[b]);
        var mask = AttentionMasks.Aligned(pastLengths, maxNew, attendLength, device);
        var logitsTensor = model.Forward(inputTensor, positionTensor, mask, KvCache.OpenBatch(rowSlots, pastLengths, newLengths, maxNew));

        // One copy of all logits to the host; each output takes its rows [LogitsFrom, length).
        var logits = logitsTensor.cpu().contiguous().data<float>().ToArray();
        var outputs = new RunnerOutput[inputs.Count];
        for (int b = 0; b < B; b++)
        {
            if (inputOfRow[b] < 0) continue;
            var input = inputs[inputOfRow[b]];
            KvCache.SetLength(input.SessionId, pastLengths[b] + newLengths[b]);
            int rows = newLengths[b] - input.LogitsFrom;
            outputs[inputOfRow[b]] = new RunnerOutput(logits.AsSpan((b * maxNew + input.LogitsFrom) * V, rows * V).ToArray(), rows, V);
        }
        return outputs;
    }

    /// <summary>
    /// The slots a forward's rows read, ascending. When a few slots inside the batch's range are not in it (a session
    /// of the range waits in another bucket, or is idle), a filler row per gap keeps them consecutive, so that every
    /// layer reads K/V through one view of the pool instead of gathering a copy of the whole batch's. A filler has no
    /// tokens: it writes nothing into its slot, and its outputs are dropped.
    /// </summary>
    private static int[] RowSlots(int[] slots)
    {
        int first = slots[0], width = slots[^1] - first + 1, gaps = width - slots.Length;
        return gaps == 0 || gaps > Math.Max(2, slots.Length / 4) ? slots : Enumerable.Range(first, width).ToArray();
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

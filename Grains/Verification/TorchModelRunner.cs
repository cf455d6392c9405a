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
        using var scope = NewDisposeScope();
        var allSlots = KvCache.AcquireSlots(inputs.Select(i => i.SessionId).ToList());
        // One forward per step. Rows are right-padded within a group, so a session's 40-token prefill in the group
        // of 31 four-token spans would make each pay for 40 positions: inputs are grouped by length (powers of two,
        // padding at most 2x), every group packed into the same token axis. The groups share every matmul and
        // attend on their own.
        var groups = Enumerable.Range(0, inputs.Count).GroupBy(i => BucketOf(inputs[i].InputIds.Length))
            .Select(bucket => RowGroup.Plan(bucket.OrderBy(i => allSlots[i]).ToArray(), inputs, allSlots))   // slot order lets the KV store read a view
            .ToList();
        int packed = groups.Sum(g => g.Tokens);
        var ids = new long[packed];
        var positions = new long[packed];
        var attention = new List<AttentionGroup>(groups.Count);
        int offset = 0;
        foreach (var g in groups)
        {
            g.Offset = offset;
            for (int b = 0; b < g.Rows; b++)
                for (int t = 0; t < g.Length; t++)
                {
                    int at = offset + b * g.Length + t;
                    ids[at] = t < g.NewLengths[b] ? inputs[g.InputOfRow[b]].InputIds[t] : 0;
                    positions[at] = g.PastLengths[b] + t;
                }
            int attendLength = Enumerable.Range(0, g.Rows).Max(b => g.PastLengths[b] + g.NewLengths[b]);
            var mask = AttentionMasks.Aligned(g.PastLengths, g.Length, attendLength, device);
            attention.Add(new AttentionGroup(g.Rows, g.Length, mask, KvCache.OpenBatch(g.Slots, g.PastLengths, g.NewLengths, g.Length)));
            offset += g.Tokens;
        }
        var logitsTensor = model.Forward(tensor(ids, device: device), tensor(positions, device: device), attention);   // (N, V)

        // One copy of all logits to the host; each output takes its rows [LogitsFrom, length).
        int V = model.Config.VocabSize;
        var logits = logitsTensor.cpu().contiguous().data<float>().ToArray();
        var outputs = new RunnerOutput[inputs.Count];
        foreach (var g in groups)
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

    private static int BucketOf(int length) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(length, 4));

    /// <summary>The rows of one attention group, in slot order: which input each row runs (−1: a filler), and its lengths.</summary>
    private sealed class RowGroup
    {
        public required int[] Slots, InputOfRow, PastLengths, NewLengths;
        public required int Length;   // the longest new input: every row is padded to it
        public int Rows => Slots.Length;
        public int Tokens => Rows * Length;
        public int Offset;

        public static RowGroup Plan(int[] members, IReadOnlyList<RunnerInput> inputs, int[] allSlots)
        {
            var inputOfSlot = members.ToDictionary(i => allSlots[i]);
            var slots = RowSlots(members.Select(i => allSlots[i]).ToArray());
            var inputOfRow = slots.Select(slot => inputOfSlot.GetValueOrDefault(slot, -1)).ToArray();
            var newLengths = inputOfRow.Select(i => i < 0 ? 0 : inputs[i].InputIds.Length).ToArray();
            return new RowGroup
            {
                Slots = slots,
                InputOfRow = inputOfRow,
                PastLengths = inputOfRow.Select(i => i < 0 ? 0 : inputs[i].StartPosition).ToArray(),
                NewLengths = newLengths,
                Length = newLengths.Max(),
            };
        }
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

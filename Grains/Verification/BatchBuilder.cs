namespace Synera.Grains.Verification;

/// <summary>
/// The rows of one attention group, in slot order: which input each row runs (−1: a filler row), the row's cached
/// and new lengths, and where the group's tokens start in the packed token axis (rows of <see cref="Length"/> tokens,
/// one after another).
/// </summary>
public sealed class RowGroup
{
    public required int[] Slots { get; init; }
    public required int[] InputOfRow { get; init; }
    public required int[] PastLengths { get; init; }
    public required int[] NewLengths { get; init; }
    /// <summary>The longest new input of the group: every row is right-padded to it.</summary>
    public required int Length { get; init; }
    public required int Offset { get; init; }
    public int Rows => Slots.Length;
    public int Tokens => Rows * Length;
    /// <summary>Keys the group attends over: its longest cached + new length.</summary>
    public int AttendLength => Enumerable.Range(0, Rows).Max(b => PastLengths[b] + NewLengths[b]);
}

/// <summary>One engine step's forward, laid out: the packed token ids and positions, and the attention groups.</summary>
public sealed record PackedBatch(long[] TokenIds, long[] Positions, IReadOnlyList<RowGroup> Groups)
{
    public int NumTokens => TokenIds.Length;
}

/// <summary>
/// Lays out one forward for a step's inputs (vLLM's input preparation). Rows are right-padded within a group, so a
/// session's 40-token prefill among 31 four-token spans would make each pay for 40 positions: inputs are grouped by
/// length (powers of two, so padding stays under 2×) and every group is packed into the same token axis, where they
/// share every matmul and attend on their own. Within a group rows go in slot order, so the KV store can read the
/// group's slots as one view of its pools; a few gaps in that order get filler rows (<see cref="RowSlots"/>).
/// </summary>
public static class BatchBuilder
{
    /// <param name="inputs">The step's inputs.</param>
    /// <param name="slots">The KV slot of each input's session (distinct).</param>
    public static PackedBatch Build(IReadOnlyList<RunnerInput> inputs, IReadOnlyList<int> slots)
    {
        if (inputs.Count != slots.Count) throw new ArgumentException($"{inputs.Count} inputs but {slots.Count} slots");
        var groups = new List<RowGroup>();
        int offset = 0;
        foreach (var bucket in Enumerable.Range(0, inputs.Count).GroupBy(i => BucketOf(inputs[i].InputIds.Length)).OrderBy(b => b.Key))
        {
            var members = bucket.OrderBy(i => slots[i]).ToArray();
            var inputOfSlot = members.ToDictionary(i => slots[i]);
            var rowSlots = RowSlots(members.Select(i => slots[i]).ToArray());
            var inputOfRow = rowSlots.Select(slot => inputOfSlot.GetValueOrDefault(slot, -1)).ToArray();
            var newLengths = inputOfRow.Select(i => i < 0 ? 0 : inputs[i].InputIds.Length).ToArray();
            var group = new RowGroup
            {
                Slots = rowSlots,
                InputOfRow = inputOfRow,
                PastLengths = inputOfRow.Select(i => i < 0 ? 0 : inputs[i].StartPosition).ToArray(),
                NewLengths = newLengths,
                Length = newLengths.Max(),
                Offset = offset,
            };
            groups.Add(group);
            offset += group.Tokens;
        }
        var ids = new long[offset];
        var positions = new long[offset];
        foreach (var g in groups)
            for (int b = 0; b < g.Rows; b++)
                for (int t = 0; t < g.Length; t++)
                {
                    int at = g.Offset + b * g.Length + t;
                    ids[at] = t < g.NewLengths[b] ? inputs[g.InputOfRow[b]].InputIds[t] : 0;
                    positions[at] = g.PastLengths[b] + t;
                }
        return new PackedBatch(ids, positions, groups);
    }

    /// <summary>Length bucket of an input: the next power of two (at least 4).</summary>
    public static int BucketOf(int length) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(length, 4));

    /// <summary>
    /// The slots a group's rows read, ascending. When a few slots inside the group's range are not in it (a session
    /// of the range waits in another group, or is idle), a filler row per gap keeps them consecutive, so that every
    /// layer reads K/V through one view of the pool instead of gathering a copy of the whole group's. A filler has no
    /// tokens: it writes nothing into its slot, and its outputs are dropped.
    /// </summary>
    public static int[] RowSlots(int[] sortedSlots)
    {
        int first = sortedSlots[0], width = sortedSlots[^1] - first + 1, gaps = width - sortedSlots.Length;
        return gaps == 0 || gaps > Math.Max(2, sortedSlots.Length / 4) ? sortedSlots : Enumerable.Range(first, width).ToArray();
    }
}

using static TorchSharp.torch;

namespace Synera.Models.Evaluation;

/// <summary>Plain greedy generation with a KV cache in TorchSharp: prefill the prompt, then one token per step. With
/// <paramref name="vocabSize"/> the choice is among the tokenizer's ids only (a model may pad its logit rows).</summary>
public sealed class GreedyGenerator(Transformer model, int vocabSize = 0)
{
    /// <summary>Generates up to <paramref name="maxNewTokens"/> tokens after <paramref name="promptIds"/>, stopping at EOS
    /// (or, with <paramref name="pastEos"/>, going on after it, EOS kept: a long continuation for benchmarks).</summary>
    public List<int> Generate(IReadOnlyList<int> promptIds, int maxNewTokens, int eosId, bool pastEos = false) =>
        Generate(promptIds, maxNewTokens, new HashSet<int> { eosId }, pastEos);

    /// <summary>The same, stopping at any of <paramref name="eosIds"/> (a model's whole stop set).</summary>
    public List<int> Generate(IReadOnlyList<int> promptIds, int maxNewTokens, IReadOnlySet<int> eosIds, bool pastEos = false)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var device = model.parameters().First().device;
        var output = new List<int>();
        var ids = tensor(promptIds.Select(i => (long)i).ToArray(), [1, promptIds.Count], device: device);
        var result = model.Forward(ids);
        int position = promptIds.Count;
        var maxLength = model.Config.MaxPositions;
        while (output.Count < maxNewTokens && position < maxLength)
        {
            int next = (int)(vocabSize > 0 ? result.Logits[0, -1].narrow(0, 0, vocabSize) : result.Logits[0, -1]).argmax().item<long>();
            if (eosIds.Contains(next) && !pastEos) break;
            output.Add(next);
            var input = tensor(new long[] { next }, [1, 1], device: device);
            var pos = tensor(new long[] { position }, [1, 1], device: device);
            var mask = AttentionMasks.Causal(1, position, device);
            var previous = result;
            result = model.Forward(input, pos, mask, previous.Keys, previous.Values);
            previous.Dispose();                 // its K/V live outside the scope (ForwardResult owns them)
            position++;
        }
        result.Dispose();
        return output;
    }
}

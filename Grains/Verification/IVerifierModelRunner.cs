using Synera.Abstractions.Messages;

namespace Synera.Grains.Verification;

/// <summary>One sequence of a batched forward: new input tokens appended after the session's cached prefix.</summary>
/// <param name="SessionId">Whose KV cache to extend.</param>
/// <param name="InputIds">Tokens to run; the first sits at position <paramref name="StartPosition"/>.</param>
/// <param name="StartPosition">Must equal the session's cached length.</param>
/// <param name="LogitsFrom">Index of the first input position whose logits are returned.</param>
public sealed record RunnerInput(string SessionId, int[] InputIds, int StartPosition, int LogitsFrom);

/// <summary>Logits of positions [LogitsFrom, InputIds.Length) of one input, row-major (rows × vocab).</summary>
public sealed record RunnerOutput(float[] Logits, int NumRows, int VocabSize)
{
    public ReadOnlySpan<float> Row(int i) => Logits.AsSpan(i * VocabSize, VocabSize);

    /// <summary>These rows with <paramref name="row"/> in front (logits kept from an earlier forward).</summary>
    public RunnerOutput WithFirstRow(float[] row)
    {
        if (row.Length != VocabSize) throw new ArgumentException($"a row of {row.Length} logits for a vocabulary of {VocabSize}");
        return new RunnerOutput([.. row, .. Logits], NumRows + 1, VocabSize);
    }
}

/// <summary>
/// Runs the LLM over a batch of sequences of different lengths, each continuing its session's KV cache.
/// After <see cref="Execute"/> every session's cache covers all its input tokens; the engine then truncates
/// it to what was committed. Called only from the engine thread.
/// </summary>
public interface IVerifierModelRunner : IDisposable
{
    VerifierModelInfo Info { get; }
    /// <summary>Every token that ends an answer (the model's and its tokenizer's EOS ids), as on the device.</summary>
    IReadOnlySet<int> EosTokenIds { get; }
    KvCacheManager KvCache { get; }
    IReadOnlyList<RunnerOutput> Execute(IReadOnlyList<RunnerInput> inputs);
}

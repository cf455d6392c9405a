namespace Synera.Abstractions.Messages;

/// <summary>Facts about the model a verifier serves, used to validate requests before they reach torch.</summary>
/// <param name="ModelName">Name of the model (its folder name).</param>
/// <param name="VocabSize">Token ids must be in [0, VocabSize).</param>
/// <param name="MaxSpanTokens">Largest span (context + drafts) one request may carry.</param>
/// <param name="MaxSequenceLength">Longest sequence the model supports.</param>
/// <param name="Device">Where the LLM runs (<c>cpu</c> or <c>cuda</c>).</param>
/// <param name="TokenizerFingerprint">The model's tokenizer (vocab, merges, special tokens hashed): a draft pairs with
/// this model only if its tokenizer has the same; null from a verifier that serves a model without one.</param>
[GenerateSerializer, Immutable]
public sealed record VerifierModelInfo(
    [property: Id(0)] string ModelName,
    [property: Id(1)] int VocabSize,
    [property: Id(2)] int MaxSpanTokens,
    [property: Id(3)] int MaxSequenceLength,
    [property: Id(4)] string Device,
    [property: Id(5)] string? TokenizerFingerprint = null);

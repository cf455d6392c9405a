namespace Synera.Models.Training;

/// <summary>The shipped draft/target shapes, sized for training on two CPU cores (see docs/models.md).</summary>
public static class ModelPresets
{
    /// <summary>Target (cloud LLM): ~3M parameters, GQA 8 query / 4 K/V heads.</summary>
    public static TransformerConfig Target(int vocabSize) => new()
    {
        VocabSize = vocabSize, HiddenSize = 256, IntermediateSize = 688, NumLayers = 4,
        NumHeads = 8, NumKvHeads = 4, MaxPositions = 256, TieWordEmbeddings = false,
    };

    /// <summary>Draft (device SLM): ~0.1M parameters, about 28× smaller than the target.</summary>
    public static TransformerConfig Draft(int vocabSize) => new()
    {
        VocabSize = vocabSize, HiddenSize = 64, IntermediateSize = 176, NumLayers = 2,
        NumHeads = 4, NumKvHeads = 2, MaxPositions = 256, TieWordEmbeddings = true,
    };

    public static TransformerConfig For(string kind, int vocabSize) => kind switch
    {
        "target" => Target(vocabSize),
        "draft" => Draft(vocabSize),
        _ => throw new ArgumentException($"unknown model kind '{kind}' (draft or target)", nameof(kind)),
    };
}

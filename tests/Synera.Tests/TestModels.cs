using Synera.Models;
using Synera.Models.Onnx;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>
/// Small randomly initialised models in the shipped formats (HF folder + ONNX), written once per test run
/// to a temp folder; for tests of structure and numerics that do not need trained weights.
/// </summary>
public static class TestModels
{
    private static readonly Lazy<(string draft, string target)> Paths = new(Create);

    public static string TinyDraft => Paths.Value.draft;
    public static string TinyTarget => Paths.Value.target;

    public static SyneraTokenizer Tokenizer { get; } = SyneraTokenizer.CreateCharLevel();

    public static TransformerConfig DraftConfig => new()
    {
        VocabSize = Tokenizer.VocabSize, HiddenSize = 32, IntermediateSize = 64, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, MaxPositions = 256, TieWordEmbeddings = true,
    };

    public static TransformerConfig TargetConfig => new()
    {
        VocabSize = Tokenizer.VocabSize, HiddenSize = 48, IntermediateSize = 96, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, MaxPositions = 256,
    };

    /// <summary>The repository's shipped model folders.</summary>
    public static string ShippedDraft => Path.Combine(RepoRoot, "models", "draft");
    public static string ShippedTarget => Path.Combine(RepoRoot, "models", "target");
    public static string HeldOut => Path.Combine(RepoRoot, "data", "heldout.jsonl");

    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Synera.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (Synera.sln) not found above " + AppContext.BaseDirectory);
    }

    private static (string, string) Create()
    {
        var root = Path.Combine(Path.GetTempPath(), $"synera-test-models-{Environment.ProcessId}");
        var draftDir = Path.Combine(root, "draft");
        var targetDir = Path.Combine(root, "target");
        using (var draft = new Transformer(DraftConfig, seed: 1))
        {
            ModelCheckpoint.Save(draft, Tokenizer, draftDir, float16: false);
            OnnxDecoderExporter.Export(draft, Path.Combine(draftDir, "model.onnx"));
        }
        using (var target = new Transformer(TargetConfig, seed: 2))
            ModelCheckpoint.Save(target, Tokenizer, targetDir, float16: false);
        return (draftDir, targetDir);
    }

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"synera-{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}

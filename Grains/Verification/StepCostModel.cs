using System.Text.Json;
using System.Text.Json.Serialization;
using Synera.Models;

namespace Synera.Grains.Verification;

/// <summary>The limits of the machine a verifier runs on, as a roofline sees them.</summary>
/// <param name="PeakTflops">Dense peak of the weights' dtype (TFLOP/s).</param>
/// <param name="MemoryGBps">Peak memory bandwidth (GB/s).</param>
/// <param name="ComputeEfficiency">Share of the peak a transformer's matrix products reach (model FLOPs utilisation).</param>
/// <param name="MemoryEfficiency">Share of the bandwidth streaming weights and K/V reaches.</param>
/// <param name="StepOverheadMs">Fixed cost of a step whatever it holds: the scheduler, kernel launches, sampling.</param>
/// <param name="PerSequenceOverheadMs">Cost per sequence in the batch beyond its FLOPs and bytes (gathering its cache, its logits).</param>
public sealed record HardwareLimits(string Name, double PeakTflops, double MemoryGBps, double ComputeEfficiency, double MemoryEfficiency,
    double StepOverheadMs, double PerSequenceOverheadMs);

/// <summary>
/// A verifier step's time from the model's shape and the hardware's limits, as serving simulators (Vidur, LLMCompass,
/// the roofline analyses of LLM inference) model it: a step reads every weight once and each sequence's K/V, and
/// computes 2 FLOPs per weight per token plus attention over the context; it takes the longer of its compute time
/// and its memory time, plus a fixed overhead. Decode-sized steps are memory-bound (the weights dominate), so verifying a
/// span of k drafts costs about what decoding one token costs until the step turns compute-bound; that is the regime
/// a GPU verifier lives in and this machine's CPU does not.
/// </summary>
public sealed record StepCostModel(string Name, string Description, HardwareLimits Hardware, TransformerConfig Model, int WeightBytes, int KvBytes)
{
    /// <summary>One sequence of a step: tokens run, tokens already cached before them, logit rows computed.</summary>
    public readonly record struct Sequence(int NewTokens, int CachedTokens, int LogitRows);

    /// <summary>Weights a step reads once, whatever its size: every layer's, the final norm's and the output head's
    /// (the embedding table is gathered by row, a few KB per token).</summary>
    public long LayerParameters => Model.NumLayers * (long)(
        Model.HiddenSize * (Model.NumHeads * Model.HeadDim) + 2L * Model.HiddenSize * Model.KvDim + (Model.NumHeads * Model.HeadDim) * (long)Model.HiddenSize
        + 3L * Model.HiddenSize * Model.IntermediateSize);

    public long HeadParameters => (long)Model.HiddenSize * Model.VocabSize;

    /// <summary>K/V bytes one cached position takes (all layers, keys and values).</summary>
    public long KvBytesPerToken => 2L * Model.NumLayers * Model.KvDim * KvBytes;

    public (double flops, double bytes) Work(IReadOnlyList<Sequence> batch)
    {
        double flops = 0, bytes = (LayerParameters + HeadParameters) * (double)WeightBytes;
        foreach (var s in batch)
        {
            flops += 2.0 * LayerParameters * s.NewTokens + 2.0 * HeadParameters * s.LogitRows;
            // Attention: QK^T and AV, each 2 FLOPs per head dimension per (query, key) pair; causal within the new tokens.
            flops += 4.0 * Model.NumLayers * Model.NumHeads * Model.HeadDim * s.NewTokens * (s.CachedTokens + (s.NewTokens + 1) / 2.0);
            bytes += (double)KvBytesPerToken * (s.CachedTokens + s.NewTokens);   // read the cache, write the new positions
        }
        return (flops, bytes);
    }

    /// <summary>The step's modelled time (ms), and whether its compute outlasts its memory traffic.</summary>
    public (double ms, bool computeBound) StepTime(IReadOnlyList<Sequence> batch)
    {
        var (flops, bytes) = Work(batch);
        double computeMs = flops / (Hardware.PeakTflops * 1e12 * Hardware.ComputeEfficiency) * 1e3;
        double memoryMs = bytes / (Hardware.MemoryGBps * 1e9 * Hardware.MemoryEfficiency) * 1e3;
        return (Hardware.StepOverheadMs + Hardware.PerSequenceOverheadMs * batch.Count + Math.Max(computeMs, memoryMs), computeMs > memoryMs);
    }

    public double StepMs(IReadOnlyList<RunnerInput> inputs) =>
        StepTime([.. inputs.Select(i => new Sequence(i.InputIds.Length, i.StartPosition, i.InputIds.Length - i.LogitsFrom))]).ms;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>The file's form: the hardware, and the model as a preset name (<see cref="ArchitecturePresets"/>) or a
    /// config.json path relative to the file.</summary>
    private sealed record FileForm(string Name, string Description, HardwareLimits Hardware, string? Preset, string? Config, int WeightBytes, int KvBytes,
        List<FitPoint>? Fit = null);

    /// <summary>A measured step the hardware limits were fitted to, kept in the file so the fit can be checked.</summary>
    public sealed record FitPoint(int Sequences, int NewTokens, int CachedTokens, double MeasuredMs, double ModelledMs);

    public static StepCostModel Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"cost model not found: {path}", path);
        FileForm form;
        try { form = JsonSerializer.Deserialize<FileForm>(File.ReadAllText(path), Json) ?? throw new InvalidDataException("empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a cost model ({e.Message})", e); }
        var h = form.Hardware ?? throw new InvalidDataException($"{path}: no hardware");
        if (!(h.PeakTflops > 0) || !(h.MemoryGBps > 0) || !(h.ComputeEfficiency is > 0 and <= 1) || !(h.MemoryEfficiency is > 0 and <= 1) || h.StepOverheadMs < 0 || h.PerSequenceOverheadMs < 0)
            throw new InvalidDataException($"{path}: hardware limits must be positive and efficiencies in (0, 1]");
        if (form.WeightBytes is not (1 or 2 or 4) || form.KvBytes is not (1 or 2 or 4)) throw new InvalidDataException($"{path}: weightBytes and kvBytes must be 1, 2 or 4");
        var model = form.Preset is { } preset ? ArchitecturePresets.Get(preset).Config
            : form.Config is { } config ? TransformerConfig.Load(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, config))
            : throw new InvalidDataException($"{path}: name the model by preset or config");
        return new StepCostModel(form.Name, form.Description, h, model, form.WeightBytes, form.KvBytes);
    }

    /// <summary>Writes a model of a config.json's shape (path kept relative to the file) with the points it was fitted to.</summary>
    public static void Save(string path, string name, string description, HardwareLimits hardware, string configPath, int weightBytes, int kvBytes, List<FitPoint> fit)
    {
        var relative = Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFullPath(configPath));
        File.WriteAllText(path, JsonSerializer.Serialize(new FileForm(name, description, hardware, null, relative, weightBytes, kvBytes, fit), Json) + "\n");
    }
}

namespace Synera.Models.Training;

/// <summary>What <see cref="Trainer"/> trains and for how long.</summary>
public sealed record TrainOptions
{
    public required string Kind { get; init; }          // "draft" or "target"
    public required string OutputDir { get; init; }     // final model folder (config.json, model.safetensors, tokenizer.json)
    public string CheckpointDir => Path.Combine(OutputDir, "checkpoint");
    public int Steps { get; init; } = 4000;
    public int BatchSize { get; init; } = 32;
    public double LearningRate { get; init; } = 1e-3;
    public int WarmupSteps { get; init; } = 100;
    public double MaxMinutes { get; init; } = 90;       // stop early (and save) when this wall time is reached
    public int Seed { get; init; } = 42;
    public int CheckpointEvery { get; init; } = 500;
    public int LogEvery { get; init; } = 50;
    public bool Resume { get; init; } = true;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public TransformerConfig? Config { get; init; }     // null: the preset for Kind
    public IReadOnlyDictionary<string, double>? TaskWeights { get; init; }   // curriculum; null = uniform
}

/// <summary>A progress report from the training loop.</summary>
public sealed record TrainProgress(int Step, int TotalSteps, double Loss, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Eta);

using System.Text.Json.Serialization;

namespace Synera.Models.Data;

/// <summary>One prompt with its exact ground-truth answer.</summary>
public sealed record TaskExample(
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("answer")] string Answer)
{}

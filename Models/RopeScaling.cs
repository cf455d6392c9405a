using System.Text.Json.Nodes;

namespace Synera.Models;

/// <summary>
/// Scaled rotary embeddings from a config's <c>rope_scaling</c> (or transformers 5's <c>rope_parameters</c>), as
/// transformers' <c>modeling_rope_utils</c> computes the inverse frequencies. <c>llama3</c> (Llama 3.1/3.2) keeps
/// high frequencies, divides low ones by <c>factor</c> and blends between; <c>linear</c> divides all by
/// <c>factor</c>. Other types (yarn, dynamic, longrope) change attention as well and are refused by name.
/// </summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositions = 8192)
{
    public static RopeScaling? Read(JsonObject config, string source)
    {
        if ((config["rope_scaling"] ?? config["rope_parameters"]) is not JsonObject rope) return null;
        var type = (rope["rope_type"] ?? rope["type"])?.GetValue<string>() ?? "default";
        double Number(string key, double fallback) => rope[key]?.GetValue<double>() ?? fallback;
        return type switch
        {
            "default" => null,
            "linear" => new RopeScaling(type, Number("factor", 1)),
            "llama3" => new RopeScaling(type, Number("factor", 8), Number("low_freq_factor", 1), Number("high_freq_factor", 4),
                (int)Number("original_max_position_embeddings", 8192)),
            _ => throw new InvalidDataException($"{source}: rope_type '{type}' is not supported (default, linear and llama3 are)"),
        };
    }

    public JsonObject ToJson() => Type == "linear"
        ? new JsonObject { ["rope_type"] = Type, ["factor"] = Factor }
        : new JsonObject
        {
            ["rope_type"] = Type, ["factor"] = Factor, ["low_freq_factor"] = LowFreqFactor,
            ["high_freq_factor"] = HighFreqFactor, ["original_max_position_embeddings"] = OriginalMaxPositions,
        };

    /// <summary>Rescales plain inverse frequencies θ^(−2i/d).</summary>
    public double[] Apply(double[] invFreq)
    {
        if (Type == "linear") return invFreq.Select(f => f / Factor).ToArray();
        double lowWavelen = OriginalMaxPositions / LowFreqFactor, highWavelen = OriginalMaxPositions / HighFreqFactor;
        return invFreq.Select(f =>
        {
            double wavelen = 2 * Math.PI / f;
            if (wavelen < highWavelen) return f;                    // high frequency: unchanged
            if (wavelen > lowWavelen) return f / Factor;            // low frequency: scaled
            double smooth = (OriginalMaxPositions / wavelen - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
            return (1 - smooth) * f / Factor + smooth * f;          // in between: blended
        }).ToArray();
    }
}

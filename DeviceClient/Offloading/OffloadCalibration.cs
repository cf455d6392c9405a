using System.Text.Json;
using System.Text.Json.Serialization;

namespace Synera.DeviceClient.Offloading;

/// <summary>One point of a draft/target pair's calibration curve.</summary>
/// <param name="Threshold">Offload a token whose confidence is below this.</param>
/// <param name="OffloadRatio">Fraction of answer tokens below the threshold on the calibration set.</param>
/// <param name="Agreement">Fraction of answer tokens that end up equal to the target's greedy token when the
/// tokens below the threshold are verified (teacher-forced: 1 − missed disagreements / tokens).</param>
/// <param name="Recall">Fraction of the draft/target disagreements that fall below the threshold.</param>
public sealed record CalibrationPoint(
    [property: JsonPropertyName("threshold")] double Threshold,
    [property: JsonPropertyName("offload_ratio")] double OffloadRatio,
    [property: JsonPropertyName("agreement")] double Agreement,
    [property: JsonPropertyName("recall")] double Recall);

/// <summary>
/// The offline calibration of a draft/target pair (<c>models/draft/offload.json</c>, written by
/// <c>synera calibrate</c>): for each confidence metric, threshold → expected offload ratio → expected agreement,
/// measured by teacher-forcing the draft on the target's greedy answers over a calibration set. The device starts
/// from the threshold its budget maps to; its slow controller corrects from there (<see cref="ThresholdController"/>).
/// </summary>
public sealed record OffloadCalibration(
    [property: JsonPropertyName("draft")] string Draft,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("examples")] int Examples,
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("disagreement")] double Disagreement,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("curves")] Dictionary<string, List<CalibrationPoint>> Curves)
{
    public const string FileName = "offload.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The metric's key in <see cref="Curves"/>.</summary>
    public static string Key(ConfidenceMetric metric) => JsonNamingPolicy.SnakeCaseLower.ConvertName(metric.ToString());

    /// <summary>
    /// The threshold whose expected offload ratio is <paramref name="ratio"/> (interpolated between calibration points),
    /// or null when the metric was not calibrated.
    /// </summary>
    public double? ThresholdFor(ConfidenceMetric metric, double ratio)
    {
        if (!Curves.TryGetValue(Key(metric), out var curve) || curve.Count == 0) return null;
        if (ratio <= 0) return 0;
        if (ratio >= 1) return double.PositiveInfinity;
        // The curve is sorted by threshold, so offload ratio rises along it.
        if (ratio <= curve[0].OffloadRatio) return curve[0].Threshold * ratio / Math.Max(1e-9, curve[0].OffloadRatio);
        for (int i = 1; i < curve.Count; i++)
        {
            var (a, b) = (curve[i - 1], curve[i]);
            if (ratio > b.OffloadRatio) continue;
            var f = b.OffloadRatio == a.OffloadRatio ? 1 : (ratio - a.OffloadRatio) / (b.OffloadRatio - a.OffloadRatio);
            return a.Threshold + f * (b.Threshold - a.Threshold);
        }
        return curve[^1].Threshold;
    }

    /// <summary>
    /// The smallest offload ratio whose threshold already catches every disagreement the calibration saw (recall 1), or
    /// null when the metric was not calibrated. Above its threshold the draft was never wrong, so offloading there only
    /// spends budget: the threshold controller does not raise the threshold past it.
    /// </summary>
    public double? SaturationRatio(ConfidenceMetric metric) =>
        Curves.TryGetValue(Key(metric), out var curve) && curve.Count > 0 ? (curve.FirstOrDefault(p => p.Recall >= 1) ?? curve[^1]).OffloadRatio : null;

    /// <summary>Builds the curves from per-token samples: each answer token's confidence under each metric, and
    /// whether the draft's greedy token equals the target's.</summary>
    public static OffloadCalibration FromSamples(string draft, string target, int examples, int seed,
        IReadOnlyDictionary<ConfidenceMetric, float[]> confidences, bool[] agrees)
    {
        int n = agrees.Length;
        if (n == 0) throw new ArgumentException("no calibration tokens", nameof(agrees));
        int disagreements = agrees.Count(a => !a);
        var curves = new Dictionary<string, List<CalibrationPoint>>();
        foreach (var (metric, values) in confidences)
        {
            if (values.Length != n) throw new ArgumentException($"{metric}: {values.Length} confidences for {n} tokens", nameof(confidences));
            var order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
            var curve = new List<CalibrationPoint>();
            // One point per 0.5 % of offload ratio up to 50 %, then coarser: thresholds sit between sorted confidences.
            var ratios = Enumerable.Range(1, 100).Select(i => i * 0.005).Concat(Enumerable.Range(11, 10).Select(i => i * 0.05)).Distinct();
            foreach (var r in ratios)
            {
                int k = Math.Min(n, (int)Math.Round(r * n));
                var threshold = k >= n ? 1.0000001 : (k == 0 ? values[order[0]] : (values[order[k - 1]] + values[order[k]]) / 2.0);
                int below = 0, caught = 0;
                for (int i = 0; i < n; i++)
                {
                    if (values[i] >= threshold) continue;
                    below++;
                    if (!agrees[i]) caught++;
                }
                curve.Add(new CalibrationPoint(threshold, (double)below / n, 1 - (double)(disagreements - caught) / n,
                    disagreements == 0 ? 1 : (double)caught / disagreements));
            }
            curves[Key(metric)] = [.. curve.DistinctBy(p => p.Threshold).OrderBy(p => p.Threshold)];
        }
        return new OffloadCalibration(draft, target, examples, n, (double)disagreements / n, seed, curves);
    }

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, JsonSerializer.Serialize(this, Json));
    }

    /// <summary>Reads a calibration file; throws with the path when it is malformed.</summary>
    public static OffloadCalibration Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"offload calibration not found: {path} (run `synera calibrate`)", path);
        try
        {
            var c = JsonSerializer.Deserialize<OffloadCalibration>(File.ReadAllText(path), Json);
            if (c?.Curves is null || c.Curves.Count == 0) throw new InvalidDataException("no calibration curves");
            foreach (var (key, curve) in c.Curves)
                for (int i = 1; i < curve.Count; i++)
                    if (curve[i].Threshold < curve[i - 1].Threshold || curve[i].OffloadRatio < curve[i - 1].OffloadRatio)
                        throw new InvalidDataException($"curve '{key}' is not sorted by threshold and offload ratio");
            return c;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not an offload calibration ({e.Message})", e); }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path)) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>The calibration beside a draft model (<c>{draftDir}/offload.json</c>), or null when there is none.</summary>
    public static OffloadCalibration? TryLoadBeside(string draftDir)
    {
        var path = Path.Combine(draftDir, FileName);
        return File.Exists(path) ? Load(path) : null;
    }
}

using Synera.Abstractions.Sampling;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Offloading;
using Synera.Models;
using Synera.Models.Data;
using Synera.Models.Evaluation;
using Synera.Tokenizer;

namespace Synera.Cli.Calibration;

/// <summary>
/// Calibrates a draft/target pair for selective offloading: the target (TorchSharp, as the verifier runs it) answers
/// each calibration prompt greedily; the draft (ONNX, as the device runs it) is teacher-forced on prompt + answer, and
/// at every answer position we record its confidence under each metric and whether its greedy token equals the
/// target's. <see cref="OffloadCalibration.FromSamples"/> turns that into threshold → offload ratio → agreement.
/// </summary>
public sealed class PairCalibrator(OnnxDraftRunner draft, Transformer target, SyneraTokenizer tokenizer)
{
    /// <summary>Calibration prompts: the task generator on its own seed, tasks interleaved, never a held-out prompt.</summary>
    public static List<TaskExample> CalibrationSet(int count, int seed, IReadOnlySet<string> exclude)
    {
        var generator = new TaskGenerator(seed);
        var seen = new HashSet<string>();
        var result = new List<TaskExample>();
        for (int i = 0; result.Count < count && i < count * 50; i++)
        {
            var ex = generator.Next(TaskGenerator.Tasks[i % TaskGenerator.Tasks.Length]);
            if (!exclude.Contains(ex.Prompt) && seen.Add(ex.Prompt)) result.Add(ex);
        }
        return result;
    }

    public OffloadCalibration Calibrate(IReadOnlyList<TaskExample> examples, string draftName, string targetName, int seed, IProgress<int>? progress = null)
    {
        var metrics = Enum.GetValues<ConfidenceMetric>().ToDictionary(m => m, ConfidenceMetrics.Create);
        var confidences = metrics.Keys.ToDictionary(m => m, _ => new List<float>());
        var agrees = new List<bool>();
        var evaluator = new SuiteEvaluator(target, tokenizer, targetName);
        var sampler = new TokenSampler(SamplingSettings.Greedy);
        for (int e = 0; e < examples.Count; e++)
        {
            var prompt = tokenizer.EncodeChatPrompt(examples[e].Prompt);
            var answer = evaluator.Answer(examples[e].Prompt);
            answer.Add(tokenizer.EosId);                       // the end of the answer is a token the draft must get right too
            var all = prompt.Concat(answer).ToArray();
            if (all.Length > draft.MaxLength) continue;
            draft.Reset();
            draft.Forward(all.AsSpan(0, all.Length - 1));
            var logits = draft.LastLogits(all.Length - 1);
            for (int k = 0; k < answer.Count; k++)
            {
                // Row prompt.Length − 1 + k predicts answer[k].
                var row = logits.Slice((prompt.Length - 1 + k) * draft.VocabSize, draft.VocabSize);
                var p = sampler.Probabilities(row);
                foreach (var (metric, m) in metrics) confidences[metric].Add(m.Confidence(p));
                agrees.Add(TokenSampler.ArgMax(row) == answer[k]);
            }
            progress?.Report(e + 1);
        }
        return OffloadCalibration.FromSamples(draftName, targetName, examples.Count, seed,
            confidences.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray()), [.. agrees]);
    }
}

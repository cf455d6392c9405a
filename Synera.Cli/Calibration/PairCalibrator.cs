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

    /// <summary>Calibrates on the generated tasks' prompts (the shipped pair).</summary>
    public OffloadCalibration Calibrate(IReadOnlyList<TaskExample> examples, string draftName, string targetName, int seed, IProgress<int>? progress = null) =>
        Calibrate(examples.Select(e => tokenizer.EncodeChatPrompt(e.Prompt)).ToList(), SuiteEvaluator.MaxAnswerTokens, draftName, targetName, seed, progress);

    /// <summary>Calibrates on chat prompts already through the template (a user's pair and prompts): the target answers
    /// each with up to <paramref name="maxAnswerTokens"/> tokens, stopping at any of the model's stop tokens.</summary>
    public OffloadCalibration Calibrate(IReadOnlyList<int[]> prompts, int maxAnswerTokens, string draftName, string targetName, int seed, IProgress<int>? progress = null)
    {
        var metrics = Enum.GetValues<ConfidenceMetric>().ToDictionary(m => m, ConfidenceMetrics.Create);
        var confidences = metrics.Keys.ToDictionary(m => m, _ => new List<float>());
        var agrees = new List<bool>();
        var generator = new GreedyGenerator(target, tokenizer.VocabSize);
        var sampler = new TokenSampler(SamplingSettings.Greedy);
        int used = 0;
        for (int e = 0; e < prompts.Count; e++)
        {
            var prompt = prompts[e];
            var answer = generator.Generate(prompt, maxAnswerTokens, tokenizer.EosIds);
            if (answer.Count < maxAnswerTokens) answer.Add(tokenizer.EosId);   // the end of the answer is a token the draft must get right too
            var all = prompt.Concat(answer).ToArray();
            progress?.Report(e + 1);
            if (all.Length > draft.MaxLength) continue;
            used++;
            draft.Reset();
            var logits = draft.ForwardAllRows(all.AsSpan(0, all.Length - 1));
            for (int k = 0; k < answer.Count; k++)
            {
                // Row prompt.Length − 1 + k predicts answer[k].
                var row = logits.AsSpan((prompt.Length - 1 + k) * draft.VocabSize, draft.VocabSize);
                var p = sampler.Probabilities(row);
                foreach (var (metric, m) in metrics) confidences[metric].Add(m.Confidence(p));
                agrees.Add(TokenSampler.ArgMax(row) == answer[k]);
            }
        }
        if (used == 0) throw new InvalidOperationException($"no calibration prompt fits the draft's window of {draft.MaxLength} tokens");
        return OffloadCalibration.FromSamples(draftName, targetName, used, seed,
            confidences.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray()), [.. agrees]);
    }
}

using Synera.Tokenizer;
using Synera.Models.Data;
using static TorchSharp.torch;

namespace Synera.Models.Evaluation;

/// <summary>Exact-match accuracy per task and overall.</summary>
public sealed record EvalReport(string Model, double Accuracy, Dictionary<string, double> PerTask, long Tokens, int Examples, double Seconds);

/// <summary>Greedy generation over a task suite, scored by exact match of the answer text.</summary>
public sealed class SuiteEvaluator(Transformer model, SyneraTokenizer tokenizer, string modelName)
{
    public const int MaxAnswerTokens = 96;

    /// <summary>The model's greedy answer to one prompt.</summary>
    public List<int> Answer(string prompt)
    {
        return new GreedyGenerator(model).Generate(tokenizer.EncodeChatPrompt(prompt), MaxAnswerTokens, tokenizer.EosId);
    }

    public EvalReport Evaluate(IReadOnlyList<TaskExample> suite, IProgress<int>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var correct = new Dictionary<string, (int ok, int all)>();
        long tokens = 0;
        for (int i = 0; i < suite.Count; i++)
        {
            var ex = suite[i];
            var answer = Answer(ex.Prompt);
            tokens += answer.Count;
            var ok = tokenizer.Decode(answer).Trim() == ex.Answer.Trim();
            var (c, n) = correct.GetValueOrDefault(ex.Task);
            correct[ex.Task] = (c + (ok ? 1 : 0), n + 1);
            progress?.Report(i + 1);
        }
        var perTask = correct.OrderBy(kv => kv.Key).ToDictionary(kv => kv.Key, kv => (double)kv.Value.ok / kv.Value.all);
        var accuracy = (double)correct.Values.Sum(v => v.ok) / Math.Max(1, suite.Count);
        return new EvalReport(modelName, accuracy, perTask, tokens, suite.Count, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Teacher-forced agreement: over the reference model's own greedy answers, the fraction of answer
    /// positions where <paramref name="draft"/>'s greedy choice equals the reference token (EOS included).
    /// </summary>
    public static double TokenAgreement(Transformer reference, Transformer draft, SyneraTokenizer tokenizer, IReadOnlyList<TaskExample> suite)
    {
        var evaluator = new SuiteEvaluator(reference, tokenizer, "reference");
        long agree = 0, total = 0;
        using var _ = no_grad();
        foreach (var ex in suite)
        {
            var prompt = tokenizer.EncodeChatPrompt(ex.Prompt);
            var answer = evaluator.Answer(ex.Prompt);
            answer.Add(tokenizer.EosId);
            var all = prompt.Concat(answer).ToArray();
            using var scope = NewDisposeScope();
            var input = tensor(all.Select(i => (long)i).ToArray(), [1, all.Length], device: draft.parameters().First().device);
            using var result = draft.Forward(input);
            var choices = result.Logits[0].argmax(-1).cpu().data<long>().ToArray();   // choices[t] predicts all[t + 1]
            for (int k = 0; k < answer.Count; k++)
            {
                total++;
                if (choices[prompt.Length - 1 + k] == answer[k]) agree++;
            }
        }
        return (double)agree / Math.Max(1, total);
    }
}

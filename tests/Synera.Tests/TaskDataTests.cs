using Synera.Models.Data;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>The task generator is deterministic, keeps held-out prompts out of training, and its tokenized form round-trips.</summary>
public class TaskDataTests
{
    [Fact]
    public void ShippedHeldOutSuiteIsWhatTheGeneratorProduces()
    {
        var regenerated = TaskGenerator.HeldOut(50);
        var shipped = TaskGenerator.ReadJsonl(TestModels.HeldOut);
        Assert.Equal(regenerated, shipped);
        Assert.Equal(TaskGenerator.Tasks.Length * 50, shipped.Count);
    }

    [Fact]
    public void TrainingStreamNeverYieldsAHeldOutPrompt()
    {
        var heldOut = TaskGenerator.HeldOut(50).Select(e => e.Prompt).ToHashSet();
        var train = new TaskGenerator(1234).TrainStream(heldOut).Take(20_000).ToList();
        Assert.DoesNotContain(train, e => heldOut.Contains(e.Prompt));
        // Same seed without exclusion does produce held-out prompts, so the check above is not vacuous.
        Assert.Contains(new TaskGenerator(1234).TrainStream(new HashSet<string>()).Take(20_000), e => heldOut.Contains(e.Prompt));
    }

    [Fact]
    public void TokenizedDatasetRoundTrips()
    {
        var tokenizer = SyneraTokenizer.CreateCharLevel();
        var examples = TaskGenerator.HeldOut(3).Select(e => TokenizedExample.Encode(tokenizer, e)).ToList();
        var path = Path.Combine(TestModels.TempDir("data"), "train.bin.gz");
        TokenizedDataset.Write(path, examples);
        var read = TokenizedDataset.Read(path);
        Assert.Equal(examples.Count, read.Count);
        for (int i = 0; i < examples.Count; i++)
        {
            Assert.Equal(examples[i].Task, read[i].Task);
            Assert.Equal(examples[i].Ids, read[i].Ids);
            Assert.Equal(examples[i].AnswerStart, read[i].AnswerStart);
            // the loss region decodes to the answer, then EOS
            Assert.Equal(tokenizer.EosId, read[i].Ids[^1]);
        }
        var first = TaskGenerator.HeldOut(3)[0];
        Assert.Equal(first.Answer, tokenizer.Decode(read[0].Ids[read[0].AnswerStart..^1]));
    }

    [Fact]
    public void TokenizedDatasetRefusesWhatItCannotStore()
    {
        var path = Path.Combine(TestModels.TempDir("data"), "bad.bin.gz");
        var e = Assert.Throws<ArgumentException>(() => TokenizedDataset.Write(path, [new TokenizedExample("add", [1, 300, 2], 1)]));
        Assert.Contains("300", e.Message);
        e = Assert.Throws<ArgumentException>(() => TokenizedDataset.Write(path, [new TokenizedExample("nope", [1, 2], 1)]));
        Assert.Contains("nope", e.Message);
        using (var gzip = new System.IO.Compression.GZipStream(File.Create(path), System.IO.Compression.CompressionLevel.Fastest))
            gzip.Write([0, 1, 10, 5]);   // a record that claims 10 ids but holds 1
        var error = Assert.Throws<InvalidDataException>(() => TokenizedDataset.Read(path));
        Assert.Contains("truncated", error.Message);
    }
}

using Synera.Tokenizer;

namespace Synera.Tests;

public class TokenizerTests
{
    [Fact]
    public void CharacterVocabularyRoundTripsTextWithWhitespace()
    {
        var t = SyneraTokenizer.CreateCharLevel();
        var text = "user: What is 12+3?\nassistant:  15";
        var ids = t.Encode(text);
        Assert.Equal(text.Length, ids.Length);
        Assert.Equal(text, t.Decode(ids));
    }

    [Fact]
    public void SavedTokenizerJsonLoadsBackIdentically()
    {
        var t = SyneraTokenizer.CreateCharLevel();
        var path = Path.Combine(TestModels.TempDir("tok"), "tokenizer.json");
        t.Save(path);
        var loaded = SyneraTokenizer.Load(path);
        Assert.Equal(t.VocabSize, loaded.VocabSize);
        Assert.Equal(t.Encode("Sort 5 2 8."), loaded.Encode("Sort 5 2 8."));
        Assert.Equal((t.BosId, t.EosId, t.PadId), (loaded.BosId, loaded.EosId, loaded.PadId));
        Assert.Contains("\"type\": \"BPE\"", File.ReadAllText(path));
    }

    [Fact]
    public void NonBpeTokenizerIsRefusedByName()
    {
        var path = Path.Combine(TestModels.TempDir("tok"), "tokenizer.json");
        File.WriteAllText(path, """{"model":{"type":"Unigram","vocab":[]}}""");
        var e = Assert.Throws<InvalidDataException>(() => SyneraTokenizer.Load(path));
        Assert.Contains("Unigram", e.Message);
    }
}

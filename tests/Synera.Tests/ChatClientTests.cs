using Microsoft.Extensions.AI;
using Synera.DeviceClient;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>The IChatClient surface over a real cluster: streaming equals the whole response.</summary>
[Collection(ShippedClusterCollection.Name)]
public class ChatClientTests(ShippedClusterFixture fixture)
{
    [Fact]
    public async Task StreamingAndNonStreamingAnswersAgree()
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json")));
        IChatClient chat = new SyneraChatClient(generator, new GenerationOptions { Mode = GenerationMode.Synera, Budget = 1.0, LoadAware = false });
        var messages = new[] { new ChatMessage(ChatRole.User, "Tell me about Mia's blue fox.") };
        var whole = await chat.GetResponseAsync(messages);
        var streamed = string.Concat(await chat.GetStreamingResponseAsync(messages).Select(u => u.Text).ToListAsync());
        Assert.Equal(whole.Text, streamed);
        Assert.StartsWith("Mia's blue fox is", whole.Text);
        var slm = await chat.GetResponseAsync(messages, new ChatOptions { AdditionalProperties = new() { [SyneraChatClient.ModeKey] = "slm" } });
        Assert.Equal(0, ((GenerationStats)slm.AdditionalProperties!["synera.stats"]!).NumRequests);
        await Assert.ThrowsAsync<ArgumentException>(() => chat.GetResponseAsync([new ChatMessage(ChatRole.System, "no user turn")]));
    }
}

/// <summary>The whole conversation reaches the models: system and earlier turns change the prompt.</summary>
public class ChatTemplateTests
{
    [Fact]
    public void ConversationsFormatEveryTurnAndASinglePromptIsTheTrainingFormat()
    {
        Assert.Equal("user: hi\nassistant: ", ChatTemplate.Format("hi"));
        var turns = new[] { new ChatTurn("system", "Be brief."), new ChatTurn("user", "What is 1+1?"), new ChatTurn("assistant", "2"), new ChatTurn("user", "And 2+2?") };
        Assert.Equal("system: Be brief.\nuser: What is 1+1?\nassistant: 2\nuser: And 2+2?\nassistant: ", ChatTemplate.Format(turns));
        var conversation = SyneraChatClient.Conversation([new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, "What is 1+1?"),
            new ChatMessage(ChatRole.Assistant, "2"), new ChatMessage(ChatRole.User, "And 2+2?")]);
        Assert.Equal(turns, conversation);
        Assert.Throws<ArgumentException>(() => ChatTemplate.Format([new ChatTurn("user", "a"), new ChatTurn("assistant", "b")]));   // must end with the user
        Assert.Throws<ArgumentException>(() => ChatTemplate.Format([new ChatTurn("tool", "a")]));
        Assert.Throws<ArgumentException>(() => ChatTemplate.Format([]));
        Assert.Throws<ArgumentException>(() => SyneraChatClient.Conversation([new ChatMessage(ChatRole.Tool, "x"), new ChatMessage(ChatRole.User, "y")]));
    }
}

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

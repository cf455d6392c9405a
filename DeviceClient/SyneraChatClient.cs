using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Synera.DeviceClient.Generation;
using Synera.Tokenizer;

namespace Synera.DeviceClient;

/// <summary>
/// Synera behind Microsoft.Extensions.AI's <see cref="IChatClient"/>: the whole conversation (system, user and assistant
/// turns, through the chat template) is the prompt, and the answer continues its last user turn;
/// <see cref="ChatOptions.MaxOutputTokens"/>, <see cref="ChatOptions.Temperature"/> and <see cref="ChatOptions.Seed"/>
/// map to generation options, and <c>AdditionalProperties["synera.mode"]</c> / <c>["synera.budget"]</c> choose the
/// mode and offload budget. Streaming yields committed tokens only (nothing shown is ever withdrawn).
/// </summary>
public sealed class SyneraChatClient(DeviceGenerator generator, GenerationOptions defaults) : IChatClient
{
    public const string ModeKey = "synera.mode", BudgetKey = "synera.budget";

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = await generator.GenerateAsync(Conversation(messages), Options(options), null, cancellationToken);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text))
        {
            ModelId = "synera",
            FinishReason = ChatFinishReason.Stop,
            Usage = new UsageDetails { OutputTokenCount = result.Stats.NumTokens },
            AdditionalProperties = new() { ["synera.stats"] = result.Stats },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<ChatResponseUpdate>();
        var generation = generator.GenerateAsync(Conversation(messages), Options(options),
            t => channel.Writer.TryWrite(new ChatResponseUpdate(ChatRole.Assistant, t.Text) { ModelId = "synera" }), cancellationToken);
        _ = generation.ContinueWith(t => channel.Writer.TryComplete(t.Exception?.InnerException), TaskScheduler.Default);
        await foreach (var update in channel.Reader.ReadAllAsync(cancellationToken)) yield return update;
        var result = await generation;
        yield return new ChatResponseUpdate { Role = ChatRole.Assistant, FinishReason = ChatFinishReason.Stop, ModelId = "synera",
            Contents = [new UsageContent(new UsageDetails { OutputTokenCount = result.Stats.NumTokens })] };
    }

    /// <summary>The messages as chat turns; <see cref="ChatTemplate.Format(IReadOnlyList{ChatTurn})"/> checks the order.</summary>
    public static IReadOnlyList<ChatTurn> Conversation(IEnumerable<ChatMessage> messages)
    {
        var turns = messages.Select((m, i) =>
            m.Role == ChatRole.System || m.Role == ChatRole.User || m.Role == ChatRole.Assistant ? new ChatTurn(m.Role.Value, m.Text)
            : throw new ArgumentException($"message {i}: role '{m.Role}' is not supported (system, user, assistant)", nameof(messages))).ToList();
        ChatTemplate.Format(turns);   // validates: not empty, known roles, ends with a non-empty user turn
        return turns;
    }

    private GenerationOptions Options(ChatOptions? options)
    {
        if (options is null) return defaults;
        var result = defaults with
        {
            MaxNewTokens = options.MaxOutputTokens ?? defaults.MaxNewTokens,
            Temperature = options.Temperature ?? defaults.Temperature,
            TopP = options.TopP ?? defaults.TopP,
            Seed = options.Seed is long seed ? (int)seed : defaults.Seed,
        };
        if (options.AdditionalProperties?.TryGetValue(ModeKey, out var mode) == true)
            result = result with { Mode = Enum.TryParse<GenerationMode>(mode?.ToString(), ignoreCase: true, out var m) ? m : throw new ArgumentException($"unknown mode '{mode}'") };
        if (options.AdditionalProperties?.TryGetValue(BudgetKey, out var budget) == true)
            result = result with { Budget = Convert.ToDouble(budget, System.Globalization.CultureInfo.InvariantCulture) };
        return result;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this :
        serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("synera", null, "synera") : null;

    public void Dispose() { }
}

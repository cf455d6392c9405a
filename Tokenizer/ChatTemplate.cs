namespace Synera.Tokenizer;

/// <summary>One turn of a conversation: role <c>system</c>, <c>user</c> or <c>assistant</c>, and its text.</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>How a conversation becomes the text a model reads before it answers.</summary>
public interface IChatTemplate
{
    /// <summary>Our own format (the shipped pair), to which the tokenizer adds BOS; a model's template writes its own.</summary>
    bool IsBuiltIn { get; }

    /// <summary>The conversation as text; with <paramref name="addGenerationPrompt"/> it ends with the assistant's cue.
    /// Throws <see cref="ArgumentException"/> on unknown roles, missing content or a conversation the template refuses.</summary>
    string Render(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt);
}

/// <summary>
/// The chat format the shipped pair was trained on: each turn as <c>{role}: {content}</c> on its own line, and the
/// assistant's cue last. A single user prompt is exactly the training format, <c>user: {prompt}\nassistant: </c>.
/// </summary>
public sealed class BuiltInChatTemplate : IChatTemplate
{
    public static readonly BuiltInChatTemplate Instance = new();

    public bool IsBuiltIn => true;

    public string Render(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt)
    {
        ChatTemplate.Validate(turns, endsWithUser: false);
        var text = new System.Text.StringBuilder();
        foreach (var (role, content) in turns) text.Append(role).Append(": ").Append(content).Append('\n');
        return addGenerationPrompt ? text.Append("assistant: ").ToString() : text.ToString();
    }
}

/// <summary>Checks every template shares, and the shipped pair's format as plain functions.</summary>
public static class ChatTemplate
{
    public static readonly string[] Roles = ["system", "user", "assistant"];

    public static string Format(string prompt) => Format([new ChatTurn("user", prompt)]);

    /// <summary>The shipped pair's format of a conversation that ends with a user turn.</summary>
    public static string Format(IReadOnlyList<ChatTurn> turns)
    {
        Validate(turns);
        return BuiltInChatTemplate.Instance.Render(turns, addGenerationPrompt: true);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless the conversation is non-empty, uses known roles and has
    /// content everywhere; one that asks for an answer must end with a non-empty user turn.</summary>
    public static void Validate(IReadOnlyList<ChatTurn> turns, bool endsWithUser = true)
    {
        if (turns is null || turns.Count == 0) throw new ArgumentException("the conversation has no messages", nameof(turns));
        for (int i = 0; i < turns.Count; i++)
        {
            if (!Roles.Contains(turns[i].Role))
                throw new ArgumentException($"message {i}: role '{turns[i].Role}' is not one of {string.Join(", ", Roles)}", nameof(turns));
            if (turns[i].Content is null) throw new ArgumentException($"message {i}: no content", nameof(turns));
        }
        if (!endsWithUser) return;
        if (turns[^1].Role != "user") throw new ArgumentException("the conversation must end with a user message", nameof(turns));
        if (string.IsNullOrWhiteSpace(turns[^1].Content)) throw new ArgumentException("the last user message is empty", nameof(turns));
    }
}

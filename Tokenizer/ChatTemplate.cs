namespace Synera.Tokenizer;

/// <summary>One turn of a conversation: role <c>system</c>, <c>user</c> or <c>assistant</c>, and its text.</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>
/// The chat format both models were trained on: each turn as <c>{role}: {content}</c> on its own line, and the
/// assistant's cue last. A single user prompt is exactly the training format, <c>user: {prompt}\nassistant: </c>.
/// </summary>
public static class ChatTemplate
{
    public static readonly string[] Roles = ["system", "user", "assistant"];

    public static string Format(string prompt) => Format([new ChatTurn("user", prompt)]);

    /// <summary>Formats a conversation that ends with a user turn; throws <see cref="ArgumentException"/> on anything else.</summary>
    public static string Format(IReadOnlyList<ChatTurn> turns)
    {
        if (turns is null || turns.Count == 0) throw new ArgumentException("the conversation has no messages", nameof(turns));
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < turns.Count; i++)
        {
            var (role, content) = (turns[i].Role, turns[i].Content);
            if (!Roles.Contains(role)) throw new ArgumentException($"message {i}: role '{role}' is not one of {string.Join(", ", Roles)}", nameof(turns));
            if (content is null) throw new ArgumentException($"message {i}: no content", nameof(turns));
            text.Append(role).Append(": ").Append(content).Append('\n');
        }
        if (turns[^1].Role != "user") throw new ArgumentException("the conversation must end with a user message", nameof(turns));
        if (string.IsNullOrWhiteSpace(turns[^1].Content)) throw new ArgumentException("the last user message is empty", nameof(turns));
        return text.Append("assistant: ").ToString();
    }
}

namespace Synera.Tokenizer;

/// <summary>The chat turn both models were trained on: what precedes the assistant's answer.</summary>
public static class ChatTemplate
{
    public static string Format(string prompt) => $"user: {prompt}\nassistant: ";
}

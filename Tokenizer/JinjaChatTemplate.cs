using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jint;
using Jint.Native;
using Jint.Runtime;

namespace Synera.Tokenizer;

/// <summary>
/// A model's own Jinja <c>chat_template</c>, rendered by Hugging Face's JavaScript Jinja implementation
/// (<c>@huggingface/jinja</c>, the one transformers.js uses, embedded) on the Jint interpreter. Variables are those
/// transformers passes to <c>apply_chat_template</c>: <c>messages</c>, <c>add_generation_prompt</c> and the special
/// tokens named in <c>tokenizer_config.json</c> (<c>bos_token</c>, <c>eos_token</c>, …). A template's
/// <c>raise_exception</c> (e.g. roles out of order) becomes an <see cref="ArgumentException"/>.
/// </summary>
public sealed class JinjaChatTemplate : IChatTemplate
{
    private static readonly Lazy<string> Library = new(() =>
    {
        using var stream = typeof(JinjaChatTemplate).Assembly.GetManifestResourceStream("huggingface-jinja.cjs")
                           ?? throw new InvalidOperationException("the embedded @huggingface/jinja is missing");
        return new StreamReader(stream).ReadToEnd();
    });

    private readonly Engine engine;
    private readonly JsValue template;
    private readonly JsonObject specialTokens = [];
    private readonly Lock gate = new();     // a Jint engine runs one script at a time

    public JinjaChatTemplate(string source, JsonObject config)
    {
        Source = source;
        foreach (var key in new[] { "bos_token", "eos_token", "unk_token", "pad_token" })
            if (SyneraTokenizer.SpecialName(config[key]) is string token)
                specialTokens[key] = token;
        engine = new Engine(options => options.LimitRecursion(512).TimeoutInterval(TimeSpan.FromSeconds(10)));
        engine.Execute("var module = { exports: {} }; var exports = module.exports;");
        engine.Execute(Library.Value);
        try
        {
            template = engine.Construct(engine.Evaluate("module.exports.Template"), source);
        }
        catch (JavaScriptException e)
        {
            throw new InvalidDataException($"chat_template does not parse: {e.Message}", e);
        }
    }

    public string Source { get; }
    public bool IsBuiltIn => false;

    public string Render(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt)
    {
        ChatTemplate.Validate(turns, endsWithUser: false);
        var variables = new JsonObject
        {
            ["messages"] = new JsonArray(turns.Select(t => (JsonNode)new JsonObject { ["role"] = t.Role, ["content"] = t.Content }).ToArray()),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        foreach (var (key, value) in specialTokens) variables[key] = value!.DeepClone();
        lock (gate)
        {
            try
            {
                var context = engine.Evaluate($"JSON.parse({JsonSerializer.Serialize(variables.ToJsonString())})");
                return engine.Invoke(template.Get("render"), template, [context]).AsString();
            }
            catch (JavaScriptException e)
            {
                throw new ArgumentException($"the model's chat template refused the conversation: {e.Message}", nameof(turns), e);
            }
        }
    }
}

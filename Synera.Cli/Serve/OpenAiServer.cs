using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Synera.Abstractions;
using Synera.DeviceClient.Generation;
using Synera.Tokenizer;

namespace Synera.Cli.Serve;

/// <summary>
/// An OpenAI-compatible HTTP surface for one device: <c>GET /v1/models</c> and <c>POST /v1/chat/completions</c>
/// (non-streaming, or server-sent events ending in <c>[DONE]</c>). The device's SLM drafts locally and the cluster
/// verifies, exactly as <c>synera generate</c> does; the response's <c>synera</c> object says what was offloaded.
/// Requests queue on the device (one SLM), in arrival order, at most <see cref="MaxQueued"/> deep; past that they are
/// refused with 429. Errors use OpenAI's error object.
/// <para>Beyond OpenAI's API: a chat page at <c>/</c> (<see cref="ChatPage"/>), <c>GET /synera/status</c> (the device's
/// offload account and the verifiers' load), and, when a request sets <c>synera.provenance</c>, a <c>synera.tokens</c>
/// array in each streamed chunk saying where each piece of its text came from (docs/api.md).</para>
/// </summary>
public sealed class OpenAiServer(DeviceGenerator generator, GenerationOptions defaults, string modelId = OpenAiServer.DefaultModelId, int maxQueued = OpenAiServer.DefaultMaxQueued)
{
    public const string DefaultModelId = "synera";
    public const int DefaultMaxQueued = 8;
    private int inFlight;
    // Conversations whose cloud sessions stay open between turns (at most 8: a device holds at most 16 sessions).
    private readonly ConversationCache conversations = new(8, generator.CloseConversationAsync);

    /// <summary>Requests admitted (answering or waiting for the device's SLM) beyond which new ones get 429.</summary>
    public int MaxQueued => maxQueued;
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Builds the web app on <paramref name="url"/> (e.g. <c>http://127.0.0.1:8080</c>); the caller runs it.</summary>
    public WebApplication Build(string url, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        var app = builder.Build();
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = new[] { new { id = modelId, @object = "model", created = 0, owned_by = "synera" } },
        }));
        app.MapPost("/v1/chat/completions", ChatCompletions);
        app.MapGet("/synera/status", async (HttpContext http) =>
        {
            http.Response.ContentType = "application/json";
            http.Response.Headers.CacheControl = "no-cache";
            await http.Response.WriteAsync((await ServeStatus.ReadAsync(generator, defaults, modelId, http.RequestAborted)).ToJsonString(), http.RequestAborted);
        });
        ChatPage.Map(app);
        app.Lifetime.ApplicationStopping.Register(() => conversations.CloseAllAsync().Wait(TimeSpan.FromSeconds(5)));
        return app;
    }

    private async Task ChatCompletions(HttpContext http)
    {
        var pace = new AnswerPace();                 // from arrival: the wait for the device's SLM is part of what the user sees
        ChatRequest request;
        try
        {
            using var doc = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            request = ChatRequest.Parse(doc.RootElement, defaults);
        }
        catch (JsonException e) { await Error(http, 400, $"the body is not valid JSON: {e.Message}", "invalid_request_error", null, "invalid_json"); return; }
        catch (RequestError e) { await Error(http, 400, e.Message, "invalid_request_error", e.Param, e.Code); return; }
        if (request.Model != modelId)
        {
            await Error(http, 404, $"The model '{request.Model}' does not exist; this server has '{modelId}'", "invalid_request_error", "model", "model_not_found");
            return;
        }
        int[] promptIds;
        try
        {
            promptIds = generator.Tokenizer.EncodeChat(request.Messages);
            if (promptIds.Length > generator.MaxPromptTokens) throw new ContextLengthException($"the conversation is {promptIds.Length} tokens; at most {generator.MaxPromptTokens} fit this model's context window");
        }
        catch (ContextLengthException e) { await Error(http, 400, e.Message, "invalid_request_error", "messages", "context_length_exceeded"); return; }
        catch (ArgumentException e) { await Error(http, 400, e.Message, "invalid_request_error", "messages", null); return; }

        if (Interlocked.Increment(ref inFlight) > maxQueued + 1)
        {
            Interlocked.Decrement(ref inFlight);
            http.Response.Headers.RetryAfter = "1";
            await Error(http, 429, $"this device is answering 1 request and has {maxQueued} waiting; retry shortly", "rate_limit_error", null, "rate_limit_exceeded");
            return;
        }
        // A request that extends an earlier turn continues its conversation: the cloud keeps the shared prefix's K/V.
        var conversation = conversations.Continue(promptIds);
        try { await Answer(http, request with { Options = request.Options with { Conversation = conversation } }, promptIds, pace); }
        finally
        {
            Interlocked.Decrement(ref inFlight);
            await conversations.Remember(conversation, promptIds);
        }
    }

    private async Task Answer(HttpContext http, ChatRequest request, int[] promptIds, AnswerPace pace)
    {
        var id = $"chatcmpl-{Guid.NewGuid():N}";
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var stop = new StopMatcher(request.Stop);
        var origins = new OriginCounts();
        if (!request.Stream)
        {
            GenerationResult result;
            try { result = await generator.GenerateAsync(promptIds, request.Options, t => { origins.Add(t); pace.Token(); stop.Add(t.Text); }, http.RequestAborted); }
            catch (Exception e) when (e is ContextLengthException || e is SyneraRequestException) { await Error(http, 400, e.Message, "invalid_request_error", "messages", ContextCode(e)); return; }
            var body = new JsonObject
            {
                ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = modelId,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = stop.Stopped ? stop.Text : result.Text },
                    ["finish_reason"] = FinishReason(result, stop),
                }),
                ["usage"] = Usage(promptIds.Length, result),
                ["synera"] = SyneraInfo(result, request.Options, origins, pace),
            };
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(body.ToJsonString(), http.RequestAborted);
            return;
        }

        // Streaming: server-sent events, one chunk per committed token (nothing shown is ever withdrawn), then [DONE].
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var writes = System.Threading.Channels.Channel.CreateUnbounded<string>();
        JsonObject Chunk(JsonObject delta, string? finish) => new()
        {
            ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = modelId,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
        };
        writes.Writer.TryWrite(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null).ToJsonString());
        var provenance = request.Provenance ? new ProvenanceStream() : null;
        JsonObject ContentChunk(string text)
        {
            var chunk = Chunk(new JsonObject { ["content"] = text }, null);
            if (provenance is not null) chunk["synera"] = new JsonObject { ["tokens"] = provenance.Take(text.Length) };
            return chunk;
        }
        var generation = generator.GenerateAsync(promptIds, request.Options, t =>
        {
            origins.Add(t);
            pace.Token();
            provenance?.Add(t);
            var emit = stop.Add(t.Text);
            if (emit.Length > 0) writes.Writer.TryWrite(ContentChunk(emit).ToJsonString());
        }, http.RequestAborted);
        _ = generation.ContinueWith(_ => writes.Writer.TryComplete(), TaskScheduler.Default);
        await http.Response.StartAsync(http.RequestAborted);
        await foreach (var data in writes.Reader.ReadAllAsync(http.RequestAborted)) await Send(http, data);
        try
        {
            var result = await generation;
            var tail = stop.Flush();
            if (tail.Length > 0) await Send(http, ContentChunk(tail).ToJsonString());
            var last = Chunk(new JsonObject(), FinishReason(result, stop));
            last["usage"] = Usage(promptIds.Length, result);
            last["synera"] = SyneraInfo(result, request.Options, origins, pace);
            await Send(http, last.ToJsonString());
        }
        catch (Exception e) when (e is ContextLengthException || e is SyneraRequestException)
        {
            await Send(http, new JsonObject { ["error"] = ErrorObject(e.Message, "invalid_request_error", "messages", ContextCode(e)) }.ToJsonString());
        }
        await Send(http, "[DONE]");
    }

    private static string? ContextCode(Exception e) => e is ContextLengthException || e.Message.Contains("context window") ? "context_length_exceeded" : null;

    private static async Task Send(HttpContext http, string data)
    {
        await http.Response.WriteAsync($"data: {data}\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    private static string FinishReason(GenerationResult result, StopMatcher stop) =>
        stop.Stopped || result.Stats.NumGenerated > result.Stats.NumTokens ? "stop" : "length";   // the end-of-sequence token is generated but not shown

    private static JsonObject Usage(int promptTokens, GenerationResult result) => new()
    {
        ["prompt_tokens"] = promptTokens, ["completion_tokens"] = result.Stats.NumTokens, ["total_tokens"] = promptTokens + result.Stats.NumTokens,
    };

    private static JsonObject SyneraInfo(GenerationResult result, GenerationOptions options, OriginCounts origins, AnswerPace pace) => new()
    {
        ["mode"] = options.Mode.ToString().ToLowerInvariant(), ["budget"] = options.Budget,
        ["offloaded"] = result.Stats.NumOffloaded, ["judged"] = result.Stats.NumJudged, ["accepted"] = result.Stats.NumAccepted,
        ["corrections"] = result.Stats.NumCorrections,
        ["bytes_up"] = result.Stats.BytesUp, ["bytes_down"] = result.Stats.BytesDown,
        ["offload_ratio"] = result.Stats.OffloadRatio, ["cloud_error"] = result.Stats.CloudError,
        ["ttft_ms"] = Math.Round(pace.TimeToFirstTokenMs, 1), ["tpot_ms"] = Math.Round(pace.TimePerOutputTokenMs, 1),
        ["origins"] = origins.ToJson(), ["cloud_share"] = origins.CloudShare,
    };

    private static JsonObject ErrorObject(string message, string type, string? param, string? code) => new()
    {
        ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code,
    };

    private static async Task Error(HttpContext http, int status, string message, string type, string? param, string? code)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(new JsonObject { ["error"] = ErrorObject(message, type, param, code) }.ToJsonString());
    }
}

/// <summary>A request the server refuses, with the parameter at fault (OpenAI's <c>param</c>) and a code.</summary>
public sealed class RequestError(string message, string? param, string? code = null) : Exception(message)
{
    public string? Param { get; } = param;
    public string? Code { get; } = code;
}

/// <summary>The parts of an OpenAI chat completion request Synera honours.</summary>
/// <param name="Provenance">Streamed chunks carry <c>synera.tokens</c>: each piece of text with its origin (opt-in, so
/// OpenAI clients see OpenAI's chunks).</param>
public sealed record ChatRequest(string Model, IReadOnlyList<ChatTurn> Messages, GenerationOptions Options, IReadOnlyList<string> Stop, bool Stream, bool Provenance = false)
{
    public static ChatRequest Parse(JsonElement root, GenerationOptions defaults)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new RequestError("the body must be a JSON object", null);
        var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : throw new RequestError("'model' is required", "model");
        if (!root.TryGetProperty("messages", out var msgs) || msgs.ValueKind != JsonValueKind.Array) throw new RequestError("'messages' must be an array", "messages");
        if (msgs.GetArrayLength() == 0) throw new RequestError("'messages' must hold at least one message", "messages");
        var turns = new List<ChatTurn>();
        int i = 0;
        foreach (var msg in msgs.EnumerateArray())
        {
            if (msg.ValueKind != JsonValueKind.Object || !msg.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                throw new RequestError($"messages[{i}] needs a 'role'", $"messages[{i}].role");
            var roleName = role.GetString()!;
            if (roleName == "developer") roleName = "system";   // OpenAI's newer name for system messages
            if (!ChatTemplate.Roles.Contains(roleName)) throw new RequestError($"messages[{i}]: role '{role.GetString()}' is not supported (system, user, assistant)", $"messages[{i}].role");
            turns.Add(new ChatTurn(roleName, Content(msg, i)));
            i++;
        }
        var options = defaults;
        bool provenance = false;
        int? maxTokens = Int(root, "max_completion_tokens") ?? Int(root, "max_tokens");
        if (maxTokens is int n) options = n >= 1 ? options with { MaxNewTokens = n } : throw new RequestError("max_tokens must be at least 1", "max_tokens");
        if (Number(root, "temperature") is double t)
            options = t is >= 0 and <= 2 ? options with { Temperature = (float)t } : throw new RequestError("temperature must be in [0, 2]", "temperature");
        if (Number(root, "top_p") is double p)
            options = p is > 0 and <= 1 ? options with { TopP = (float)p } : throw new RequestError("top_p must be in (0, 1]", "top_p");
        if (Int(root, "seed") is int seed) options = options with { Seed = seed };
        if (root.TryGetProperty("synera", out var synera) && synera.ValueKind == JsonValueKind.Object)
        {
            if (synera.TryGetProperty("mode", out var mode))
                options = options with { Mode = mode.ValueKind == JsonValueKind.String && Enum.TryParse<GenerationMode>(mode.GetString(), true, out var gm) && Enum.IsDefined(gm) && !int.TryParse(mode.GetString(), out _)
                    ? gm : throw new RequestError($"unknown synera.mode {mode.GetRawText()} (slm, synera, llm, spec, route, oracle)", "synera.mode") };
            if (Number(synera, "budget") is double b)
                options = options with { Budget = b is >= 0 and <= 1 ? b : throw new RequestError("synera.budget must be in [0, 1]", "synera.budget") };
            if (synera.TryGetProperty("provenance", out var pv))
                provenance = pv.ValueKind is JsonValueKind.True or JsonValueKind.False ? pv.GetBoolean() : throw new RequestError("synera.provenance must be true or false", "synera.provenance");
        }
        var stop = new List<string>();
        if (root.TryGetProperty("stop", out var s))
        {
            if (s.ValueKind == JsonValueKind.String) stop.Add(s.GetString()!);
            else if (s.ValueKind == JsonValueKind.Array) stop.AddRange(s.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw new RequestError("stop must be a string or an array of strings", "stop")));
            else if (s.ValueKind != JsonValueKind.Null) throw new RequestError("stop must be a string or an array of strings", "stop");
            if (stop.Count > 4 || stop.Any(x => x.Length == 0)) throw new RequestError("stop takes up to 4 non-empty strings", "stop");
        }
        bool stream = root.TryGetProperty("stream", out var st) && st.ValueKind == JsonValueKind.True;
        return new ChatRequest(model, turns, options, stop, stream, provenance);
    }

    /// <summary>A message's text: a string, or an array of content parts of which the text parts are joined.</summary>
    private static string Content(JsonElement msg, int i)
    {
        if (!msg.TryGetProperty("content", out var c)) throw new RequestError($"messages[{i}] needs 'content'", $"messages[{i}].content");
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind == JsonValueKind.Array)
            return string.Concat(c.EnumerateArray().Select(part => part.TryGetProperty("type", out var type) && type.GetString() == "text" && part.TryGetProperty("text", out var text)
                ? text.GetString() : throw new RequestError($"messages[{i}]: only text content is supported", $"messages[{i}].content")));
        throw new RequestError($"messages[{i}].content must be a string or an array of text parts", $"messages[{i}].content");
    }

    private static int? Int(JsonElement e, string name) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var x) ? x : throw new RequestError($"{name} must be an integer", name);

    private static double? Number(JsonElement e, string name) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new RequestError($"{name} must be a number", name);
}

/// <summary>
/// Applies OpenAI's <c>stop</c> sequences to a stream of text pieces: text is released only once it cannot be the start
/// of a stop sequence, and everything from the first stop sequence on is dropped (the sequence itself is not returned).
/// </summary>
public sealed class StopMatcher(IReadOnlyList<string> stops)
{
    private readonly StringBuilder all = new();
    private int released;
    private readonly int holdBack = stops.Count == 0 ? 0 : stops.Max(s => s.Length) - 1;

    public bool Stopped { get; private set; }

    /// <summary>The text up to the stop sequence (or all of it).</summary>
    public string Text => all.ToString(0, Math.Min(all.Length, cut ?? all.Length));
    private int? cut;

    /// <summary>Adds a piece; returns the text that may be shown now.</summary>
    public string Add(string piece)
    {
        if (Stopped) return "";
        all.Append(piece);
        var text = all.ToString();
        foreach (var s in stops)
        {
            var at = text.IndexOf(s, Math.Max(0, released - s.Length), StringComparison.Ordinal);
            if (at >= 0 && (cut is null || at < cut)) cut = at;
        }
        if (cut is int c) { Stopped = true; return Release(c); }
        return Release(Math.Max(released, all.Length - holdBack));
    }

    /// <summary>At the end: whatever was held back.</summary>
    public string Flush() => Stopped ? "" : Release(all.Length);

    private string Release(int upTo)
    {
        if (upTo <= released) return "";
        var piece = all.ToString(released, upTo - released);
        released = upTo;
        return piece;
    }
}

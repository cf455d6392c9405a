using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synera.Cli.Serve;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.Tokenizer;

namespace Synera.Tests;

/// <summary>`synera serve`'s OpenAI-compatible API over a real device client and cluster (shipped models), on a real port.</summary>
[Collection(ShippedClusterCollection.Name)]
public class OpenAiServerTests(ShippedClusterFixture fixture)
{
    private static readonly SyneraTokenizer Tokenizer = SyneraTokenizer.Load(Path.Combine(TestModels.ShippedDraft, "tokenizer.json"));

    private async Task Serve(Func<HttpClient, Task> test, GenerationOptions? defaults = null, int maxQueued = OpenAiServer.DefaultMaxQueued)
    {
        using var runner = new OnnxDraftRunner(Path.Combine(TestModels.ShippedDraft, "model.onnx"));
        using var generator = new DeviceGenerator(fixture.Client, runner, Tokenizer);
        var listener = System.Net.Sockets.TcpListener.Create(0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var app = new OpenAiServer(generator, defaults ?? new GenerationOptions { LoadAware = false, MaxNewTokens = 40 }, maxQueued: maxQueued).Build($"http://127.0.0.1:{port}");
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        await test(http);
        await app.StopAsync();
    }

    private static object Request(string content, bool stream = false, object? extra = null) => new Dictionary<string, object?>
    {
        ["model"] = "synera", ["messages"] = new[] { new { role = "user", content } }, ["stream"] = stream,
        ["synera"] = new { mode = "synera", budget = 1.0 },
    }.Concat(extra is null ? [] : JsonSerializer.SerializeToElement(extra).EnumerateObject().Select(p => KeyValuePair.Create(p.Name, (object?)p.Value)))
     .GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Last().Value);

    [Fact]
    public async Task ChatCompletionsAnswerStreamAndReportWhatWasOffloaded()
    {
        await Serve(async http =>
        {
            var models = await http.GetFromJsonAsync<JsonObject>("/v1/models");
            Assert.Equal("synera", models!["data"]![0]!["id"]!.GetValue<string>());

            var response = await http.PostAsJsonAsync("/v1/chat/completions", Request("What is 123+456?"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.Equal("chat.completion", body["object"]!.GetValue<string>());
            Assert.Equal("579", body["choices"]![0]!["message"]!["content"]!.GetValue<string>());   // budget 1: the LLM's greedy answer
            Assert.Equal("stop", body["choices"]![0]!["finish_reason"]!.GetValue<string>());
            Assert.Equal(Tokenizer.EncodeChatPrompt("What is 123+456?").Length, body["usage"]!["prompt_tokens"]!.GetValue<int>());
            Assert.True(body["synera"]!["offloaded"]!.GetValue<long>() > 0);
            Assert.Equal("synera", body["synera"]!["mode"]!.GetValue<string>());

            // Streaming: server-sent events whose deltas add up to the same answer, then [DONE].
            var sse = await (await http.PostAsJsonAsync("/v1/chat/completions", Request("What is 123+456?", stream: true))).Content.ReadAsStringAsync();
            var events = sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e["data: ".Length..]).ToList();
            Assert.Equal("[DONE]", events[^1]);
            var chunks = events.SkipLast(1).Select(e => JsonNode.Parse(e)!.AsObject()).ToList();
            Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
            Assert.Equal("579", string.Concat(chunks.Select(c => c["choices"]![0]!["delta"]!["content"]?.GetValue<string>())));
            Assert.Equal("stop", chunks[^1]["choices"]![0]!["finish_reason"]!.GetValue<string>());
            Assert.NotNull(chunks[^1]["usage"]);

            // A conversation: system and earlier turns are part of the prompt; stop sequences cut the answer.
            var conversation = new Dictionary<string, object?>
            {
                ["model"] = "synera", ["max_tokens"] = 40, ["stop"] = new[] { " is" },
                ["messages"] = new object[] { new { role = "system", content = "Answer briefly." }, new { role = "user", content = "What is 1+1?" },
                    new { role = "assistant", content = "2" }, new { role = "user", content = "Tell me about Leo's green owl." } },
            };
            var turns = (await (await http.PostAsJsonAsync("/v1/chat/completions", conversation)).Content.ReadFromJsonAsync<JsonObject>())!;
            var expectedPrompt = Tokenizer.EncodeChat([new("system", "Answer briefly."), new("user", "What is 1+1?"), new("assistant", "2"), new("user", "Tell me about Leo's green owl.")]);
            Assert.Equal(expectedPrompt.Length, turns["usage"]!["prompt_tokens"]!.GetValue<int>());
            var text = turns["choices"]![0]!["message"]!["content"]!.GetValue<string>();
            Assert.DoesNotContain(" is", text);
            Assert.Equal("stop", turns["choices"]![0]!["finish_reason"]!.GetValue<string>());
        });
    }

    [Fact]
    public async Task AConversationsNextTurnReusesTheCloudsKvForTheSharedPrefix()
    {
        var engine = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Synera.Grains.Verification.VerificationEngine>(fixture.Cluster.SiloServices);
        object Turns(params (string role, string content)[] turns) => new Dictionary<string, object?>
        {
            ["model"] = "synera", ["max_tokens"] = 40, ["synera"] = new { mode = "synera", budget = 1.0 },
            ["messages"] = turns.Select(t => new { t.role, t.content }).ToArray(),
        };
        (string role, string content)[] first = [("system", "Answer briefly."), ("user", "What is 123+456?")];
        await Serve(async http =>
        {
            var one = (await (await http.PostAsJsonAsync("/v1/chat/completions", Turns(first))).Content.ReadFromJsonAsync<JsonObject>())!;
            var answer = one["choices"]![0]!["message"]!["content"]!.GetValue<string>();
            (string, string)[] second = [.. first, ("assistant", answer), ("user", "What is 2+2?")];

            // The second turn continues the first's conversation; the same three turns sent again (nothing extends
            // them in the server's memory) start a new one. Both are answered alike; only the prefill differs.
            long before = engine.Stats.ProcessedTokens;
            var two = (await (await http.PostAsJsonAsync("/v1/chat/completions", Turns(second))).Content.ReadFromJsonAsync<JsonObject>())!;
            long continued = engine.Stats.ProcessedTokens - before;
            before = engine.Stats.ProcessedTokens;
            var fresh = (await (await http.PostAsJsonAsync("/v1/chat/completions", Turns(second))).Content.ReadFromJsonAsync<JsonObject>())!;
            long anew = engine.Stats.ProcessedTokens - before;

            Assert.Equal(fresh["choices"]![0]!["message"]!["content"]!.GetValue<string>(), two["choices"]![0]!["message"]!["content"]!.GetValue<string>());
            int shared = Tokenizer.EncodeChat([new("system", "Answer briefly."), new("user", "What is 123+456?")]).Length;
            Assert.True(anew - continued >= shared - 2, $"the continued turn ran {continued} tokens through the LLM, a new conversation {anew}; the first turn's prompt alone is {shared}");
        });
    }

    [Fact]
    public async Task BadRequestsGetOpenAiErrorsWithTheRightStatus()
    {
        await Serve(async http =>
        {
            async Task Expect(HttpContent content, HttpStatusCode status, string? code, string? param = null)
            {
                var response = await http.PostAsync("/v1/chat/completions", content);
                Assert.Equal(status, response.StatusCode);
                var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
                Assert.False(string.IsNullOrEmpty(error["message"]!.GetValue<string>()));
                Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
                if (code is not null) Assert.Equal(code, error["code"]!.GetValue<string>());
                if (param is not null) Assert.Equal(param, error["param"]!.GetValue<string>());
            }
            HttpContent Json(object o) => JsonContent.Create(o);
            await Expect(new StringContent("{\"model\": \"synera\", \"messages\": [", Encoding.UTF8, "application/json"), HttpStatusCode.BadRequest, "invalid_json");
            await Expect(Json(new { model = "gpt-4o", messages = new[] { new { role = "user", content = "hi" } } }), HttpStatusCode.NotFound, "model_not_found", "model");
            await Expect(Json(new { model = "synera", messages = Array.Empty<object>() }), HttpStatusCode.BadRequest, null, "messages");
            await Expect(Json(new { model = "synera", messages = new[] { new { role = "user", content = new string('x', 600) } } }), HttpStatusCode.BadRequest, "context_length_exceeded");
            await Expect(Json(new { model = "synera", temperature = 5, messages = new[] { new { role = "user", content = "hi" } } }), HttpStatusCode.BadRequest, null, "temperature");
            await Expect(Json(new { model = "synera", messages = new[] { new { role = "tool", content = "hi" } } }), HttpStatusCode.BadRequest, null, "messages[0].role");
        });
    }

    [Fact]
    public async Task RequestsBeyondTheQueueBoundGet429()
    {
        // One request answering, none may wait: a phone-paced SLM (30 ms/token) keeps the first busy for a second or more.
        var slow = new GenerationOptions { Mode = GenerationMode.Slm, LoadAware = false, MaxNewTokens = 60, Link = new DeviceClient.Link.LinkOptions(0, 0, 30) };
        await Serve(async http =>
        {
            var body = new { model = "synera", messages = new[] { new { role = "user", content = "Tell me about Leo's green owl." } } };
            var first = http.PostAsJsonAsync("/v1/chat/completions", body);
            await Task.Delay(300);
            var second = await http.PostAsJsonAsync("/v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
            Assert.Equal("rate_limit_exceeded", (await second.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]!.GetValue<string>());
            Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/v1/chat/completions", body)).StatusCode);   // free again
        }, slow, maxQueued: 0);
    }

    [Fact]
    public void StopSequencesAreCutAcrossPiecesAndNeverShown()
    {
        var stop = new StopMatcher(["END"]);
        var shown = string.Concat(new[] { "ab", "cE", "N", "Dxyz" }.Select(stop.Add)) + stop.Flush();
        Assert.Equal("abc", shown);
        Assert.True(stop.Stopped);
        var none = new StopMatcher(["END"]);
        Assert.Equal("abcENxyz", string.Concat(new[] { "ab", "cE", "N", "xyz" }.Select(none.Add)) + none.Flush());
        Assert.False(none.Stopped);
    }
}

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
    private static readonly SyneraTokenizer Tokenizer = ServedDevice.Tokenizer;

    private async Task Serve(Func<HttpClient, Task> test, GenerationOptions? defaults = null, int maxQueued = OpenAiServer.DefaultMaxQueued)
    {
        await using var served = await ServedDevice.StartAsync(fixture.Client, defaults, maxQueued);
        await test(served.Http);
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
    public async Task ProvenanceIsOptInAndItsSegmentsAreExactlyEachChunksText()
    {
        await Serve(async http =>
        {
            static List<JsonObject> Chunks(string sse) => [.. sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e["data: ".Length..])
                .Where(e => e != "[DONE]").Select(e => JsonNode.Parse(e)!.AsObject())];
            static string? Content(JsonObject c) => c["choices"]![0]!["delta"]!["content"]?.GetValue<string>();

            // Opted in, on a fresh device at budget 0.1, on a prompt the SLM alone gets wrong (662): each chunk's segments spell its text, and the
            // cloud's corrections are marked, with the rejected draft's confidence and the offload flag.
            var chunks = Chunks(await (await http.PostAsJsonAsync("/v1/chat/completions", Request("What is 123+456?", stream: true,
                new { synera = new { mode = "synera", budget = 0.1, provenance = true } }))).Content.ReadAsStringAsync());
            var content = chunks.Where(c => !string.IsNullOrEmpty(Content(c))).ToList();
            Assert.All(content, c => Assert.Equal(Content(c), string.Concat(c["synera"]!["tokens"]!.AsArray().Select(t => t!["text"]!.GetValue<string>()))));
            var segments = content.SelectMany(c => c["synera"]!["tokens"]!.AsArray()).Select(t => t!.AsObject()).ToList();
            Assert.All(segments, t => Assert.Contains(t["origin"]!.GetValue<string>(), new[] { "device", "verified", "corrected", "cloud" }));
            var corrected = segments.Where(t => t["origin"]!.GetValue<string>() == "corrected").ToList();
            Assert.NotEmpty(corrected);
            Assert.All(corrected, t => { Assert.True(t["offloaded"]!.GetValue<bool>()); Assert.InRange(t["confidence"]!.GetValue<double>(), 0, 1); });

            // Without the opt-in a content chunk is OpenAI's: no synera field (only the last chunk carries the answer's stats).
            var plain = Chunks(await (await http.PostAsJsonAsync("/v1/chat/completions", Request("What is 123+456?", stream: true))).Content.ReadAsStringAsync());
            Assert.All(plain.Where(c => !string.IsNullOrEmpty(Content(c))), c => Assert.Null(c["synera"]));

            // The stats: origins add up to the completion's tokens; the cloud's share is what it wrote.
            var stats = chunks[^1]["synera"]!;
            var origins = stats["origins"]!.AsObject().ToDictionary(o => o.Key, o => o.Value!.GetValue<long>());
            Assert.Equal(chunks[^1]["usage"]!["completion_tokens"]!.GetValue<long>(), origins.Values.Sum());
            Assert.Equal(segments.Count(t => t["origin"]!.GetValue<string>() is "corrected" or "cloud"), origins["corrected"] + origins["cloud"]);
            Assert.Equal((double)(origins["corrected"] + origins["cloud"]) / origins.Values.Sum(), stats["cloud_share"]!.GetValue<double>(), 3);
            Assert.Equal(corrected.Count, stats["corrections"]!.GetValue<long>());
            Assert.True(stats["ttft_ms"]!.GetValue<double>() > 0);

            // slm mode: every token the device's.
            var slm = Chunks(await (await http.PostAsJsonAsync("/v1/chat/completions", Request("What is 123+456?", stream: true,
                new { synera = new { mode = "slm", provenance = true } }))).Content.ReadAsStringAsync());
            Assert.All(slm.Where(c => !string.IsNullOrEmpty(Content(c))).SelectMany(c => c["synera"]!["tokens"]!.AsArray()),
                t => Assert.Equal("device", t!["origin"]!.GetValue<string>()));

            // The status: this device's account (it has offloaded) and the cluster's verifier.
            var status = (await http.GetFromJsonAsync<JsonObject>("/synera/status"))!;
            Assert.True(status["account"]!["offloaded"]!.GetValue<long>() > 0);
            Assert.Equal(1.0, status["account"]!["budget"]!.GetValue<double>());     // the last synera answer's budget
            Assert.NotEmpty(status["verifiers"]!.AsArray());
            Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync("/v1/chat/completions", Request("hi", extra: new { synera = new { provenance = "yes" } }))).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync("/v1/chat/completions", Request("hi", extra: new { synera = new { mode = "7" } }))).StatusCode);
        });
    }

    [Fact]
    public void ProvenanceSegmentsSplitATokenThatStraddlesTwoChunks()
    {
        var stream = new ProvenanceStream();
        stream.Add(new GeneratedToken(1, "ab", TokenOrigin.Device, 0.9f));
        stream.Add(new GeneratedToken(2, "", TokenOrigin.Device, 0.5f));      // an incomplete multi-byte character: no text yet
        stream.Add(new GeneratedToken(3, "cde", TokenOrigin.Corrected, 0.2f, Offloaded: true));
        var first = stream.Take(3);
        Assert.Equal(["ab", "c"], first.Select(t => t!["text"]!.GetValue<string>()));
        Assert.Equal("corrected", first[1]!["origin"]!.GetValue<string>());
        var second = stream.Take(2);
        Assert.Equal("de", second.Single()!["text"]!.GetValue<string>());
        Assert.True(second.Single()!["offloaded"]!.GetValue<bool>());
        Assert.Throws<InvalidOperationException>(() => stream.Take(1));
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

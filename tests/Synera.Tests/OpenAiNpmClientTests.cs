using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Synera.Tests;

/// <summary>OpenAI's own npm client (tools/openai-check, installed by the test with npm) reads `synera serve`'s stream
/// unchanged, with and without the synera provenance extension.</summary>
[Collection(ShippedClusterCollection.Name)]
public class OpenAiNpmClientTests(ShippedClusterFixture fixture)
{
    private static readonly string Tool = Path.Combine(TestModels.RepoRoot, "tools", "openai-check");

    [Fact]
    public async Task TheOpenAiNpmClientReadsTheStreamWithAndWithoutProvenance()
    {
        if (!Directory.Exists(Path.Combine(Tool, "node_modules", "openai"))) await Run("npm", "ci --no-audit --no-fund");
        await using var served = await ServedDevice.StartAsync(fixture.Cluster.Client);
        var api = (await (await served.Http.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "synera", messages = new[] { new { role = "user", content = "What is 123+456?" } }, synera = new { mode = "synera", budget = 0.1 },
        })).Content.ReadFromJsonAsync<JsonObject>())!["choices"]![0]!["message"]!["content"]!.GetValue<string>();

        foreach (var provenance in new[] { false, true })
        {
            var read = JsonNode.Parse(await Run("node", $"stream.mjs {served.Url}/v1 \"What is 123+456?\"{(provenance ? " provenance" : "")}"))!;
            Assert.Equal(api, read["content"]!.GetValue<string>());
            Assert.Equal("stop", read["finish"]!.GetValue<string>());
            Assert.True(read["allChunks"]!.GetValue<bool>());
            if (provenance) Assert.True(read["segments"]!.GetValue<int>() >= 1);
            else Assert.Equal(0, read["segments"]!.GetValue<int>());
        }
    }

    private static Task<string> Run(string program, string args) => ToolProcess.RunAsync(program, args, Tool);
}

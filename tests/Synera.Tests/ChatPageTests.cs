using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace Synera.Tests;

/// <summary>
/// `synera serve`'s chat page in a real headless browser (Debian's chromium, driven by Playwright), against a real device
/// and cluster with the shipped pair: the streamed answer equals the API's, the cloud's corrections are marked, slm mode
/// has no cloud tokens, and API errors are shown as messages. It saves the screenshots in docs/chat/.
/// </summary>
[Collection(ShippedClusterCollection.Name)]
public class ChatPageTests(ShippedClusterFixture fixture)
{
    private static readonly string Screenshots = Path.Combine(TestModels.RepoRoot, "docs", "chat");

    [Fact]
    public async Task ThePageStreamsAnswersColouredByOriginAndShowsErrors()
    {
        await using var served = await ServedDevice.StartAsync(fixture.Cluster.Client);
        // The API's answer first, from the same device at the page's settings (budget 0.1, greedy, the server's max_tokens).
        var api = await Ask(served.Http, "What is 123+456?", "synera", 0.1);
        var apiSlm = await Ask(served.Http, "What is 123+456?", "slm", 0.1);
        Assert.NotEqual(api, apiSlm);      // the SLM alone is wrong here: the cloud must have changed something

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Chromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 820 } });
        await page.GotoAsync(served.Url);
        await Assertions.Expect(page.Locator("#model")).ToContainTextAsync(served.Generator.DeviceId);

        // synera at budget 0.1: the streamed text equals the API's answer, and at least one token is the cloud's correction.
        await page.Locator("#budget").FillAsync("0.1");
        var synera = await AskOnPage(page, "What is 123+456?", 1);
        Assert.Equal(api, await synera.Locator(".text").InnerTextAsync());
        Assert.True(await synera.Locator(".tok[data-origin=corrected]").CountAsync() >= 1);
        var title = await synera.Locator(".tok[data-origin=corrected]").First.GetAttributeAsync("title");
        Assert.Matches("corrected by the cloud, draft confidence [0-9.]+ %, offloaded", title);
        await Assertions.Expect(synera.Locator(".stats")).ToContainTextAsync("offload ratio");
        await Assertions.Expect(synera.Locator(".stats")).ToContainTextAsync("correction");
        await Assertions.Expect(synera.Locator(".stats")).ToContainTextAsync("TPOT");
        // The live panel shows the device's account once it has offloaded.
        await Assertions.Expect(page.Locator("#account")).ToContainTextAsync("against a budget of 10 %", new() { Timeout = 10_000 });
        await Assertions.Expect(page.Locator("#verifiers table")).ToBeVisibleAsync();

        // API errors are messages in the conversation, and the page goes on working: a 404 (the request's model rewritten
        // on its way out) and a 400 (five stop sequences; the API takes four).
        await page.RouteAsync("**/v1/chat/completions", async route =>
        {
            var body = JsonNode.Parse(route.Request.PostData!)!.AsObject();
            body["model"] = "gpt-4o";
            await route.ContinueAsync(new() { PostData = System.Text.Encoding.UTF8.GetBytes(body.ToJsonString()) });
        });
        var notFound = await AskOnPage(page, "What is 1+1?", 2, "error");
        await Assertions.Expect(notFound.Locator(".error")).ToContainTextAsync("404 model_not_found: The model 'gpt-4o' does not exist");
        await page.UnrouteAllAsync();
        await page.Locator("#stop").FillAsync("a,b,c,d,e");
        var badRequest = await AskOnPage(page, "What is 1+1?", 3, "error");
        await Assertions.Expect(badRequest.Locator(".error")).ToContainTextAsync("400");
        await Assertions.Expect(badRequest.Locator(".error")).ToContainTextAsync("stop takes up to 4");
        await page.Locator("#stop").FillAsync("");

        // slm mode, in a new chat (Alt+N): the device alone, its answer as the API gave it, and no token from the cloud.
        await page.Keyboard.PressAsync("Alt+n");
        await Assertions.Expect(page.Locator("li.turn")).ToHaveCountAsync(0);
        await page.Locator("#mode").SelectOptionAsync("slm");
        var slm = await AskOnPage(page, "What is 123+456?", 1);
        Assert.Equal(apiSlm, await slm.Locator(".text").InnerTextAsync());
        Assert.True(await slm.Locator(".tok[data-origin=device]").CountAsync() >= 1);
        Assert.Equal(0, await slm.Locator(".tok:not([data-origin=device])").CountAsync());

        await page.Locator("#new-chat").ClickAsync();
        await page.Locator("#mode").SelectOptionAsync("synera");
        await AskOnPage(page, "Leo has 36 cards and gives away 34. How many cards does Leo have?", 1);
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "chat-desktop.png") });

        // A phone-sized screen: settings fold away behind a button; the answer is still coloured.
        var phone = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 390, Height = 844 }, DeviceScaleFactor = 2, IsMobile = true, HasTouch = true });
        await phone.GotoAsync(served.Url);
        await Assertions.Expect(phone.Locator("#settings")).ToBeHiddenAsync();
        var onPhone = await AskOnPage(phone, "What is 459+906?", 1);
        Assert.True(await onPhone.Locator(".tok").CountAsync() >= 1);
        await phone.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "chat-phone.png") });
        await phone.Locator("#toggle-settings").ClickAsync();
        await Assertions.Expect(phone.Locator("#mode")).ToBeVisibleAsync();
        await phone.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "chat-phone-settings.png") });
    }

    /// <summary>Types a question, sends it with Enter, and waits for the <paramref name="n"/>-th answer to end in <paramref name="state"/>.</summary>
    private static async Task<ILocator> AskOnPage(IPage page, string question, int n, string state = "done")
    {
        await page.Locator("#prompt").FillAsync(question);
        await page.Locator("#prompt").PressAsync("Enter");
        var answer = page.Locator("li.turn.assistant").Nth(n - 1);
        await Assertions.Expect(answer).ToHaveAttributeAsync("data-state", state, new() { Timeout = 60_000 });
        return answer;
    }

    private static async Task<string> Ask(HttpClient http, string question, string mode, double budget)
    {
        var response = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "synera", temperature = 0, messages = new[] { new { role = "user", content = question } }, synera = new { mode, budget },
        });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
    }
}

/// <summary>Debian's chromium for browser tests, installed on first use (as CI's root can); a clear error where it cannot be.</summary>
public static class Chromium
{
    public const string Executable = "/usr/bin/chromium";
    private static readonly Lazy<Task> Installed = new(InstallAsync);

    public static async Task<IBrowser> LaunchAsync(IPlaywright playwright)
    {
        await Installed.Value;
        return await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Executable, Headless = true, Args = ["--no-sandbox"] });
    }

    private static async Task InstallAsync()
    {
        if (File.Exists(Executable)) return;
        if (Environment.UserName != "root")
            throw new InvalidOperationException($"the chat page test needs Debian's chromium at {Executable}: run `sudo apt-get install -y chromium` (as root, the test installs it itself)");
        var noninteractive = new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" };
        await ToolProcess.RunAsync("apt-get", "update -qq", environment: noninteractive);
        await ToolProcess.RunAsync("apt-get", "install -y -qq chromium", environment: noninteractive, timeout: TimeSpan.FromMinutes(10));
    }
}

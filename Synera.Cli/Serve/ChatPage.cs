using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Synera.Cli.Serve;

/// <summary>
/// The chat page <c>synera serve</c> serves at <c>/</c>: three static files (Serve/Page) embedded in the program, so there
/// is no build step and nothing is fetched from outside the machine. The page talks to this server's own API.
/// </summary>
public static class ChatPage
{
    private static readonly (string path, string resource, string contentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/chat.js", "chat.js", "text/javascript; charset=utf-8"),
        ("/chat.css", "chat.css", "text/css; charset=utf-8"),
    ];

    public static void Map(WebApplication app)
    {
        foreach (var (path, resource, contentType) in Files)
        {
            var bytes = Read(resource);
            app.MapGet(path, (HttpContext http) =>
            {
                http.Response.Headers.CacheControl = "no-cache";
                return Results.Bytes(bytes, contentType);
            });
        }
    }

    private static byte[] Read(string name)
    {
        var assembly = typeof(ChatPage).Assembly;
        using var stream = assembly.GetManifestResourceStream($"Synera.Cli.Serve.Page.{name}")
            ?? throw new InvalidOperationException($"the chat page's {name} is not embedded in {assembly.GetName().Name} (build error)");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}

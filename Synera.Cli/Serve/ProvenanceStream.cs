using System.Text;
using System.Text.Json.Nodes;
using Synera.DeviceClient.Generation;

namespace Synera.Cli.Serve;

/// <summary>
/// Lines up committed tokens with the text a stream releases. Stop sequences hold text back and cut it, so a chunk's
/// text need not end on a token boundary: <see cref="Take"/> hands out the segments that make up exactly the released
/// characters, splitting a token whose text straddles two chunks (both halves keep its origin).
/// </summary>
public sealed class ProvenanceStream
{
    private readonly Queue<(StringBuilder text, GeneratedToken token)> waiting = new();

    public void Add(GeneratedToken token) => waiting.Enqueue((new StringBuilder(token.Text), token));

    /// <summary>The segments covering the next <paramref name="length"/> released characters, in order; their texts
    /// concatenate to exactly those characters.</summary>
    public JsonArray Take(int length)
    {
        var segments = new JsonArray();
        while (length > 0 && waiting.TryPeek(out var head))
        {
            int n = Math.Min(length, head.text.Length);
            if (n > 0) segments.Add(Segment(head.text.ToString(0, n), head.token));
            head.text.Remove(0, n);
            length -= n;
            if (head.text.Length == 0) waiting.Dequeue();
        }
        if (length > 0) throw new InvalidOperationException($"{length} released characters have no token (bug)");
        return segments;
    }

    private static JsonObject Segment(string text, GeneratedToken token)
    {
        var segment = new JsonObject { ["text"] = text, ["id"] = token.TokenId, ["origin"] = OriginName(token.Origin) };
        if (token.Confidence is float c) segment["confidence"] = Math.Round(c, 4);
        if (token.Offloaded) segment["offloaded"] = true;
        return segment;
    }

    /// <summary>The wire names of <see cref="TokenOrigin"/>: device, verified, corrected, cloud.</summary>
    public static string OriginName(TokenOrigin origin) => origin.ToString().ToLowerInvariant();
}

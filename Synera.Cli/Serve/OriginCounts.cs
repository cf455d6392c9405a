using System.Text.Json.Nodes;
using Synera.DeviceClient.Generation;

namespace Synera.Cli.Serve;

/// <summary>An answer's committed tokens by origin: how much of it the device wrote and how much the cloud did.</summary>
public sealed class OriginCounts
{
    private readonly long[] counts = new long[Enum.GetValues<TokenOrigin>().Length];

    public void Add(GeneratedToken token) => counts[(int)token.Origin]++;

    public long this[TokenOrigin origin] => counts[(int)origin];

    /// <summary>The share of the answer's tokens the cloud's LLM wrote (corrections and what followed them, or all in llm mode).</summary>
    public double CloudShare
    {
        get
        {
            long all = counts.Sum();
            return all == 0 ? 0 : Math.Round((double)(this[TokenOrigin.Corrected] + this[TokenOrigin.Cloud]) / all, 4);
        }
    }

    public JsonObject ToJson()
    {
        var json = new JsonObject();
        foreach (var origin in Enum.GetValues<TokenOrigin>()) json[ProvenanceStream.OriginName(origin)] = this[origin];
        return json;
    }
}

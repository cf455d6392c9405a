using System.Text.Json.Nodes;
using Synera.Abstractions;
using Synera.DeviceClient.Generation;
using Synera.Grains.Placement;

namespace Synera.Cli.Serve;

/// <summary>
/// <c>GET /synera/status</c>: this device's long-run offload account (as the cluster keeps it, in its device grain) against
/// its budget, and each verifier silo's latest load report. Either part is null, with a reason, when the cluster does not
/// answer within a second: the page shows that rather than waiting.
/// </summary>
public static class ServeStatus
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    public static async Task<JsonObject> ReadAsync(DeviceGenerator generator, GenerationOptions defaults, string modelId, CancellationToken cancellation)
    {
        var status = new JsonObject
        {
            ["model"] = modelId, ["device_id"] = generator.DeviceId,
            ["defaults"] = new JsonObject { ["mode"] = defaults.Mode.ToString().ToLowerInvariant(), ["budget"] = defaults.Budget, ["max_tokens"] = defaults.MaxNewTokens },
        };
        try
        {
            var account = await generator.Cluster.GetGrain<IDeviceGrain>(generator.DeviceId).GetAccountAsync().WaitAsync(Timeout, cancellation);
            status["account"] = account is null ? null : new JsonObject
            {
                ["budget"] = account.Budget, ["generated"] = account.NumGenerated, ["offloaded"] = account.NumOffloaded,
                ["offload_ratio"] = account.NumGenerated == 0 ? 0 : Math.Round((double)account.NumOffloaded / account.NumGenerated, 4),
                ["credit"] = Math.Round(account.Credit, 2), ["threshold"] = Math.Round(account.Threshold, 4),
            };
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested) { status["account_error"] = Reason(e); }
        try
        {
            var loads = await generator.Cluster.GetGrain<IVerifierLoadBoardGrain>(0).GetLoadsAsync().WaitAsync(Timeout, cancellation);
            status["verifiers"] = new JsonArray([.. loads.OrderBy(l => l.Key).Select(l => (JsonNode)new JsonObject
            {
                ["silo"] = l.Key, ["queued"] = l.Value.QueuedRequests, ["sessions"] = l.Value.NumSessions,
                ["p99_verify_ms"] = Math.Round(l.Value.P99VerifyMs, 1), ["mean_step_ms"] = Math.Round(l.Value.MeanStepMs, 2),
                ["load_factor"] = Math.Round(l.Value.LoadFactor, 3), ["kv_cache_bytes"] = l.Value.KvCacheBytes,
            })]);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested) { status["verifiers_error"] = Reason(e); }
        return status;
    }

    private static string Reason(Exception e) => e is TimeoutException ? "the cluster did not answer within a second" : e.Message;
}

using System.Diagnostics;
using Orleans.Runtime;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;
using Synera.DeviceClient.Link;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

namespace Synera.Cli.Bench;

/// <summary>One failover run: a verifier silo killed (SIGKILL) in the middle of a greedy answer verified token by token.</summary>
public sealed record FailoverRun(int Run, string Prompt, int Tokens, int TokensLost, int TokensDuplicated, bool Differs, bool SlmFallback,
    double RecoveryMs, int StallResyncs, string KilledSilo, string? CloudError);

/// <summary>
/// <c>synera bench failover</c>: a frontend and two verifier silos, each a process of its own, in Redis membership (the
/// embedded store, in this process). A device generates greedy answers at budget 1 (every token verified), paced like a
/// phone; a third of the way in, the verifier silo serving it is killed with SIGKILL. The answer is compared with the
/// same prompt's undisturbed answer; the recovery time runs from the kill to the next verified token. The killed silo is
/// restarted before the next run.
/// </summary>
public sealed class FailoverBenchmark(OnnxDraftRunner runner, SyneraTokenizer tokenizer, string logDir, Action<string> report)
{
    private static readonly GenerationOptions Verified = new()
    {
        Mode = GenerationMode.Synera, Budget = 1, LoadAware = false, MaxNewTokens = 80, Link = new LinkOptions(DeviceMsPerToken: 20),
    };

    public async Task<List<FailoverRun>> RunAsync(IReadOnlyList<string> prompts, CancellationToken cancellation)
    {
        using var store = new EmbeddedStore();
        var ports = Enumerable.Range(0, 6).Select(_ => EmbeddedCluster.FreePort()).ToArray();
        var frontend = SiloProcess.Start("frontend", store.ConnectionString, ports[0], ports[1], 1, Path.Combine(logDir, "frontend.log"));
        SiloProcess[] verifiers = [];
        try
        {
            // The verifiers join once the frontend is active: the verdict streams' queue grains then activate on the
            // frontend. A verifier active first would read the queues until the frontend joined, and keep their grains;
            // killing it then broke those streams (the devices recovered by resync, 5 stall resyncs in a run).
            await using var client = await SyneraClientHost.ConnectAsync(frontend.GatewayPort, cancellation: cancellation);
            verifiers =
            [
                SiloProcess.Start("verifier", store.ConnectionString, ports[2], ports[3], 1, Path.Combine(logDir, "verifier-a.log")),
                SiloProcess.Start("verifier", store.ConnectionString, ports[4], ports[5], 1, Path.Combine(logDir, "verifier-b.log")),
            ];
            var management = client.Client.GetGrain<IManagementGrain>(0);
            await SiloProcess.WaitForActiveSilosAsync(management, 3, null, cancellation);
            var runs = new List<FailoverRun>();
            for (int run = 0; run < prompts.Count; run++)
            {
                var prompt = prompts[run];
                using var reference = new DeviceGenerator(client.Client, runner, tokenizer, $"failover-ref-{run}");
                var undisturbed = await reference.GenerateAsync(prompt, Verified, cancellation: cancellation);
                var deviceId = $"failover-{run}-{Guid.NewGuid():N}"[..24];
                using var generator = new DeviceGenerator(client.Client, runner, tokenizer, deviceId);
                var clock = Stopwatch.StartNew();
                var shownAt = new List<double>();
                int seen = 0;
                var answer = generator.GenerateAsync(prompt, Verified, t =>
                {
                    Interlocked.Increment(ref seen);
                    lock (shownAt) shownAt.Add(clock.Elapsed.TotalMilliseconds);
                }, cancellation);
                while (Volatile.Read(ref seen) < Math.Max(2, undisturbed.TokenIds.Count / 3) && !answer.IsCompleted) await Task.Delay(5, cancellation);
                var (serving, servingAddress) = await ServingVerifierAsync(management, deviceId, verifiers);
                double killedAt = clock.Elapsed.TotalMilliseconds;
                serving?.Kill();
                var result = await answer;
                // Recovery: from the kill to the end of the longest pause in the stream of verified tokens after it (tokens
                // verified before the kill can still be in flight; the pause is the cloud moving the session elsewhere).
                double recovery = double.NaN;
                lock (shownAt)
                {
                    double previous = killedAt, longest = -1;
                    foreach (var t in shownAt.Where(t => t > killedAt))
                    {
                        if (t - previous > longest) { longest = t - previous; recovery = t - killedAt; }
                        previous = t;
                    }
                }
                int common = CommonSubsequence(undisturbed.TokenIds, result.TokenIds);
                var r = new FailoverRun(run, prompt, undisturbed.TokenIds.Count, undisturbed.TokenIds.Count - common, result.TokenIds.Count - common,
                    !undisturbed.TokenIds.SequenceEqual(result.TokenIds), result.Stats.CloudError is not null || result.Stats.NumVerdictTimeouts > 0,
                    recovery, result.Stats.NumStallResyncs, serving is null ? "none (answer ended first)" : $"{serving.Role}:{serving.SiloPort}", result.Stats.CloudError);
                runs.Add(r);
                report($"run {run}: killed {r.KilledSilo}; {r.Tokens} tokens, lost {r.TokensLost}, duplicated {r.TokensDuplicated}, " +
                       $"{(r.Differs ? "DIFFERS" : "same answer")}, recovery {r.RecoveryMs:F0} ms, {r.StallResyncs} stall resyncs{(r.SlmFallback ? ", SLM fallback" : "")}");
                if (serving is not null)
                {
                    // Bring the cluster back to two verifiers (on the same ports, a new silo generation) before the next run.
                    var index = Array.IndexOf(verifiers, serving);
                    serving.Dispose();
                    verifiers[index] = SiloProcess.Start("verifier", store.ConnectionString, serving.SiloPort, serving.GatewayPort, 1,
                        Path.Combine(logDir, $"verifier-{(char)('a' + index)}.log"));
                    await SiloProcess.WaitForActiveSilosAsync(management, 3, servingAddress, cancellation);
                }
            }
            return runs;
        }
        finally
        {
            foreach (var v in verifiers) v.Dispose();
            frontend.Dispose();
        }
    }

    /// <summary>The verifier silo process holding the device's session (its verifier activation is keyed by the session).</summary>
    private static async Task<(SiloProcess?, SiloAddress?)> ServingVerifierAsync(IManagementGrain management, string deviceId, SiloProcess[] verifiers)
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var stats = await management.GetDetailedGrainStatistics();
            var activation = stats.FirstOrDefault(s => s.GrainType.Contains("VerifierGrain") && s.GrainId.ToString().Contains(deviceId));
            if (activation is not null) return (verifiers.FirstOrDefault(v => v.SiloPort == activation.SiloAddress.Endpoint.Port), activation.SiloAddress);
            await Task.Delay(20);
        }
        return (null, null);
    }

    /// <summary>Length of the longest common subsequence: tokens of both answers that line up.</summary>
    public static int CommonSubsequence(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        var previous = new int[b.Count + 1];
        var current = new int[b.Count + 1];
        for (int i = 1; i <= a.Count; i++)
        {
            for (int j = 1; j <= b.Count; j++)
                current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
            (previous, current) = (current, previous);
        }
        return previous[b.Count];
    }
}

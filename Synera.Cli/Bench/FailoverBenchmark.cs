using System.Diagnostics;
using Orleans.Runtime;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;
using Synera.DeviceClient.Link;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

namespace Synera.Cli.Bench;

/// <summary>How the verifier serving the answer fails.</summary>
public enum VerifierFault
{
    /// <summary>SIGKILL: the process dies, its connections close at once.</summary>
    Kill,
    /// <summary>SIGSTOP until the answer ends: frozen, connections open, nothing answered (a gray failure).</summary>
    Pause,
    /// <summary>Its host's network link taken down until the answer ends, the process left running (needs root).</summary>
    Partition,
}

/// <summary>One failover run: the verifier silo serving a greedy answer verified token by token fails mid-answer.</summary>
/// <param name="LongestPauseMs">The longest gap between two tokens shown after the fault.</param>
public sealed record FailoverRun(int Run, string Prompt, int Tokens, int TokensLost, int TokensDuplicated, bool Differs, bool SlmFallback,
    double RecoveryMs, int StallResyncs, string KilledSilo, string? CloudError, double LongestPauseMs = double.NaN);

/// <summary>
/// <c>synera bench failover</c>: a frontend and two verifier silos, each a process of its own, in Redis membership (the
/// embedded store, in this process). A device generates greedy answers at budget 1 (every token verified), paced like a
/// phone; a third of the way in, the verifier silo serving it is killed with SIGKILL. The answer is compared with the
/// same prompt's undisturbed answer; the recovery time runs from the kill to the next verified token. The killed silo is
/// restarted before the next run.
/// </summary>
public sealed class FailoverBenchmark(OnnxDraftRunner runner, SyneraTokenizer tokenizer, string logDir, Action<string> report,
    VerifierFault fault = VerifierFault.Kill)
{
    private static readonly GenerationOptions Verified = new()
    {
        Mode = GenerationMode.Synera, Budget = 1, LoadAware = false, MaxNewTokens = 80, Link = new LinkOptions(DeviceMsPerToken: 20),
    };

    public async Task<List<FailoverRun>> RunAsync(IReadOnlyList<string> prompts, CancellationToken cancellation)
    {
        // A partition needs hosts: each verifier in a network namespace of its own behind a link this benchmark can cut;
        // the store, the frontend and the device stay on this machine, at the bridge's address.
        using var hosts = fault == VerifierFault.Partition ? new NetworkNamespaces(2) : null;
        using var store = new EmbeddedStore(bind: hosts is null ? "127.0.0.1" : "0.0.0.0");
        var redis = hosts is null ? store.ConnectionString : $"{hosts.HostAddress}:{store.Port}";
        var ports = Enumerable.Range(0, 6).Select(_ => EmbeddedCluster.FreePort()).ToArray();
        var frontend = SiloProcess.Start("frontend", redis, ports[0], ports[1], 1, Path.Combine(logDir, "frontend.log"), advertise: hosts?.HostAddress);
        SiloProcess[] verifiers = [];
        SiloProcess StartVerifier(int index) => SiloProcess.Start("verifier", redis, ports[2 + 2 * index], ports[3 + 2 * index], 1,
            Path.Combine(logDir, $"verifier-{(char)('a' + index)}.log"), launcher: hosts?.Wrap(index), advertise: hosts?.Address(index));
        try
        {
            // The verifiers join once the frontend is active: the verdict streams' queue grains then activate on the
            // frontend. A verifier active first would read the queues until the frontend joined, and keep their grains;
            // killing it then broke those streams (the devices recovered by resync, 5 stall resyncs in a run).
            await using var client = await SyneraClientHost.ConnectAsync(hosts?.HostAddress ?? "127.0.0.1", frontend.GatewayPort, cancellation: cancellation);
            verifiers = [StartVerifier(0), StartVerifier(1)];
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
                int index = serving is null ? -1 : Array.IndexOf(verifiers, serving);
                if (serving is not null)
                    switch (fault)
                    {
                        case VerifierFault.Kill: serving.Kill(); break;
                        case VerifierFault.Pause: serving.Signal(stop: true); break;
                        case VerifierFault.Partition: hosts!.Cut(index); break;
                    }
                var result = await answer;
                // Heal: the paused or cut-off silo comes back to a cluster that has declared it dead and stops itself; it
                // is replaced below like a killed one.
                if (serving is not null && fault == VerifierFault.Pause) serving.Signal(stop: false);
                if (serving is not null && fault == VerifierFault.Partition) hosts!.Heal(index);
                var (recovery, longest) = Faults.FaultSuite.LongestPause(shownAt, killedAt);
                int common = CommonSubsequence(undisturbed.TokenIds, result.TokenIds);
                var r = new FailoverRun(run, prompt, undisturbed.TokenIds.Count, undisturbed.TokenIds.Count - common, result.TokenIds.Count - common,
                    !undisturbed.TokenIds.SequenceEqual(result.TokenIds), result.Stats.CloudError is not null || result.Stats.NumVerdictTimeouts > 0,
                    recovery, result.Stats.NumStallResyncs, serving is null ? "none (answer ended first)" : $"{serving.Role}:{serving.SiloPort}", result.Stats.CloudError,
                    longest < 0 ? double.NaN : longest);
                runs.Add(r);
                report($"run {run}: {fault.ToString().ToLowerInvariant()} {r.KilledSilo}; {r.Tokens} tokens, lost {r.TokensLost}, duplicated {r.TokensDuplicated}, " +
                       $"{(r.Differs ? "DIFFERS" : "same answer")}, recovery {r.RecoveryMs:F0} ms, longest pause {r.LongestPauseMs:F0} ms, {r.StallResyncs} stall resyncs{(r.SlmFallback ? ", SLM fallback" : "")}");
                if (serving is not null)
                {
                    // Bring the cluster back to two verifiers (on the same ports, a new silo generation) before the next run.
                    serving.Dispose();
                    verifiers[index] = StartVerifier(index);
                    await SiloProcess.WaitForActiveSilosAsync(management, 3, servingAddress is null ? null : [servingAddress], cancellation);
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
        var address = await SiloProcess.ActivationSiloAsync(management, "VerifierGrain", deviceId);
        return address is null ? (null, null) : (verifiers.FirstOrDefault(v => v.SiloPort == address.Endpoint.Port), address);
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

using System.Diagnostics;
using Orleans.Runtime;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Link;
using Synera.Tokenizer;

namespace Synera.Cli.Bench.Faults;

/// <summary>One answer disturbed by a fault.</summary>
/// <param name="Tokens">Tokens of the undisturbed answer.</param>
/// <param name="TokensLost">Undisturbed tokens missing from the answer shown (its longest common subsequence with it).</param>
/// <param name="TokensDuplicated">Tokens shown beyond that common subsequence (a token shown twice counts here).</param>
/// <param name="SlmFallback">Some of the answer is the SLM's, unverified, because of the fault: the cloud could not finish
/// it (a verdict timeout or a cloud error), or refused spans it was sent (<paramref name="SlmTokens"/>).</param>
/// <param name="SlmTokens">Flagged tokens the cloud refused, which the device kept as its SLM drafted them.</param>
/// <param name="RecoveryMs">From the fault to the first token after the longest pause that followed it.</param>
/// <param name="LongestPauseMs">The longest gap between two tokens shown after the fault.</param>
/// <param name="Target">What the fault hit (role and host).</param>
/// <param name="DeviceSaw">What the device showed meanwhile, in words.</param>
/// <param name="Fencing">Log lines about the faulted silo coming back: the cut-off or frozen verifier told it is dead,
/// and session grains fencing its late verdicts.</param>
/// <param name="AccountKept">For a full restart: the device's long-run account read after the restart equals the one
/// before it.</param>
public sealed record FaultRun(string Kind, int Run, string Prompt, int Tokens, int TokensLost, int TokensDuplicated, bool Differs, bool SlmFallback,
    double RecoveryMs, double LongestPauseMs, int StallResyncs, int VerdictTimeouts, string? CloudError, string Target, string DeviceSaw,
    IReadOnlyList<string> Fencing, bool? AccountKept = null, long SlmTokens = 0);

/// <summary>
/// <c>synera bench faults</c>: a nemesis for the cluster. For each kind of fault a fresh <see cref="FaultCluster"/> (store,
/// frontends, two verifiers, each on a host of its own); a device answers greedily at budget 1 (every token verified, so
/// the undisturbed answer is the LLM's and any difference is the fault's), paced like a phone; a third of the way into
/// the answer the fault strikes, and the answer is compared with the same prompt's undisturbed one. After each run the
/// cluster is healed and brought back to full strength.
/// </summary>
public sealed class FaultSuite(OnnxDraftRunner runner, SyneraTokenizer tokenizer, string logDir, Action<string> report, int frontends = 2)
{
    private static readonly GenerationOptions Verified = new()
    {
        Mode = GenerationMode.Synera, Budget = 1, LoadAware = false, MaxNewTokens = 80, Link = new LinkOptions(DeviceMsPerToken: 20),
    };
    public static readonly TimeSpan PauseFor = TimeSpan.FromSeconds(20), OutageFor = TimeSpan.FromSeconds(10);

    /// <summary>A phone on a poor mobile link: 120 ms RTT, up to 40 ms of jitter each way, 3 % of messages lost (each loss
    /// a 200 ms retransmission that holds back what follows). This machine's kernel has no netem (<c>tc qdisc add … netem</c>:
    /// kind unknown), and an Orleans gateway refuses a client relayed by a TCP proxy, so the link is the device's own
    /// emulator (<see cref="LinkEmulator{TDown}"/>), on every message up and down, in order.</summary>
    public static readonly LinkOptions PoorLink = Verified.Link with { RttMs = 120, JitterMs = 40, LossRate = 0.03 };

    public async Task<List<FaultRun>> RunAsync(FaultKind kind, IReadOnlyList<string> prompts, CancellationToken cancellation)
    {
        if (kind == FaultKind.FrontendKill && frontends < 2) report("frontend-kill with one frontend: the device has no other gateway until it is restarted");
        var dir = Path.Combine(logDir, kind.Name());
        await using var cluster = await StartClusterAsync(dir, cancellation);
        var runs = new List<FaultRun>();
        for (int run = 0; run < prompts.Count; run++)
        {
            var r = kind == FaultKind.FullRestart
                ? await FullRestartAsync(cluster, run, prompts[run], prompts[(run + 1) % prompts.Count], cancellation)
                : await MidAnswerAsync(cluster, kind, run, prompts[run], cancellation);
            runs.Add(r);
            report($"{kind.Name()} run {run}: {r.Target}; {r.Tokens} tokens, lost {r.TokensLost}, duplicated {r.TokensDuplicated}, " +
                   $"{(r.Differs ? "DIFFERS" : "same answer")}, recovery {r.RecoveryMs:F0} ms; device: {r.DeviceSaw}" +
                   (r.AccountKept is bool kept ? $"; account {(kept ? "kept" : "LOST")}" : "") + (r.Fencing.Count > 0 ? $"; {r.Fencing.Count} fencing log lines" : ""));
        }
        return runs;
    }

    /// <summary>A fresh cluster; one more try when it does not form (seen once in dozens of starts: two frontends that did
    /// not both become active within 3 minutes), so one bad start does not cost the rest of a long suite.</summary>
    private async Task<FaultCluster> StartClusterAsync(string dir, CancellationToken cancellation)
    {
        try { return await FaultCluster.StartAsync(frontends, dir, cancellation); }
        catch (TimeoutException e)
        {
            report($"the cluster did not form ({e.Message}); starting it again");
            return await FaultCluster.StartAsync(frontends, dir, cancellation);
        }
    }

    private async Task<GenerationResult> UndisturbedAsync(FaultCluster cluster, string prompt, CancellationToken cancellation)
    {
        using var reference = new DeviceGenerator(cluster.Client, runner, tokenizer, $"faults-ref-{Guid.NewGuid():N}"[..24]);
        return await reference.GenerateAsync(prompt, Verified, cancellation: cancellation);
    }

    private async Task<FaultRun> MidAnswerAsync(FaultCluster cluster, FaultKind kind, int run, string prompt, CancellationToken cancellation)
    {
        var undisturbed = await UndisturbedAsync(cluster, prompt, cancellation);
        var deviceId = $"faults-{run}-{Guid.NewGuid():N}"[..24];
        using var generator = new DeviceGenerator(cluster.Client, runner, tokenizer, deviceId);
        var clock = Stopwatch.StartNew();
        var shownAt = new List<double>();
        int seen = 0;
        // The poor link is the device's for the whole answer (its emulator's settings are the answer's); every other fault
        // strikes a third of the way in.
        var options = kind == FaultKind.Wan ? Verified with { Link = PoorLink } : Verified;
        var answer = generator.GenerateAsync(prompt, options, _ =>
        {
            Interlocked.Increment(ref seen);
            lock (shownAt) shownAt.Add(clock.Elapsed.TotalMilliseconds);
        }, cancellation);
        while (kind != FaultKind.Wan && Volatile.Read(ref seen) < Math.Max(2, undisturbed.TokenIds.Count / 3) && !answer.IsCompleted) await Task.Delay(5, cancellation);

        var verifierAddress = await cluster.SiloOfAsync("VerifierGrain", deviceId);
        var sessionAddress = await cluster.SiloOfAsync("SessionGrain", deviceId);
        int verifier = verifierAddress is null ? -1 : cluster.VerifierAt(verifierAddress);
        int frontend = sessionAddress is null ? -1 : cluster.FrontendAt(sessionAddress);
        double faultAt = kind == FaultKind.Wan ? 0 : clock.Elapsed.TotalMilliseconds;
        var logLengths = kind is FaultKind.VerifierPartition or FaultKind.VerifierPause ? LogLengths(cluster) : [];
        string target;
        Task? healed = null;
        switch (kind)
        {
            case FaultKind.VerifierKill when verifier >= 0:
                cluster.Verifiers[verifier].Kill(); target = $"verifier {(char)('a' + verifier)} killed"; break;
            case FaultKind.VerifierPartition when verifier >= 0:
                cluster.Hosts.Cut(cluster.VerifierHost(verifier)); target = $"verifier {(char)('a' + verifier)} cut off"; break;
            case FaultKind.VerifierPause when verifier >= 0:
                cluster.Verifiers[verifier].Signal(stop: true); target = $"verifier {(char)('a' + verifier)} frozen for {PauseFor.TotalSeconds:F0} s"; break;
            case FaultKind.FrontendKill when frontend >= 0:
                cluster.Frontends[frontend].Kill(); target = $"frontend {(char)('a' + frontend)} (the session's) killed"; break;
            case FaultKind.StoreRestart:
                cluster.Store.Kill();
                healed = cluster.StartStoreAsync(cancellation);       // started again at once, on the data it kept
                target = "store killed and restarted"; break;
            case FaultKind.StoreOutage:
                cluster.Hosts.Cut(cluster.StoreHost);
                healed = Task.Delay(OutageFor, cancellation).ContinueWith(_ => cluster.Hosts.Heal(cluster.StoreHost), TaskScheduler.Default);
                target = $"store unreachable for {OutageFor.TotalSeconds:F0} s"; break;
            case FaultKind.Wan:
                target = $"device link: {PoorLink.RttMs:F0} ms RTT, up to {PoorLink.JitterMs:F0} ms jitter, {100 * PoorLink.LossRate:F0} % loss"; break;
            default:
                target = "none (the answer ended before the fault)"; break;
        }
        var result = await answer;
        if (healed is not null) await healed;
        var fencing = await RepairAsync(cluster, kind, verifier, frontend, verifierAddress, sessionAddress, faultAt, clock, logLengths, cancellation);
        // A poor link is not an event the answer recovers from: its pauses count from the first token (the wait for that one
        // is TTFT), and its recovery is the worst stall it caused, the longest pause between two tokens.
        if (kind == FaultKind.Wan) faultAt = shownAt.Count > 0 ? shownAt[0] : 0;
        var measured = Measure(kind.Name(), run, prompt, undisturbed, result, shownAt, faultAt, target, fencing);
        if (kind == FaultKind.Wan) measured = measured with { RecoveryMs = measured.LongestPauseMs };
        return measured;
    }

    /// <summary>Heals the fault and brings the cluster back to full strength; returns the fencing log lines of a verifier
    /// that came back after being declared dead.</summary>
    private async Task<List<string>> RepairAsync(FaultCluster cluster, FaultKind kind, int verifier, int frontend, SiloAddress? verifierAddress,
        SiloAddress? sessionAddress, double faultAt, Stopwatch clock, Dictionary<string, int> logLengths, CancellationToken cancellation)
    {
        var fencing = new List<string>();
        switch (kind)
        {
            case FaultKind.VerifierKill when verifier >= 0:
                cluster.Verifiers[verifier].Dispose();
                cluster.StartVerifier(verifier);
                await cluster.WaitForFullStrengthAsync(verifierAddress, cancellation);
                break;
            case FaultKind.VerifierPartition or FaultKind.VerifierPause when verifier >= 0:
                // Come back only once the cluster has declared it dead: the old verifier then returns to a cluster that has
                // moved its sessions on, which is the case fencing is for.
                await WaitUntilDeadAsync(cluster, verifierAddress!, cancellation);
                if (kind == FaultKind.VerifierPause)
                {
                    var left = PauseFor - TimeSpan.FromMilliseconds(clock.Elapsed.TotalMilliseconds - faultAt);
                    if (left > TimeSpan.Zero) await Task.Delay(left, cancellation);
                    cluster.Verifiers[verifier].Signal(stop: false);
                }
                else cluster.Hosts.Heal(cluster.VerifierHost(verifier));
                // It learns it is dead and stops; give it the time to, and to send whatever it still held.
                var old = cluster.Verifiers[verifier].Process;
                await Task.WhenAny(old.WaitForExitAsync(cancellation), Task.Delay(TimeSpan.FromSeconds(30), cancellation));
                await Task.Delay(TimeSpan.FromSeconds(2), cancellation);
                fencing.AddRange(FencingLines(cluster, verifier, logLengths, old.HasExited));
                cluster.Verifiers[verifier].Dispose();
                cluster.StartVerifier(verifier);
                await cluster.WaitForFullStrengthAsync(verifierAddress, cancellation);
                break;
            case FaultKind.FrontendKill when frontend >= 0:
                cluster.Frontends[frontend].Dispose();
                cluster.StartFrontend(frontend);
                await cluster.WaitForFullStrengthAsync(sessionAddress, cancellation);
                break;
            case FaultKind.StoreRestart or FaultKind.StoreOutage:
                await cluster.WaitForFullStrengthAsync((SiloAddress?)null, cancellation);
                break;
        }
        return fencing;
    }

    private static async Task WaitUntilDeadAsync(FaultCluster cluster, SiloAddress address, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var hosts = await cluster.Management.GetHosts(onlyActive: false);
                if (hosts.TryGetValue(address, out var status) && status == SiloStatus.Dead) return;
            }
            catch (Exception) { }
            await Task.Delay(250, cancellation);
        }
    }

    /// <summary>The lines that show the old verifier fenced once it came back: its own deliveries refused because the
    /// cluster declared it dead, the frontends' trust boundary fencing its calls, and session grains refusing late
    /// verdicts of an old epoch. Only lines written after the fault (<paramref name="linesBefore"/>: each log's length then).</summary>
    private static List<string> FencingLines(FaultCluster cluster, int verifier, Dictionary<string, int> linesBefore, bool exited)
    {
        var lines = new List<string>();
        foreach (var (name, since) in linesBefore)
        {
            var path = Path.Combine(cluster.LogDir, $"{name}.log");
            if (!File.Exists(path)) continue;
            lines.AddRange(File.ReadLines(path).Skip(since).Where(l => l.Contains("declared dead") || l.Contains("am dead") || l.Contains("Fenced ") || l.Contains("fenced a"))
                .Select(l => $"{name}: {Trim(l.Trim())}").Distinct().Take(4));
        }
        lines.Add(exited ? $"verifier-{(char)('a' + verifier)}: its process stopped by itself after the heal"
                         : $"verifier-{(char)('a' + verifier)}: still running 30 s after the heal (it had not yet read that it was declared dead); killed");
        return lines;
    }

    /// <summary>How many lines each process's log has now.</summary>
    private static Dictionary<string, int> LogLengths(FaultCluster cluster) =>
        Directory.GetFiles(cluster.LogDir, "*.log").ToDictionary(f => Path.GetFileNameWithoutExtension(f), f => File.ReadLines(f).Count());

    private static string Trim(string line) => line.Length > 300 ? line[..300] + "…" : line;

    /// <summary>Two answers of one device with every process of the cluster stopped and started between them: the second
    /// is compared with its undisturbed answer, and the device's account must read the same after the restart.</summary>
    private async Task<FaultRun> FullRestartAsync(FaultCluster cluster, int run, string first, string second, CancellationToken cancellation)
    {
        var undisturbed = await UndisturbedAsync(cluster, second, cancellation);
        var deviceId = $"faults-{run}-{Guid.NewGuid():N}"[..24];
        using var generator = new DeviceGenerator(cluster.Client, runner, tokenizer, deviceId);
        await generator.GenerateAsync(first, Verified, cancellation: cancellation);
        var device = cluster.Client.GetGrain<IDeviceGrain>(deviceId);
        DeviceAccount? before = null;
        for (int i = 0; i < 20 && (before = await device.GetAccountAsync()) is null; i++) await Task.Delay(100, cancellation);

        var old = (await cluster.Management.GetHosts(onlyActive: true)).Keys.ToList();
        var clock = Stopwatch.StartNew();
        foreach (var p in cluster.Verifiers.Concat(cluster.Frontends)) p.Kill();
        cluster.Store.Kill();
        await cluster.StartStoreAsync(cancellation);
        // The frontends first, as at the first start (the verdict streams' queue grains then activate on a frontend).
        for (int i = 0; i < cluster.Frontends.Length; i++) { cluster.Frontends[i].Dispose(); cluster.StartFrontend(i); }
        for (int j = 0; j < 2; j++) cluster.Verifiers[j].Dispose();
        await Task.Delay(TimeSpan.FromSeconds(5), cancellation);
        for (int j = 0; j < 2; j++) cluster.StartVerifier(j);
        await cluster.WaitForFullStrengthAsync(old, cancellation);
        double restartMs = clock.Elapsed.TotalMilliseconds;
        var after = await device.GetAccountAsync();
        bool kept = before is not null && after is not null && after.NumGenerated == before.NumGenerated && after.NumOffloaded == before.NumOffloaded
            && Math.Abs(after.Credit - before.Credit) < 1e-9;

        var shownAt = new List<double>();
        double startAt = clock.Elapsed.TotalMilliseconds;
        var result = await generator.GenerateAsync(second, Verified, _ => { lock (shownAt) shownAt.Add(clock.Elapsed.TotalMilliseconds); }, cancellation);
        var measured = Measure(FaultKind.FullRestart.Name(), run, second, undisturbed, result, shownAt, startAt,
            $"every silo and the store restarted in {restartMs / 1000:F1} s between two answers", []);
        return measured with
        {
            AccountKept = kept,
            DeviceSaw = $"account before {Describe(before)}, after {Describe(after)}; second answer: {measured.DeviceSaw}",
        };
    }

    private static string Describe(DeviceAccount? a) => a is null ? "none" : $"{a.NumOffloaded}/{a.NumGenerated} offloaded, credit {a.Credit:F1}";

    /// <summary>Recovery: from the fault to the end of the longest pause in the tokens shown after it (tokens verified
    /// before the fault can still be arriving; the pause is the cloud getting back to the answer). Both NaN / -1 when
    /// nothing was shown after the fault.</summary>
    public static (double recoveryMs, double longestPauseMs) LongestPause(List<double> shownAt, double faultAt)
    {
        double recovery = double.NaN, longest = -1;
        lock (shownAt)
        {
            double previous = faultAt;
            foreach (var t in shownAt.Where(t => t > faultAt))
            {
                if (t - previous > longest) { longest = t - previous; recovery = t - faultAt; }
                previous = t;
            }
        }
        return (recovery, longest);
    }

    private static FaultRun Measure(string kind, int run, string prompt, GenerationResult undisturbed, GenerationResult result, List<double> shownAt,
        double faultAt, string target, List<string> fencing)
    {
        var (recovery, longest) = LongestPause(shownAt, faultAt);
        int common = FailoverBenchmark.CommonSubsequence(undisturbed.TokenIds, result.TokenIds);
        var s = result.Stats;
        bool fallback = s.CloudError is not null || s.NumVerdictTimeouts > 0 || s.NumRefusedOffloads > 0;
        var saw = $"{result.TokenIds.Count} tokens, longest pause {Math.Max(0, longest):F0} ms" +
                  (s.NumStallResyncs > 0 ? $", {s.NumStallResyncs} stall resync{(s.NumStallResyncs == 1 ? "" : "s")}" : "") +
                  (s.NumVerdictTimeouts > 0 ? $", {s.NumVerdictTimeouts} verdict timeout{(s.NumVerdictTimeouts == 1 ? "" : "s")}" : "") +
                  (s.NumRefusedOffloads > 0 ? $", {s.NumRefusedOffloads} flagged tokens refused by the cloud and kept as the SLM's" : "") +
                  (s.CloudError is not null || s.NumVerdictTimeouts > 0 ? ", finished by the SLM" : fallback ? "" : ", verified to the end");
        return new FaultRun(kind, run, prompt, undisturbed.TokenIds.Count, undisturbed.TokenIds.Count - common, result.TokenIds.Count - common,
            !undisturbed.TokenIds.SequenceEqual(result.TokenIds), fallback, recovery, longest < 0 ? double.NaN : longest, s.NumStallResyncs,
            s.NumVerdictTimeouts, s.CloudError, target, saw, fencing, SlmTokens: s.NumRefusedOffloads);
    }
}

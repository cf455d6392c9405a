using System.Diagnostics;
using Orleans.Runtime;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;
using Synera.DeviceClient.Link;
using Synera.Grains.Placement;
using Synera.Models.Data;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

namespace Synera.Cli.Bench;

/// <summary>The service level every device must meet, against its own answers' unloaded times.</summary>
/// <param name="TpotFactor">A device's TPOT p90 at most this × the p90 of the same prompts' unloaded TPOT, or of the
/// profile's reading pace (30 ms a token) where that is slower.</param>
/// <param name="TtftExtraMs">A device's TTFT p90 at most this over the p90 of the same prompts' unloaded TTFT (real, unscaled ms).</param>
/// <param name="AccuracyPoints">The probe's accuracy at most this many points under the same prompts' unloaded accuracy.</param>
/// <param name="DeviceShare">Share of devices that must meet it for the count to be served.</param>
public sealed record ServiceLevel(double TpotFactor = 1.10, double TtftExtraMs = 250, double AccuracyPoints = 1, double DeviceShare = 0.95);

/// <summary>One answer as a device saw it.</summary>
public sealed record AnsweredPrompt(int Example, string Text, bool Correct, double TtftMs, double TpotMs, double TotalMs, int Tokens, double OffloadRatio, long Spans, bool Fallback,
    double VerdictRttMs = double.NaN);

/// <summary>One load level: what the devices got and what the machine spent.</summary>
public sealed record CapacityProbe(int Devices, int Answers, int AnswersDiffering, double Attainment, double Accuracy, double UnloadedAccuracy, bool Holds,
    double TpotRatioP90Median, double TtftExtraMsP90Median, int Fallbacks, double VerifierCpuPercent, double LoadGeneratorCpuPercent,
    double VerifierBusyMsPerToken, double VerifierCoreMsPerToken, long Tokens, double TokensPerSecond, long ReplayHits, long ReplayMisses,
    long ModelOverruns, long VerifierSteps, double WindowSeconds, double VerdictRttMsP50 = double.NaN, double UnloadedVerdictRttMsP50 = double.NaN);

/// <summary>A mode's capacity: its unloaded answers, its probes and the most devices served.</summary>
public sealed record CapacityResult(string Name, string Mode, double Budget, int Capacity, double UnloadedAccuracy, double UnloadedTpotMsP50,
    double UnloadedTtftMsP50, List<CapacityProbe> Probes);

/// <summary>
/// <c>synera bench capacity</c>: the devices one verifier silo serves at a service level, llm mode against synera.
/// The verifier silo runs in its own process pinned to the last core; the frontend silo (another process), the store
/// and the devices (this process) share the other cores. Devices replay their draft model from a store filled by
/// the real ONNX model on the unloaded pass (<see cref="DraftReplayStore"/>: exact for greedy decoding), so the load
/// they generate costs the cores little and the verifier none. Each load level gets fresh devices; counts double from
/// 1 until one fails the service level, then bisect. With a cost model the verifier's steps take the modelled time of
/// other hardware, and every clock here (device pace, link, timeouts, the TTFT allowance) runs <c>timeScale</c> times
/// slower so this CPU's forward fits inside each modelled step; latencies are reported divided by it.
/// </summary>
public sealed class CapacityBenchmark(string draftDir, string? targetDir, string logDir, ServiceLevel level, Action<string> report,
    string? costModel = null, double timeScale = 1)
{
    /// <summary>The device profile the service level is judged at (real time).</summary>
    public const double DeviceMsPerToken = 30, RttMs = 50;

    public TimeSpan WarmUp { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(20);
    public int MaxDevices { get; init; } = 512;
    public int StartDevices { get; init; } = 1;
    public int BisectionSteps { get; init; } = 3;

    public sealed record Fidelity(int Examples, int AnswersEqual, double RealOffloadRatio, double ReplayOffloadRatio, long RealSpans, long ReplaySpans,
        long ReplayHits, long ReplayMisses);

    public async Task<(List<CapacityResult> results, Fidelity? fidelity, Dictionary<string, double> setup)> RunAsync(
        IReadOnlyList<(GenerationMode mode, double budget)> configs, IReadOnlyList<TaskExample> examples, bool checkReplay, CancellationToken cancellation)
    {
        int cores = Environment.ProcessorCount;
        if (cores < 2) throw new InvalidOperationException("bench capacity pins the verifier to a core of its own and needs at least 2 cores");
        string verifierCpus = $"{cores - 1}", otherCpus = cores == 2 ? "0" : $"0-{cores - 2}";
        PinThisProcess(otherCpus);
        var (owner, tokenizer) = OnnxDraftRunner.Open(draftDir);
        using var _ = owner;
        var replay = new DraftReplayStore();
        owner.Replay = replay;
        using var store = new EmbeddedStore();
        var ports = Enumerable.Range(0, 4).Select(_ => EmbeddedCluster.FreePort()).ToArray();
        using var frontend = SiloProcess.Start("frontend", store.ConnectionString, ports[0], ports[1], 1, Path.Combine(logDir, "capacity-frontend.log"), cpus: otherCpus);
        await using var client = await SyneraClientHost.ConnectAsync(frontend.GatewayPort, cancellation: cancellation);
        var environment = new Dictionary<string, string>();
        if (costModel is not null) { environment["Synera__Verifier__CostModel"] = costModel; environment["Synera__Verifier__TimeScale"] = timeScale.ToString(System.Globalization.CultureInfo.InvariantCulture); }
        // The verifier's own queues and limits must not be what caps it: the service level is.
        environment["Synera__Verifier__MaxQueuedSpansPerDevice"] = "1024";
        using var verifier = SiloProcess.Start("verifier", store.ConnectionString, ports[2], ports[3], 1, Path.Combine(logDir, "capacity-verifier.log"),
            steadyState: true, modelPath: targetDir, cpus: verifierCpus, environment: environment);
        var management = client.Client.GetGrain<IManagementGrain>(0);
        await SiloProcess.WaitForActiveSilosAsync(management, 2, null, cancellation);
        var board = client.Client.GetGrain<IVerifierLoadBoardGrain>(0);
        var results = new List<CapacityResult>();
        Fidelity? fidelity = null;
        foreach (var (mode, budget) in configs)
        {
            var name = mode is GenerationMode.Synera ? $"synera-{budget:0.##}" : mode.ToString().ToLowerInvariant();
            var options = Options(mode, budget);
            // Unloaded: one device at a time, the real draft model, every forward kept for the replays.
            replay.Replaying = false;
            report($"{name}: unloaded pass over {examples.Count} prompts (one device, the real draft model)");
            var unloaded = await AnswerAllAsync(client.Client, owner, tokenizer, $"cap-{name}-unloaded", options, examples, cancellation);
            report($"  unloaded: accuracy {unloaded.Average(a => a.Correct ? 1.0 : 0):P1}, TPOT p50 {ModesBenchmark.Percentile([.. unloaded.Select(a => a.TpotMs)], 0.5):F1} ms, " +
                   $"TTFT p50 {ModesBenchmark.Percentile([.. unloaded.Select(a => a.TtftMs)], 0.5):F0} ms");
            replay.Replaying = true;
            if (checkReplay && mode is GenerationMode.Synera && fidelity is null)
            {
                replay.ResetCounters();
                report($"{name}: the same prompts with the draft model replayed");
                var replayed = await AnswerAllAsync(client.Client, owner, tokenizer, $"cap-{name}-replayed", options, examples, cancellation);
                fidelity = new Fidelity(examples.Count, unloaded.Zip(replayed).Count(p => p.First.Text == p.Second.Text),
                    Ratio(unloaded), Ratio(replayed), unloaded.Sum(a => a.Spans), replayed.Sum(a => a.Spans), replay.Hits, replay.Misses);
                report($"  replay: {fidelity.AnswersEqual}/{fidelity.Examples} answers equal, offload ratio {fidelity.RealOffloadRatio:P2} real / {fidelity.ReplayOffloadRatio:P2} replayed, " +
                       $"spans {fidelity.RealSpans} / {fidelity.ReplaySpans}, {fidelity.ReplayMisses} misses of {fidelity.ReplayHits + fidelity.ReplayMisses} forwards");
            }
            var result = new CapacityResult(name, mode.ToString().ToLowerInvariant(), mode is GenerationMode.Synera ? budget : 1, 0,
                unloaded.Average(a => a.Correct ? 1.0 : 0), ModesBenchmark.Percentile([.. unloaded.Select(a => a.TpotMs)], 0.5),
                ModesBenchmark.Percentile([.. unloaded.Select(a => a.TtftMs)], 0.5), []);
            async Task<bool> Holds(int devices)
            {
                await WaitForIdleAsync(board, cancellation);
                var probe = await ProbeAsync(client.Client, owner, tokenizer, board, verifier, frontend, name, devices, options, examples, unloaded, replay, cancellation);
                result.Probes.Add(probe);
                report($"  {name} × {devices}: {probe.Attainment:P0} of devices within the service level, accuracy {probe.Accuracy:P1} (unloaded {probe.UnloadedAccuracy:P1}, {probe.AnswersDiffering}/{probe.Answers} answers differ), " +
                       $"TPOT ratio p90 {probe.TpotRatioP90Median:F2}, TTFT +{probe.TtftExtraMsP90Median:F0} ms, verdict round trip {probe.VerdictRttMsP50:F0} ms (unloaded {probe.UnloadedVerdictRttMsP50:F0}); verifier {probe.VerifierCpuPercent:F0} % of its core, " +
                       $"load generator {probe.LoadGeneratorCpuPercent:F0} % of its; {probe.Tokens} tokens, {probe.ReplayMisses} replay misses, {probe.ModelOverruns} overruns → {(probe.Holds ? "served" : "NOT served")}");
                return probe.Holds;
            }
            int served = 0, failed = 0;
            for (int devices = StartDevices; devices <= MaxDevices; devices *= 2)
            {
                if (!await Holds(devices)) { failed = devices; break; }
                served = devices;
            }
            for (int i = 0; i < BisectionSteps && failed > served + 1; i++)
            {
                int mid = (served + failed) / 2;
                if (await Holds(mid)) served = mid; else failed = mid;
            }
            results.Add(result with { Capacity = served });
            report($"{name}: {served} devices served{(failed == 0 ? $" (every count up to {MaxDevices} held)" : "")}");
        }
        var setup = new Dictionary<string, double> { ["cores"] = cores, ["verifier_cores"] = 1, ["time_scale"] = timeScale, ["replay_entries"] = replay.Count };
        return (results, fidelity, setup);

        static double Ratio(List<AnsweredPrompt> a) => a.Sum(x => x.OffloadRatio * x.Tokens) / Math.Max(1, a.Sum(x => x.Tokens));
    }

    /// <summary>The device's options at this benchmark's profile and time scale.</summary>
    public GenerationOptions Options(GenerationMode mode, double budget) => new()
    {
        Mode = mode, Budget = budget,
        Link = new LinkOptions(RttMs * timeScale, 0, DeviceMsPerToken * timeScale),
        VerdictTimeout = TimeSpan.FromSeconds(30 * timeScale), StallTimeout = TimeSpan.FromSeconds(2 * timeScale),
        LatencyTargetMs = new GenerationOptions().LatencyTargetMs * timeScale,
    };

    private async Task<List<AnsweredPrompt>> AnswerAllAsync(IClusterClient client, OnnxDraftRunner owner, SyneraTokenizer tokenizer, string deviceId,
        GenerationOptions options, IReadOnlyList<TaskExample> examples, CancellationToken cancellation)
    {
        using var runner = owner.CreateSibling();
        using var generator = new DeviceGenerator(client, runner, tokenizer, deviceId);
        var answers = new List<AnsweredPrompt>();
        for (int i = 0; i < examples.Count; i++)
        {
            var r = await generator.GenerateAsync(examples[i].Prompt, options with { Seed = i }, null, cancellation);
            answers.Add(Answer(i, r, examples[i]));
        }
        return answers;
    }

    private AnsweredPrompt Answer(int example, GenerationResult r, TaskExample ex) =>
        new(example, r.Text, r.Text.Trim() == ex.Answer.Trim(), r.Stats.TimeToFirstTokenMs / timeScale, r.Stats.TimePerOutputTokenMs / timeScale, r.Stats.TotalMs / timeScale, r.Stats.NumTokens,
            r.Stats.OffloadRatio, r.Stats.NumRequests, r.Stats.CloudError is not null || r.Stats.NumVerdictTimeouts > 0,
            r.Stats.VerdictRoundTripMs.Count == 0 ? double.NaN : r.Stats.VerdictRoundTripMs.Average() / timeScale);

    private async Task<CapacityProbe> ProbeAsync(IClusterClient client, OnnxDraftRunner owner, SyneraTokenizer tokenizer, IVerifierLoadBoardGrain board,
        SiloProcess verifier, SiloProcess frontend, string name, int devices, GenerationOptions options, IReadOnlyList<TaskExample> examples,
        List<AnsweredPrompt> unloaded, DraftReplayStore replay, CancellationToken cancellation)
    {
        var runId = Guid.NewGuid().ToString("N")[..6];
        var runners = Enumerable.Range(0, devices).Select(_ => owner.CreateSibling()).ToArray();
        var generators = runners.Select((r, d) => new DeviceGenerator(client, r, tokenizer, $"cap-{name}-{runId}-{d}")).ToArray();
        var perDevice = Enumerable.Range(0, devices).Select(_ => new List<AnsweredPrompt>()).ToArray();
        var warmUp = WarmUp * timeScale;
        var window = Window * timeScale;
        var clock = Stopwatch.StartNew();
        long windowTokens = 0;
        bool InWindow() { var t = clock.Elapsed; return t >= warmUp && t < warmUp + window; }
        (TimeSpan verifierCpu, TimeSpan frontendCpu, TimeSpan ownCpu, Synera.Abstractions.Messages.VerifierLoad? load) start = default;
        var measuring = Task.Run(async () =>
        {
            await Task.Delay(warmUp, cancellation);
            start = (verifier.CpuTime, frontend.CpuTime, Process.GetCurrentProcess().TotalProcessorTime, (await board.GetLoadsAsync()).Values.FirstOrDefault());
            replay.ResetCounters();
        }, cancellation);
        try
        {
            // Every device asks the prompts in the unloaded pass's order, so its answer j has the unloaded answer j to be
            // judged against: the same prompt after the same history (its offload account and threshold included). The
            // devices start spread over one mean answer, so they do not ask in step.
            double meanAnswerMs = unloaded.Average(a => a.TotalMs) * timeScale;
            await Task.WhenAll(Enumerable.Range(0, devices).Select(d => Task.Run(async () =>
            {
                await Task.Delay(TimeSpan.FromMilliseconds(meanAnswerMs * d / devices), cancellation);
                for (int j = 0; clock.Elapsed < warmUp + window; j++)
                {
                    int i = j % examples.Count;   // past the end a device's history is not the unloaded one's: size --prompts to the window
                    bool counted = InWindow();
                    var r = await generators[d].GenerateAsync(examples[i].Prompt, options with { Seed = i },
                        _ => { if (InWindow()) Interlocked.Increment(ref windowTokens); }, cancellation);
                    if (counted) perDevice[d].Add(Answer(i, r, examples[i]));
                }
            }, cancellation)));
        }
        finally
        {
            foreach (var g in generators) g.Dispose();
            foreach (var r in runners) r.Dispose();
        }
        await measuring;
        var end = (verifier.CpuTime, frontend.CpuTime, Process.GetCurrentProcess().TotalProcessorTime, (await board.GetLoadsAsync()).Values.FirstOrDefault());
        double seconds = Math.Max(window.TotalSeconds, clock.Elapsed.TotalSeconds - warmUp.TotalSeconds);
        long hits = replay.Hits, misses = replay.Misses;
        // Each device against its own prompts' unloaded answers.
        var answers = perDevice.SelectMany(a => a).ToList();
        int meeting = perDevice.Count(a => a.Count > 0 && Meets(a));
        // A device's p90 against the p90 of the unloaded answers to the same prompts: a percentile over each side, not a
        // percentile of per-answer ratios (two noisy runs' ratios put the noise of both in the tail).
        // The reference is never faster than the profile's reading pace: llm mode's unloaded TPOT on a CPU is a few ms, and
        // 1.1× of that is timing noise, not a user's experience (this makes llm's capacity, not synera's, the generous one).
        double TpotRatio(List<AnsweredPrompt> a) => P90(a.Select(x => x.TpotMs)) / Math.Max(DeviceMsPerToken, P90(a.Select(x => unloaded[x.Example].TpotMs)));
        double TtftExtra(List<AnsweredPrompt> a) => P90(a.Select(x => x.TtftMs)) - P90(a.Select(x => unloaded[x.Example].TtftMs));
        bool Meets(List<AnsweredPrompt> a) => TpotRatio(a) <= level.TpotFactor && TtftExtra(a) <= level.TtftExtraMs;
        double accuracy = answers.Count == 0 ? 0 : answers.Average(a => a.Correct ? 1.0 : 0);
        double unloadedAccuracy = answers.Count == 0 ? 0 : answers.Average(a => unloaded[a.Example].Correct ? 1.0 : 0);
        double attainment = (double)meeting / devices;
        bool holds = attainment >= level.DeviceShare && accuracy >= unloadedAccuracy - level.AccuracyPoints / 100;
        double verifierCpu = (end.Item1 - start.verifierCpu).TotalMilliseconds;
        double otherCpu = (end.Item2 - start.frontendCpu + end.Item3 - start.ownCpu).TotalMilliseconds;
        int otherCores = Environment.ProcessorCount - 1;
        double busyMs = (end.Item4?.BusyMs ?? 0) - (start.load?.BusyMs ?? 0);
        long tokens = Interlocked.Read(ref windowTokens);
        return new CapacityProbe(devices, answers.Count, answers.Count(a => a.Text != unloaded[a.Example].Text), attainment, accuracy, unloadedAccuracy, holds,
            Median(perDevice.Where(a => a.Count > 0).Select(TpotRatio)), Median(perDevice.Where(a => a.Count > 0).Select(TtftExtra)),
            answers.Count(a => a.Fallback),
            100 * verifierCpu / (seconds * 1000), 100 * otherCpu / (seconds * 1000 * otherCores),
            tokens == 0 ? 0 : busyMs / timeScale / tokens, tokens == 0 ? 0 : verifierCpu / tokens, tokens, tokens / (seconds / timeScale), hits, misses,
            (end.Item4?.Overruns ?? 0) - (start.load?.Overruns ?? 0), (end.Item4?.Steps ?? 0) - (start.load?.Steps ?? 0), seconds,
            Median(answers.Select(a => a.VerdictRttMs).Where(double.IsFinite)), Median(answers.Select(a => unloaded[a.Example].VerdictRttMs).Where(double.IsFinite)));

        static double P90(IEnumerable<double> xs) => ModesBenchmark.Percentile([.. xs], 0.9);
        static double Median(IEnumerable<double> xs) { var l = xs.ToList(); return l.Count == 0 ? double.NaN : ModesBenchmark.Percentile(l, 0.5); }
    }

    /// <summary>A probe starts from an idle verifier: the previous probe's sessions closed, nothing queued.</summary>
    private static async Task WaitForIdleAsync(IVerifierLoadBoardGrain board, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var loads = await board.GetLoadsAsync();
            if (loads.Count > 0 && loads.Values.All(l => l is { NumSessions: 0, QueuedRequests: 0 })) return;
            await Task.Delay(250, cancellation);
        }
    }

    /// <summary>Every thread of this process (and any it starts) on <paramref name="cpus"/>, leaving the verifier's core alone.</summary>
    private static void PinThisProcess(string cpus)
    {
        using var taskset = Process.Start(new ProcessStartInfo("taskset", ["-a", "-cp", cpus, Environment.ProcessId.ToString()])
            { RedirectStandardOutput = true, RedirectStandardError = true }) ?? throw new InvalidOperationException("taskset did not start");
        taskset.WaitForExit();
        if (taskset.ExitCode != 0) throw new InvalidOperationException($"taskset could not pin this process to cores {cpus}: {taskset.StandardError.ReadToEnd()}");
    }
}

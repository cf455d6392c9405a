using Microsoft.Extensions.Hosting;
using System.CommandLine;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Generation;
using Synera.DeviceClient.Hosting;
using Synera.DeviceClient.Link;
using Synera.DeviceClient.Offloading;
using Synera.Silo.Hosting;
using Synera.Tokenizer;

using Synera.Cli.Bench;
using Synera.Models.Data;

namespace Synera.Cli.Commands;

/// <summary>
/// <c>synera generate "&lt;prompt&gt;" [--mode synera|slm|llm|spec|route] [--budget 0.1] [--rtt 0]</c>: starts the embedded
/// default (an in-process verifier silo with the shipped target model, and an Orleans client through its
/// gateway), drafts with the shipped ONNX draft model, streams the committed text and prints a stats line.
/// </summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string?>("prompt") { Description = "what to ask", Arity = ArgumentArity.ZeroOrOne };
        var mode = new Option<GenerationMode>("--mode") { Description = "slm, llm, spec, route or synera", DefaultValueFactory = _ => GenerationMode.Synera };
        var budget = new Option<double>("--budget") { Description = "offload budget: fraction of tokens sent for verification", DefaultValueFactory = _ => 0.1 };
        var rtt = new Option<double>("--rtt") { Description = "emulated round-trip time (ms)" };
        var bandwidth = new Option<double>("--bandwidth") { Description = "emulated link bandwidth (bit/s, 0 = unlimited)" };
        var deviceMs = new Option<double>("--device-ms") { Description = "pace the SLM to this many ms per token (phone-like: 30)" };
        var maxTokens = new Option<int>("--max-tokens") { DefaultValueFactory = _ => 96 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy; > 0 samples exactly as the LLM would (coupled sampling)" };
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling: keep the most likely tokens up to this mass", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "keep only the K most likely tokens when sampling (0 = off)" };
        var seed = new Option<int>("--seed") { Description = "sampling seed (the same seed gives the same sample)" };
        var connect = new Option<int?>("--connect") { Description = "connect to a running cluster's gateway on this local port instead of starting the embedded one" };
        var cluster = new Option<string?>("--cluster") { Description = "connect to a running cluster's gateway at HOST:PORT instead of starting the embedded one" };
        var deviceId = new Option<string?>("--device-id") { Description = "this device's id: its offload account follows it across runs (default: a new device)" };
        var maxBytes = new Option<double>("--max-bytes-per-second") { Description = "cap on the bytes/s sent for verification (0 = none); beyond it tokens stay the SLM's" };
        var repeat = new Option<int>("--repeat") { Description = "generate this many times (a device client's steady load)", DefaultValueFactory = _ => 1 };
        var suite = new Option<string?>("--suite") { Description = "ask a task suite's prompts instead (JSONL, e.g. data/heldout.jsonl), in a seeded shuffle, one per --repeat, each checked against its answer" };
        var telemetry = new Option<bool>("--telemetry") { Description = "print one verified span's trace (device → session grain → verifier → verdict) and the Synera meters at the end" };
        var command = new Command("generate", "Generate an answer on the embedded default cluster")
        {
            prompt, mode, budget, rtt, bandwidth, deviceMs, maxTokens, temperature, topP, topK, seed, connect, cluster, deviceId, repeat, maxBytes, suite, telemetry,
        };
        var models = new ModelOptions().AddTo(command);
        var security = new ClientSecurityOptions();
        security.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var tasks = parse.GetValue(suite) is { } suitePath
                ? (File.Exists(suitePath) ? ModesBenchmark.Shuffle(TaskGenerator.ReadJsonl(suitePath)) : throw new FileNotFoundException($"task suite not found: {suitePath}", suitePath))
                : null;
            if (tasks is { Count: 0 }) throw new ArgumentException($"the task suite {parse.GetValue(suite)} holds no prompts");
            if (tasks is null && string.IsNullOrWhiteSpace(parse.GetValue(prompt))) throw new ArgumentException("give a prompt, or --suite FILE");
            if (new Synera.Abstractions.Sampling.SamplingSettings(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(topK)).Problem() is { } problem)
                throw new ArgumentException(problem);
            var calibration = OffloadCalibration.TryLoadBeside(models.DraftDir(parse));
            var options = new GenerationOptions
            {
                Mode = parse.GetValue(mode),
                Budget = parse.GetValue(budget), MaxBytesPerSecond = parse.GetValue(maxBytes),
                MaxNewTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature), TopP = parse.GetValue(topP), TopK = parse.GetValue(topK), Seed = parse.GetValue(seed),
                Link = new LinkOptions(parse.GetValue(rtt), parse.GetValue(bandwidth), parse.GetValue(deviceMs)),
            };
            using var recorder = parse.GetValue(telemetry) ? new Telemetry.TelemetryRecorder() : null;
            using var export = SyneraServiceDefaults.StartOtlpExportIfConfigured(parse.GetValue(deviceId) ?? "synera-device");
            var (runner, tokenizer) = models.OpenDraft(parse);
            using var _ = runner;
            var gateway = parse.GetValue(cluster) is { } hostPort ? SyneraClientHost.ParseGateway(hostPort)
                : parse.GetValue(connect) is int port ? ("127.0.0.1", port) : ((string, int)?)null;
            await using var connection = await ClusterConnection.OpenAsync(gateway, models.Verifier(parse), cancellation, security.Resolve(parse, parse.GetValue(deviceId)));
            using var generator = new DeviceGenerator(connection.Client, runner, tokenizer, parse.GetValue(deviceId), calibration);
            int asked = 0, right = 0;
            long generated = 0, offloaded = 0;
            bool midLine = false;   // an answer's text is being written: a failure starts a line of its own
            var failures = await RepeatedAnswers.RunAsync(parse.GetValue(repeat), async i =>
            {
                var task = tasks?[i % tasks.Count];
                if (task is not null) { Console.Write($"{task.Prompt} → "); midLine = true; }
                var result = await generator.GenerateAsync(task?.Prompt ?? parse.GetValue(prompt)!, options, t => { Console.Write(t.Text); midLine = true; }, cancellation);
                Console.WriteLine();
                midLine = false;
                var s = result.Stats;
                if (task is not null)
                {
                    // A device on a mixed workload: how often it is right, and what it spent, over all its answers so far.
                    (asked, generated, offloaded) = (asked + 1, generated + s.NumGenerated, offloaded + s.NumOffloaded);
                    bool ok = result.Text.Trim() == task.Answer.Trim();
                    if (ok) right++;
                    AnsiConsole.MarkupLine($"[grey]{(ok ? "right" : $"wrong (expected {Markup.Escape(task.Answer.Trim())})")}; {right}/{asked} right ({(double)right / asked:P0}), offload ratio {(double)offloaded / Math.Max(1, generated):P1} over these answers[/]");
                }
                AnsiConsole.MarkupLine($"[grey]{s.Mode.ToString().ToLowerInvariant()}: {s.NumTokens} tokens, offload ratio {s.OffloadRatio:P1}, " +
                    $"acceptance {s.AcceptanceRate:P1}, {s.NumCorrections} corrections (+{s.NumContinuationTokens} LLM tokens after them), sent {s.BytesUp} B, received {s.BytesDown} B, " +
                    $"{s.TokensPerSecond:F1} tok/s, TTFT {s.TimeToFirstTokenMs:F0} ms[/]");
                if (s.NumByteCappedOffloads > 0) AnsiConsole.MarkupLine($"[grey]{s.NumByteCappedOffloads} flagged tokens stayed on the device (byte cap)[/]");
                if (s.CloudError is not null) AnsiConsole.MarkupLineInterpolated($"[yellow]the cloud failed a request, the SLM finished the answer: {s.CloudError}[/]");
                if (s.NumVerdictTimeouts > 0) AnsiConsole.MarkupLine($"[yellow]no verdict within the timeout, the SLM finished the answer[/]");
            }, (i, e) =>
            {
                if (midLine) Console.WriteLine();
                midLine = false;
                AnsiConsole.MarkupLineInterpolated($"[red]error[/] in answer {i + 1}: {e.Message} (the device goes on)");
            }, cancellation);
            if (recorder is not null)
            {
                await Task.Delay(200, CancellationToken.None);   // the last verdict deliveries end their activities
                Console.WriteLine(recorder.SpanTrace() ?? "no span reached the verifier (nothing was offloaded)");
                Console.Write(recorder.Meters());
            }
            if (failures > 0) AnsiConsole.MarkupLine($"[red]{failures} of the answers failed[/]");
            return failures > 0 ? 1 : 0;
        });
        return command;
    }
}

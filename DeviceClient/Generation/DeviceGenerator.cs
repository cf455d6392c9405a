using System.Threading.Channels;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.DeviceClient.Drafting;
using Synera.DeviceClient.Link;
using Synera.DeviceClient.Offloading;
using Synera.Tokenizer;

namespace Synera.DeviceClient.Generation;

/// <summary>The result of one generation: the committed text and what it cost.</summary>
public sealed record GenerationResult(string Text, IReadOnlyList<int> TokenIds, GenerationStats Stats);

/// <summary>
/// The device's entry point: owns the ONNX SLM and the Orleans client, opens a device session per request,
/// subscribes to its verdict stream, and runs the <see cref="GenerationLoop"/> in the chosen mode.
/// One request at a time per generator (the SLM and its KV cache are single-stream, as on a phone).
/// </summary>
/// <param name="deviceId">The device's stable id (its account follows it across restarts); null: a new anonymous device.</param>
public sealed class DeviceGenerator(IClusterClient client, OnnxDraftRunner runner, SyneraTokenizer tokenizer, string? deviceId = null,
    OffloadCalibration? calibration = null) : IDisposable
{
    private readonly string deviceId = ValidDeviceId(deviceId ?? $"device-{Guid.NewGuid():N}");

    private static string ValidDeviceId(string id) =>
        id.Length is > 0 and <= 128 && !id.Contains('/') ? id : throw new ArgumentException($"device id '{id}' must be 1–128 characters without '/'", nameof(deviceId));

    private readonly SemaphoreSlim gate = new(1, 1);
    private OffloadPolicy? devicePolicy;
    private RationedRoutingPolicy? routingPolicy;

    /// <summary>The device's id: its sessions are <c>{DeviceId}/{answer}</c> and its account lives in the device grain of that id.</summary>
    public string DeviceId => deviceId;

    /// <summary>The cluster this device talks to (its account and the verifiers' load can be read through it).</summary>
    public IClusterClient Cluster => client;

    /// <summary>The device's offloading policy for <c>synera</c> (null until its first synera answer).</summary>
    public OffloadPolicy? Policy => devicePolicy;

    /// <summary>
    /// The policy for a request. A budget belongs to the device, not to one answer: synera's account, threshold controller
    /// and confidence window carry over between answers, and the first synera answer picks them up from the device grain,
    /// so a restarted device continues its account. <c>route</c> keeps its own rationed policy; <c>slm</c>, <c>spec</c>
    /// and <c>oracle</c> use fixed ones.
    /// </summary>
    private async Task<IOffloadPolicy> PolicyForAsync(GenerationOptions options)
    {
        var budget = options.LoadAware ? options.Budget * LoadFactor : options.Budget;
        if (options.FixedThreshold is double threshold && options.Mode is GenerationMode.Synera or GenerationMode.Route)
            return new OffloadPolicy(options.Metric, 1) { FixedThreshold = threshold };
        switch (options.Mode)
        {
            case GenerationMode.Slm or GenerationMode.Llm:
                return new OffloadPolicy(options.Metric, 0);
            case GenerationMode.Spec or GenerationMode.Oracle:
                return new OffloadPolicy(options.Metric, 1);
            case GenerationMode.Route:
                if (routingPolicy is null || routingPolicy.Metric != options.Metric) routingPolicy = new RationedRoutingPolicy(options.Metric, budget);
                routingPolicy.Budget = budget;
                return routingPolicy;
        }
        if (devicePolicy is null || devicePolicy.Metric != options.Metric)
        {
            var account = await client.GetGrain<IDeviceGrain>(deviceId).GetAccountAsync();
            devicePolicy = new OffloadPolicy(options.Metric, budget, calibration, account);
        }
        devicePolicy.Budget = budget;
        return devicePolicy;
    }

    private ByteRateLimiter? byteLimiter;

    /// <summary>The device's bytes/s cap spans its requests too, so short answers cannot each start with a full burst.</summary>
    private ByteRateLimiter? ByteLimiterFor(GenerationOptions options)
    {
        if (options.Mode is not (GenerationMode.Synera or GenerationMode.Route)) return null;   // the baselines verify what they must
        var budget = new OffloadBudget(options.Budget, options.MaxBytesPerSecond);
        if (byteLimiterBudget != budget.MaxBytesPerSecond)
        {
            byteLimiter?.Dispose();
            byteLimiter = budget.CreateByteLimiter();
            byteLimiterBudget = budget.MaxBytesPerSecond;
        }
        return byteLimiter;
    }

    private double byteLimiterBudget;
    private double loadFactor = 1.0;

    /// <summary>The verifier's load factor as last advised (1 = no pressure).</summary>
    public double LoadFactor => Volatile.Read(ref loadFactor);

    public SyneraTokenizer Tokenizer => tokenizer;

    /// <summary>The token ids the models see for a chat prompt: BOS + the formatted user turn.</summary>
    public int[] PromptIds(string prompt) => tokenizer.EncodeChatPrompt(prompt);

    public Task<GenerationResult> GenerateAsync(string prompt, GenerationOptions options, Action<GeneratedToken>? onToken = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prompt);
        return GenerateAsync(PromptIds(prompt), options, onToken, cancellation);
    }

    /// <summary>Answers the conversation's last user turn, with every earlier turn (system, user, assistant) as context.</summary>
    public Task<GenerationResult> GenerateAsync(IReadOnlyList<ChatTurn> conversation, GenerationOptions options, Action<GeneratedToken>? onToken = null,
        CancellationToken cancellation = default) => GenerateAsync(tokenizer.EncodeChat(conversation), options, onToken, cancellation);

    /// <summary>The longest prompt (in tokens) that leaves room for at least one generated token.</summary>
    public int MaxPromptTokens => Math.Min(runner.MaxLength, Volatile.Read(ref cloudWindow)) - 2;
    private int cloudWindow = int.MaxValue;   // the verifier model's window, once a session has told us

    /// <summary>Answers a prompt already in token ids (BOS and the chat format included: <see cref="PromptIds"/>,
    /// <see cref="SyneraTokenizer.EncodeChat"/>).</summary>
    public async Task<GenerationResult> GenerateAsync(int[] promptIds, GenerationOptions options, Action<GeneratedToken>? onToken = null, CancellationToken cancellation = default)
    {
        if (promptIds.Length > MaxPromptTokens)
            throw new ContextLengthException($"the prompt is {promptIds.Length} tokens; the models' context window holds {MaxPromptTokens + 2}, so at most {MaxPromptTokens} can be prompt");
        if (options.MaxNewTokens <= 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxNewTokens must be positive");
        if (options.Budget is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(options), $"budget {options.Budget} is outside [0, 1]");
        if (options.MaxBytesPerSecond < 0 || double.IsNaN(options.MaxBytesPerSecond))
            throw new ArgumentOutOfRangeException(nameof(options), $"byte cap {options.MaxBytesPerSecond} B/s must be ≥ 0 (0 = none)");
        await gate.WaitAsync(cancellation);
        try
        {
            var result = await RunAsync(promptIds, options, onToken ?? (_ => { }), cancellation);
            DeviceMetrics.Record(result.Stats);
            return result;
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<GenerationResult> RunAsync(int[] promptIds, GenerationOptions options, Action<GeneratedToken> onToken, CancellationToken cancellation)
    {
        if (options.Conversation is { } name && (name.Length == 0 || name.Contains('/')))
            throw new ArgumentException($"conversation '{name}' must be a non-empty name without '/'", nameof(options));
        var sessionId = $"{deviceId}/{options.Conversation ?? Guid.NewGuid().ToString("N")}";
        bool keepOpen = options.Conversation is not null;
        var events = Channel.CreateUnbounded<DeviceEvent>();
        var link = new LinkEmulator<DeviceEvent>(options.Link, events.Writer);
        var session = client.GetGrain<ISessionGrain>(sessionId);
        StreamSubscriptionHandle<Verdict>? subscription = null;
        int epoch = 0, maxSpan = 64, maxSequence = runner.MaxLength;
        string? unreachable = null;
        try
        {
            if (options.Mode != GenerationMode.Slm) await OpenAsync();
        }
        catch (Exception e) when (options.Mode != GenerationMode.Llm && TransportFailures.IsTransient(e))
        {
            // The gateway's silo is stopping or gone (or the cluster does not answer): the device does not stall on the
            // cloud. This answer is the SLM's alone and says so; the next one tries the cloud again. llm mode has no
            // SLM answer to give, so it reports the failure.
            unreachable = $"the cloud could not be reached, the SLM answered alone: {e.Message}";
            if (subscription is not null)
                try { await subscription.UnsubscribeAsync().WaitAsync(CloseTimeout); } catch (Exception) { }
            subscription = null;
            // An open that timed out may still complete: tell the session it is over, without waiting on it.
            _ = Task.Run(async () => { try { await session.CloseAsync().WaitAsync(CloseTimeout); } catch (Exception) { } });
            options = options with { Mode = GenerationMode.Slm };
        }

        async Task OpenAsync()
        {
            var stream = client.GetStreamProvider(SyneraNames.StreamProvider).GetStream<Verdict>(StreamId.Create(SyneraNames.VerdictNamespace, sessionId));
            subscription = await SubscribeAsync(stream, (v, _) => { link.Downlink(new VerdictArrived(v), v.WireBytes); return Task.CompletedTask; }, options.StallTimeout, cancellation);
            await link.UplinkAsync(16 + 4 * promptIds.Length, cancellation);
            // spec and the oracle verify every token by design: their sessions run at budget 1.
            bool verifiesAll = options.Mode is GenerationMode.Spec or GenerationMode.Oracle || options.FixedThreshold is not null;
            var budget = verifiesAll ? OffloadBudget.Full : new OffloadBudget(options.Budget, options.MaxBytesPerSecond);
            // Bounded like the subscription: a session grain that cannot be reached in time leaves this answer to the SLM.
            var info = await session.OpenAsync(new SessionOptions(budget, options.LatencyTargetMs, options.Temperature, options.Seed, options.Tier, options.TopP, options.TopK, options.SamplingRule), promptIds)
                .WaitAsync(OpenTimeout(options), cancellation);
            epoch = info.Epoch; maxSpan = info.Model.MaxSpanTokens; maxSequence = info.Model.MaxSequenceLength;
            // A registered device's record caps its budget and uplink: plan with what the cloud granted, not what was asked.
            if (info.Granted is { } granted && !verifiesAll)
                options = options with { Budget = Math.Min(options.Budget, granted.Budget.TokenFraction), MaxBytesPerSecond = granted.Budget.MaxBytesPerSecond };
            Volatile.Write(ref cloudWindow, info.Model.MaxSequenceLength);
            if (options.LoadAware) Volatile.Write(ref loadFactor, info.LoadFactor);
            // The tokenizer is the contract between the two models: the same ids must mean the same text. Logit widths may
            // differ (padded rows); the vocabularies, merges and special tokens may not.
            if (info.Model.TokenizerFingerprint is { } cloudTokenizer ? cloudTokenizer != tokenizer.Fingerprint : info.Model.VocabSize != tokenizer.VocabSize)
                throw new InvalidOperationException($"the draft model ({runner.ModelPath}) and the cloud's model ({info.Model.ModelName}) do not share a tokenizer " +
                    $"(draft: {tokenizer.VocabSize} tokens, fingerprint {tokenizer.Fingerprint[..12]}; cloud: {info.Model.VocabSize} tokens, " +
                    $"fingerprint {info.Model.TokenizerFingerprint?[..12] ?? "none"}); pair a draft with a target of the same tokenizer");
        }
        GenerationResult result;
        try
        {
            result = await GenerateWithSessionAsync();
        }
        catch
        {
            await CloseQuietlyAsync();
            throw;
        }
        // The answer is the device's once generated: a cloud that cannot be told the session is over (it went
        // away) must not take it back, so closing is bounded and its failure is reported with the answer.
        if (unreachable is not null) return result with { Stats = result.Stats with { CloudError = unreachable } };
        var closeError = await CloseQuietlyAsync();
        return closeError is null || result.Stats.CloudError is not null ? result
            : result with { Stats = result.Stats with { CloudError = $"closing the session failed: {closeError}" } };

        async Task<string?> CloseQuietlyAsync()
        {
            try
            {
                var closing = Task.Run(async () =>
                {
                    if (subscription is not null) await subscription.UnsubscribeAsync();
                    // A conversation's session stays open: its next turn re-opens it and reuses the cloud's K/V.
                    if (options.Mode != GenerationMode.Slm && !keepOpen) await session.CloseAsync();
                });
                await closing.WaitAsync(CloseTimeout);
                return null;
            }
            catch (Exception e) { return e.Message; }
        }

        async Task<GenerationResult> GenerateWithSessionAsync()
        {
            if (options.Mode == GenerationMode.Llm)
                return await CloudGenerateAsync(session, sessionId, promptIds, epoch, maxSequence, options, events.Reader, link, onToken, cancellation);
            await using var sender = new SpanSender(session, link, events.Writer, cancellation);
            var reports = new ProgressReporter(session, options.LoadAware ? this : null);
            GenerationLoop? loop = null;
            loop = new GenerationLoop(runner, tokenizer, options with { MaxLookahead = Math.Min(options.MaxLookahead, maxSpan) },
                promptIds, epoch, maxSpan, maxSequence, sessionId, events.Reader, sender, onToken, await PolicyForAsync(options),
                options.DraftRunnerUp && options.Mode == GenerationMode.Synera ? branchRunner ??= runner.CreateSibling() : null)
            {
                ByteLimiter = ByteLimiterFor(options),
                OnProgress = reports.Reports(options.Mode) ? report => reports.Send(report, loop!.Policy) : null,
            };
            await loop.RunAsync(cancellation);
            // The answer is complete here; what follows is bookkeeping the user does not wait for, so it stays out of the
            // answer's time (TPOT, tokens/s).
            var stats = loop.Stats(link.BytesUp, link.BytesDown);
            if (reports.Reports(options.Mode)) await reports.FlushAsync(loop.TakeProgressReport(), loop.Policy, CloseTimeout);
            var output = loop.Output;
            return new GenerationResult(tokenizer.Decode(output), output, stats);
        }
    }

    /// <summary>Ends a conversation (<see cref="GenerationOptions.Conversation"/>): its cloud session and K/V are freed.</summary>
    public Task CloseConversationAsync(string conversation) =>
        client.GetGrain<ISessionGrain>($"{deviceId}/{conversation}").CloseAsync().WaitAsync(CloseTimeout);

    /// <summary>How long closing a session may take once the answer is done.</summary>
    public static TimeSpan CloseTimeout { get; } = TimeSpan.FromSeconds(5);

    /// <summary>Takes the load factor a session grain advised (load-aware offload control).</summary>
    internal void AdviseLoadFactor(double factor) => Volatile.Write(ref loadFactor, factor);

    /// <summary><c>llm</c> mode: the cloud generates with continuous batching; the device displays each token.</summary>
    private async Task<GenerationResult> CloudGenerateAsync(ISessionGrain session, string sessionId, int[] promptIds, int epoch, int maxSequence,
        GenerationOptions options, ChannelReader<DeviceEvent> events, LinkEmulator<DeviceEvent> link, Action<GeneratedToken> onToken, CancellationToken cancellation)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var maxNew = Math.Min(options.MaxNewTokens, maxSequence - promptIds.Length - 1);
        var request = new VerifyRequest(sessionId, 0, epoch, promptIds.Length, [], [], [], maxNew);
        await link.UplinkAsync(request.WireBytes, cancellation);
        var status = await session.VerifyAsync(request);
        if (status != EnqueueStatus.Queued) throw new InvalidOperationException($"the cloud did not accept the generation request ({status})");
        var output = new List<int>();
        var detokenizer = tokenizer.NewStream();
        var interToken = new List<double>();
        double first = -1, last = 0;
        while (true)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(options.VerdictTimeout);
            var e = await events.ReadAsync(timeout.Token);
            if (e is not VerdictArrived { Verdict: var v }) continue;
            if (v.Kind == VerdictKind.GenerationEnded || v.Kind == VerdictKind.Failed) break;
            if (v.Kind != VerdictKind.Generated) continue;
            output.Add(v.NextTokenId);
            var now = clock.Elapsed.TotalMilliseconds;
            if (first < 0) first = now; else interToken.Add(now - last);
            last = now;
            onToken(new GeneratedToken(v.NextTokenId, detokenizer.Add(v.NextTokenId), TokenOrigin.Cloud));
        }
        var stats = new GenerationStats
        {
            Mode = GenerationMode.Llm, PromptTokens = promptIds.Length, NumTokens = output.Count, NumGenerated = output.Count, NumRequests = 1, BytesUp = link.BytesUp, BytesDown = link.BytesDown,
            TimeToFirstTokenMs = Math.Max(0, first), TotalMs = clock.Elapsed.TotalMilliseconds, InterTokenMs = interToken,
        };
        return new GenerationResult(tokenizer.Decode(output), output, stats);
    }

    /// <summary>How long opening a session may take before the device answers with its SLM: a few stall timeouts, far
    /// under Orleans' 30 s response timeout, which a call to an unreachable (not yet dead) silo would otherwise wait out.</summary>
    private static TimeSpan OpenTimeout(GenerationOptions options) => 3 * options.StallTimeout;

    /// <summary>
    /// Subscribes to the session's verdict stream, each attempt bounded by <paramref name="attemptTimeout"/>, three attempts:
    /// a rendezvous call that hangs on an unreachable silo is abandoned and retried (the retry is routed again, to the live
    /// silos), and after the last the caller's SLM answers alone. An abandoned attempt that completes late is unsubscribed,
    /// so no verdict arrives twice.
    /// </summary>
    private static async Task<StreamSubscriptionHandle<Verdict>> SubscribeAsync(IAsyncStream<Verdict> stream, Func<Verdict, StreamSequenceToken?, Task> onVerdict,
        TimeSpan attemptTimeout, CancellationToken cancellation)
    {
        for (int attempt = 1; ; attempt++)
        {
            var subscribing = stream.SubscribeAsync(onVerdict);
            try
            {
                return await subscribing.WaitAsync(attemptTimeout, cancellation);
            }
            catch (TimeoutException)
            {
                _ = subscribing.ContinueWith(t => t.Result.UnsubscribeAsync(), TaskContinuationOptions.OnlyOnRanToCompletion);
                if (attempt == 3)
                    throw new TimeoutException($"subscribing to the session's verdicts did not complete in {attempt} attempts of {attemptTimeout.TotalSeconds:F1} s");
            }
        }
    }

    private OnnxDraftRunner? branchRunner;   // the runner-up branch's second SLM runner, made on first use

    public void Dispose()
    {
        branchRunner?.Dispose();
        gate.Dispose();
        byteLimiter?.Dispose();
    }
}

/// <summary>The prompt does not fit the model's context window.</summary>
public sealed class ContextLengthException(string message) : ArgumentException(message);

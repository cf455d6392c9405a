namespace Synera.Abstractions.Messages;

/// <summary>One span for a verifier's intake: the arguments of <see cref="IVerifierGrain.EnqueueAsync"/>, and the W3C
/// <c>traceparent</c> of the call that sent it when it is traced (a batch call carries one context; each span its own, so
/// the engine's <c>verify</c> joins the device's trace).</summary>
[GenerateSerializer, Immutable]
public sealed record IntakeRequest(
    [property: Id(0)] VerifyRequest Request,
    [property: Id(1)] SessionSetup? Setup,
    [property: Id(2)] string? VerdictRelay,
    [property: Id(3)] string? TraceParent = null);

/// <summary>What the intake did with one span: its status, or why the engine refused it (a malformed request; the session
/// grain raises it as a <see cref="SyneraRequestException"/>, as a direct call would have).</summary>
[GenerateSerializer, Immutable]
public sealed record IntakeResult([property: Id(0)] EnqueueStatus Status, [property: Id(1)] string? Refusal = null);

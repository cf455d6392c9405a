namespace Synera.Abstractions.Messages;

/// <summary>A verdict on its way through a <see cref="IVerdictRelayGrain"/>, with the trace it belongs to.</summary>
/// <param name="Verdict">The verdict for its session grain.</param>
/// <param name="TraceParent">The W3C <c>traceparent</c> of the verifier's delivery span when it is traced (the batch call
/// belongs to no single span), so the session grain's work joins the span's trace; null otherwise.</param>
[GenerateSerializer, Immutable]
public sealed record RelayedVerdict([property: Id(0)] Verdict Verdict, [property: Id(1)] string? TraceParent = null);

using System.Diagnostics;

namespace Synera.Grains.Verification;

/// <summary>
/// The verifier's traces (source <c>Synera.Verifier</c>). A span's trace runs device → session grain → verifier grain
/// (Orleans' own call activities) → <c>verify</c> (this engine step's work on the span, a child of the enqueue call) →
/// <c>verdict</c> (delivery to the session grain, whose stream publish follows).
/// </summary>
public static class VerifierTracing
{
    public const string SourceName = "Synera.Verifier";
    public static readonly ActivitySource Source = new(SourceName);
}

namespace Synera.Abstractions.Messages;

/// <summary>What a <see cref="Verdict"/> says.</summary>
[GenerateSerializer]
public enum VerdictKind
{
    /// <summary>The drafts were checked; see NumAccepted / CorrectionTokenId.</summary>
    Verified = 0,
    /// <summary>One token of cloud-side generation (<c>llm</c> mode).</summary>
    Generated = 1,
    /// <summary>The request was built on tokens an earlier rejection replaced; ignore it.</summary>
    Stale = 2,
    /// <summary>The verifier could not verify it (e.g. shut down); the device keeps its own tokens.</summary>
    Failed = 3,
    /// <summary>Cloud-side generation finished (max tokens or end of sequence).</summary>
    GenerationEnded = 4,
}

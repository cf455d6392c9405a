namespace Synera.DeviceClient.Generation;

/// <summary>What one generation cost and how it went.</summary>
public sealed record GenerationStats
{
    public GenerationMode Mode { get; init; }
    public int PromptTokens { get; init; }            // tokens of the formatted prompt (sent once, when the session opens)
    public int NumTokens { get; init; }               // committed output tokens (the end-of-sequence token excluded)
    public int NumGenerated { get; init; }            // committed tokens including the end-of-sequence token (the budget's denominator)
    public long NumDrafted { get; init; }             // device forward steps that proposed a token
    public long NumRunnerUpSteps { get; init; }       // forward steps spent on runner-up branches (each in a main step's batch of 2)
    public long NumRunnerUpHits { get; init; }        // corrections that were the flagged token's runner-up: the branch became the main path
    public long NumRunnerUpTokensAdopted { get; init; } // branch drafts that were ready when their correction arrived
    /// <summary>Corrections by the rank of the LLM's token in the draft's distribution: [0] the runner-up, [1] the third choice,
    /// …, the last bucket everything further down. What a tree of pre-drafted alternatives could have had ready.</summary>
    public IReadOnlyList<long> CorrectionRanks { get; init; } = new long[CorrectionRankBuckets];
    public const int CorrectionRankBuckets = 8;
    public long NumAbandonedSteps { get; init; }      // emulated device steps cut short because a correction made their token stale
    public long NumContinuationTokens { get; init; }  // the LLM's tokens that came with corrections (VerifyRequest.CorrectionLookahead)
    public long NumOffloaded { get; init; }           // output tokens the policy flagged for verification
    public long NumWastedOffloads { get; init; }      // flagged drafts later dropped by a rollback (sent, not in the output)
    public long NumRefusedOffloads { get; init; }     // flagged drafts the cloud refused (back-pressure, failover): kept as SLM output
    public int NumStallResyncs { get; init; }         // waits that asked the session grain to resynchronise (a verdict was lost)
    public int NumVerdictTimeouts { get; init; }      // waits for a verdict that gave up; the rest of that answer is the SLM's
    public long NumOverBudget { get; init; }          // drafts below the threshold that the long-run account had no credit for (kept as the SLM's)
    public long NumByteCappedOffloads { get; init; }  // tokens the policy flagged but the byte cap (bytes/s) kept on the device
    public string? CloudError { get; init; }          // a request the cloud refused or that failed; the rest of that answer is the SLM's
    public long NumJudged { get; init; }              // drafts the cloud judged (flagged + those riding in their spans)
    public long NumAccepted { get; init; }
    public long NumCorrections { get; init; }
    public long NumRequests { get; init; }
    public long BytesUp { get; init; }
    public long BytesDown { get; init; }
    public double TimeToFirstTokenMs { get; init; }
    public double TotalMs { get; init; }
    public IReadOnlyList<double> InterTokenMs { get; init; } = [];
    public IReadOnlyList<double> VerdictRoundTripMs { get; init; } = [];   // per verified span: sent → verdict applied on the device (RTT included)

    /// <summary>Committed tokens the cloud verified at the device's request, per committed token: what the budget caps.
    /// Flagged drafts that a rollback dropped before their verdict are not in it: the verifier drops their spans unrun
    /// (stale epoch), and both the device and the cloud return their charge.</summary>
    public double OffloadRatio => NumGenerated == 0 ? 0 : (double)NumOffloaded / NumGenerated;
    public double AcceptanceRate => NumJudged == 0 ? 1 : (double)NumAccepted / NumJudged;
    public double TokensPerSecond => TotalMs <= 0 ? 0 : NumTokens * 1000.0 / TotalMs;
    public double TimePerOutputTokenMs => NumTokens <= 1 ? TotalMs : (TotalMs - TimeToFirstTokenMs) / (NumTokens - 1);
    public double BytesPerToken => NumTokens == 0 ? 0 : (double)(BytesUp + BytesDown) / NumTokens;
}

/// <summary>One committed token as it reaches the caller, with where it came from.</summary>
/// <param name="TokenId">The token.</param>
/// <param name="Text">Its text (a detokenizer's piece: may be empty while a multi-byte character is incomplete).</param>
/// <param name="Origin">Who wrote it and who checked it.</param>
/// <param name="Confidence">The draft's probability of the token it drafted at this position (for a corrected token, of the
/// rejected draft: why it was sent); null for a token the device never drafted.</param>
/// <param name="Offloaded">The device sent this position to the cloud at its own request (charged to its budget).</param>
public sealed record GeneratedToken(int TokenId, string Text, TokenOrigin Origin, float? Confidence = null, bool Offloaded = false)
{
    /// <summary>The cloud checked or wrote this token.</summary>
    public bool Verified => Origin != TokenOrigin.Device;
}

/// <summary>Where a committed token came from.</summary>
public enum TokenOrigin
{
    /// <summary>Drafted by the device's SLM and committed without the cloud.</summary>
    Device,
    /// <summary>Drafted by the device and accepted by the cloud's LLM.</summary>
    Verified,
    /// <summary>The device's draft was rejected; this is the LLM's token in its place.</summary>
    Corrected,
    /// <summary>Written by the LLM where the device drafted nothing (the tokens after a correction, or llm mode).</summary>
    Cloud,
}

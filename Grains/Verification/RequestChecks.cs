using Synera.Abstractions.Messages;

namespace Synera.Grains.Verification;

/// <summary>
/// The checks of a verify request that need only the request and the model: shared by the session grain (which adds
/// the checks against the session's state) and the verification engine (which must not trust what reaches it).
/// Each returns what is wrong, or null.
/// </summary>
public static class RequestChecks
{
    public static string? Span(VerifyRequest r, VerifierModelInfo model)
    {
        if (r.ContextTokenIds is null || r.DraftTokenIds is null || r.DraftProbs is null) return "missing token arrays";
        if (r.MaxNewTokens < 0) return $"MaxNewTokens {r.MaxNewTokens} is negative";
        if (r.CorrectionLookahead is < 0 or > VerifyRequest.MaxCorrectionLookahead)
            return $"correction lookahead {r.CorrectionLookahead} is outside [0, {VerifyRequest.MaxCorrectionLookahead}]";
        if (r.StartPosition < 0) return $"start position {r.StartPosition} is negative";
        if (r.NumTokens > model.MaxSpanTokens) return $"span of {r.NumTokens} tokens exceeds the maximum of {model.MaxSpanTokens}";
        if ((Tokens(r.ContextTokenIds, model, "context") ?? Tokens(r.DraftTokenIds, model, "draft")) is { } bad) return bad;
        for (int i = 0; i < r.DraftProbs.Length; i++)
            if (!(r.DraftProbs[i] >= 0 && r.DraftProbs[i] <= 1)) return $"draft probability {r.DraftProbs[i]} at position {i} is not in [0, 1]";
        if (r.StartPosition + r.NumTokens + r.MaxNewTokens > model.MaxSequenceLength) return $"span would end past the model's {model.MaxSequenceLength}-token window";
        return null;
    }

    /// <summary>The first token id outside the model's vocabulary, described.</summary>
    public static string? Tokens(int[] ids, VerifierModelInfo model, string what)
    {
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)model.VocabSize) return $"{what} token id {ids[i]} at position {i} is outside the vocabulary [0, {model.VocabSize})";
        return null;
    }
}

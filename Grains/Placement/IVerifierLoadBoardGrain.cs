using Synera.Abstractions.Messages;

namespace Synera.Grains.Placement;

/// <summary>
/// The cluster's view of its verifier silos' load (key 0): each verifier silo reports its engine's load twice a second,
/// and the verifier placement director reads it to put a new session on the least-loaded verifier silo. Internal to the
/// cluster: silo-to-silo only.
/// </summary>
public interface IVerifierLoadBoardGrain : IGrainWithIntegerKey
{
    /// <summary>Called by a verifier silo's load publisher.</summary>
    Task ReportAsync(string silo, VerifierLoad load);

    /// <summary>The latest report of every verifier silo heard from in the last few seconds, by silo address.</summary>
    Task<Dictionary<string, VerifierLoad>> GetLoadsAsync();
}

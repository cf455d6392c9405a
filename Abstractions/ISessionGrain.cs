using Synera.Abstractions.Messages;

namespace Synera.Abstractions;

/// <summary>
/// One answer session (key: <c>{deviceId}/{answer}</c>). Owns the per-answer protocol state that must survive a device
/// reconnect or a silo loss: the committed tokens, epochs, spans in flight, and the session's verdict stream
/// <c>verdicts/{sessionId}</c>. The device's long-run budget account lives in its <see cref="IDeviceGrain"/>.
/// </summary>
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Opens (or re-opens) the session with the prompt tokens; returns what the device needs to draft.</summary>
    /// <remarks>Re-opening resets the committed tokens to <paramref name="promptTokenIds"/> and starts a new epoch.</remarks>
    Task<SessionInfo> OpenAsync(SessionOptions options, int[] promptTokenIds);

    /// <summary>
    /// Validates a verification request and hands it to the session's verifier. Returns once queued; the
    /// verdict arrives on the session's stream.
    /// </summary>
    /// <remarks>Throws <see cref="SyneraRequestException"/> for an unknown session or a malformed span;
    /// nothing committed changes then. An overloaded verifier answers <see cref="EnqueueStatus.Overloaded"/>, and a device
    /// past its long-run budget (<see cref="Messages.DeviceAccount.CloudAllowance"/>) or byte cap
    /// <see cref="EnqueueStatus.OverBudget"/>: the device carries on with its SLM.</remarks>
    Task<EnqueueStatus> VerifyAsync(VerifyRequest request);

    /// <summary>Relays the device's drafting progress to its device grain (the long-run account) and answers with the
    /// budget to aim for under the verifier's current load.</summary>
    Task<BudgetAdvice> ReportProgressAsync(ProgressReport report);

    /// <summary>Called by the verifier with a verdict; updates the committed tokens and publishes on the stream.</summary>
    [ClusterOnly]
    Task OnVerdictAsync(Verdict verdict);

    /// <summary>The session's current committed state.</summary>
    Task<SessionSnapshot> GetSnapshotAsync();

    /// <summary>
    /// Called by a device that waited too long for a verdict (a verdict or the stream carrying it was lost, e.g. with a
    /// silo): starts a new epoch at the committed tokens and returns them, so the device catches up on what it missed
    /// from the answer itself, not from the stream, and resends from there.
    /// </summary>
    Task<SessionSnapshot> ResyncAsync();

    /// <summary>Ends the session: the verifier frees its KV cache and the state is cleared.</summary>
    Task CloseAsync();
}

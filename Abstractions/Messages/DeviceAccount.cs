namespace Synera.Abstractions.Messages;

/// <summary>
/// A device's long-run offload account and policy state, kept by its device grain so that a restarted device (same id)
/// continues where it stopped rather than starting over with a fresh allowance.
/// </summary>
/// <param name="DeviceId">The device.</param>
/// <param name="Budget">The budget (offload fraction) the device last ran at.</param>
/// <param name="NumGenerated">Tokens the device has committed, over its whole life (the budget's denominator).</param>
/// <param name="NumOffloaded">Tokens it flagged and sent for verification (spans refused or voided by a rejection excluded).</param>
/// <param name="Credit">Offloads the account allows now (budget accrued per committed token, minus offloads, capped).</param>
/// <param name="TargetRatio">The offload ratio the slow threshold controller last steered to.</param>
/// <param name="Demand">Long-run fraction of committed tokens below the threshold.</param>
/// <param name="Threshold">The confidence threshold in use.</param>
/// <param name="RecentConfidences">The scores of the device's most recent committed tokens, oldest first (the threshold controller's history).</param>
/// <param name="NumCharged">Verification spans the cloud has charged to this device (its own count, which it enforces).</param>
[GenerateSerializer, Immutable]
public sealed record DeviceAccount(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] double Budget,
    [property: Id(2)] long NumGenerated,
    [property: Id(3)] long NumOffloaded,
    [property: Id(4)] double Credit,
    [property: Id(5)] double TargetRatio,
    [property: Id(6)] double Demand,
    [property: Id(7)] double Threshold,
    [property: Id(8)] float[] RecentConfidences,
    [property: Id(9)] long NumCharged)
{
    /// <summary>Offloads a fresh device may make before it has committed anything: an answer's first uncertain tokens.</summary>
    public const double InitialAllowance = 16;

    /// <summary>
    /// How far the cloud lets a device run past <c>budget × generated + </c><see cref="InitialAllowance"/> before it refuses
    /// spans (<see cref="EnqueueStatus.OverBudget"/>): progress reports trail the spans by up to
    /// <see cref="ReportLagTokens"/> committed tokens, and this many offloads more are tolerated on top.
    /// </summary>
    public const double ToleranceTokens = 4;

    /// <summary>Committed tokens a device's progress report may trail its spans by.</summary>
    public const int ReportLagTokens = 64;

    /// <summary>The most offloads the cloud allows a device that has reported <paramref name="numGenerated"/> tokens at
    /// <paramref name="budget"/>.</summary>
    public static double CloudAllowance(double budget, long numGenerated) =>
        budget >= 1 ? double.PositiveInfinity : budget * (numGenerated + ReportLagTokens) + InitialAllowance + ToleranceTokens;
}

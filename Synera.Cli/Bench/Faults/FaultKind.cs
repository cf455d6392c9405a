namespace Synera.Cli.Bench.Faults;

/// <summary>The faults <c>synera bench faults</c> injects, each mid-answer unless said otherwise.</summary>
public enum FaultKind
{
    /// <summary>SIGKILL of the verifier silo serving the answer.</summary>
    VerifierKill,
    /// <summary>The serving verifier's host cut off the network until membership has declared it dead, its process alive;
    /// then healed, so the old verifier comes back to a cluster that has moved on.</summary>
    VerifierPartition,
    /// <summary>SIGSTOP of the serving verifier for 20 s, then SIGCONT (a gray failure: frozen, connections open).</summary>
    VerifierPause,
    /// <summary>SIGKILL of the frontend silo holding the device's session grain; the device goes on through another gateway.</summary>
    FrontendKill,
    /// <summary>The store (membership, session and device state, stream subscriptions) killed and started again on its
    /// persisted data.</summary>
    StoreRestart,
    /// <summary>The store's host unreachable for 10 s.</summary>
    StoreOutage,
    /// <summary>The device's link to the cloud becomes a poor mobile one: delay, jitter and 3 % loss.</summary>
    Wan,
    /// <summary>Between two answers of the same device: every silo and the store stopped, then started again.</summary>
    FullRestart,
}

public static class FaultKinds
{
    /// <summary>The command-line name: verifier-kill, store-outage, …</summary>
    public static string Name(this FaultKind kind) => string.Concat(kind.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? $"-{char.ToLowerInvariant(c)}" : $"{char.ToLowerInvariant(c)}"));

    public static FaultKind Parse(string name)
    {
        foreach (var kind in Enum.GetValues<FaultKind>()) if (kind.Name() == name) return kind;
        throw new ArgumentException($"unknown fault '{name}': one of {string.Join(", ", Enum.GetValues<FaultKind>().Select(Name))}");
    }
}

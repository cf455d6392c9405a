namespace Synera.Grains.Options;

/// <summary>Who may talk to the cluster (section <c>Synera:Security</c>).</summary>
public sealed class SecurityOptions
{
    public const string Section = "Synera:Security";

    /// <summary>
    /// Refuse devices that do not present a registered id and key (<c>synera devices add</c>). Off for the embedded
    /// default and the developer cluster, where every device is trusted and may choose its own tier and budget.
    /// </summary>
    public bool RequireDeviceKeys { get; set; }

    /// <summary>The secret an operator's client presents to register or revoke devices from outside the cluster. Empty:
    /// only code running inside the cluster may.</summary>
    public string OperatorKey { get; set; } = "";

    /// <summary>How long a silo trusts the device record it read: a revoked key stops working within this time.</summary>
    public TimeSpan RecordCacheTime { get; set; } = TimeSpan.FromSeconds(10);
}

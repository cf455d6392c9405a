using System.Diagnostics;

namespace Synera.DeviceClient.Generation;

/// <summary>The device's traces (source <c>Synera.Device</c>): one <c>span</c> activity per verification request sent,
/// the root of that span's trace through the cluster.</summary>
public static class DeviceTracing
{
    public const string SourceName = "Synera.Device";
    public static readonly ActivitySource Source = new(SourceName);
}

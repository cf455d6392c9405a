using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Synera.Abstractions;

namespace Synera.Grains.Security;

/// <summary>
/// The trust boundary between devices and the cluster. Devices connect through the gateways as Orleans clients, and a
/// client may call any grain it can name; this silo-wide filter refuses a client's call to a method marked
/// <see cref="ClusterOnlyAttribute"/>. The caller is a device when the call's source is a client id (what a gateway
/// stamps on every call it forwards), unless it is the hosted client of a live silo of this cluster
/// (<c>sys.client/hosted-{silo}</c>: the verification engine delivering verdicts from its own thread). Calls from grains
/// pass. Limit: a client id is chosen by the client, so one that copies a live silo's hosted id passes; device keys
/// and TLS with client certificates are what authenticate a device.
/// </summary>
public sealed class ClusterOnlyCallFilter(ILogger<ClusterOnlyCallFilter> logger, IClusterMembershipService membership) : IIncomingGrainCallFilter
{
    private static readonly ConcurrentDictionary<MethodInfo, bool> Internal = new();

    public Task Invoke(IIncomingGrainCallContext context)
    {
        var method = context.InterfaceMethod;
        if (method is not null && Internal.GetOrAdd(method, m => m.GetCustomAttribute<ClusterOnlyAttribute>() is not null)
            && context.SourceId is { } source && IsClient(source))
        {
            logger.LogWarning("Refused {Interface}.{Method} from client {Client}: the method is internal to the cluster", context.InterfaceName, context.MethodName, source);
            throw new SyneraRequestException($"{context.InterfaceName}.{context.MethodName} is internal to the cluster: devices may not call it");
        }
        return context.Invoke();
    }

    /// <summary>Orleans names every client <c>sys.client/{id}</c>; a silo's own is <c>sys.client/hosted-{silo address}</c>.</summary>
    private bool IsClient(GrainId id)
    {
        if (id.Type.ToString() != ClientGrainType) return false;
        var key = id.Key.ToString();
        if (!key.StartsWith(HostedPrefix, StringComparison.Ordinal)) return true;
        try
        {
            var silo = SiloAddress.FromParsableString(key[HostedPrefix.Length..]);
            return !(membership.CurrentSnapshot.Members.TryGetValue(silo, out var member) && member.Status == SiloStatus.Active);
        }
        catch (FormatException) { return true; }
    }

    private const string ClientGrainType = "sys.client", HostedPrefix = "hosted-";
}

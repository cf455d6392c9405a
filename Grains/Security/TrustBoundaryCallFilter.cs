using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Streams;
using Synera.Abstractions;
using Synera.Grains.Options;

namespace Synera.Grains.Security;

/// <summary>
/// The trust boundary between devices and the cluster, one silo-wide incoming call filter. Devices connect through the
/// gateways as Orleans clients, and a client may call any grain it can name, so every client call is checked here:
/// <list type="bullet">
/// <item>a method marked <see cref="ClusterOnlyAttribute"/> refuses every client;</item>
/// <item>a method marked <see cref="OperatorOnlyAttribute"/> refuses every client but one presenting the operator key;</item>
/// <item>with <see cref="SecurityOptions.RequireDeviceKeys"/>, any other call needs a registered device id and its key
/// (<see cref="DeviceIdentity"/>), and a call that names a device (its device grain, one of its sessions, a session's
/// verdict stream) must name the caller's own.</item>
/// </list>
/// The caller is a client when the call's source is a client id (what a gateway stamps on every call it forwards),
/// unless it is the hosted client of a silo in the cluster, active or leaving gracefully (<c>sys.client/hosted-{silo}</c>:
/// the verification engine delivering verdicts from its own thread). Calls from grains pass. A client id is chosen by the client, so keys, and TLS on the
/// connections, are what authenticate a device: with keys required, a client copying a hosted id still needs a key.
/// </summary>
public sealed class TrustBoundaryCallFilter(
    ILogger<TrustBoundaryCallFilter> logger,
    IClusterMembershipService membership,
    IOptions<SecurityOptions> security,
    DeviceRecordCache records) : IIncomingGrainCallFilter
{
    private static readonly ConcurrentDictionary<MethodInfo, Access> Marks = new();

    private enum Access { Device, Cluster, Operator }

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.SourceId is { } source && IsOutsideCaller(source))
        {
            var access = context.InterfaceMethod is { } m ? Marks.GetOrAdd(m, Mark) : Access.Device;
            switch (access)
            {
                case Access.Cluster when DeclaredDead(source) is { } dead:
                    // A silo the cluster has declared dead (cut off or frozen, then back) is fenced: whatever it still
                    // sends, verdicts computed before it was replaced among them, is refused, so it cannot commit anything.
                    logger.LogWarning("Fenced {Interface}.{Method} from silo {Silo}: the cluster has declared it dead, nothing it sends is taken",
                        context.InterfaceName, context.MethodName, dead);
                    throw new SyneraRequestException($"{context.InterfaceName}.{context.MethodName} refused: silo {dead} has been declared dead");
                case Access.Cluster:
                    throw Refuse(context, source, "is internal to the cluster: devices may not call it");
                case Access.Operator:
                    var operatorKey = security.Value.OperatorKey;
                    if (operatorKey.Length == 0 || !DeviceIdentity.SecretEquals(RequestContext.Get(DeviceIdentity.OperatorKeyEntry) as string, operatorKey))
                        throw Refuse(context, source, "needs the cluster's operator key (Synera:Security:OperatorKey)");
                    break;
                case Access.Device when security.Value.RequireDeviceKeys && IsDeviceFacing(context):
                    await AuthenticateDeviceAsync(context, source);
                    break;
            }
        }
        await context.Invoke();
    }

    private async Task AuthenticateDeviceAsync(IIncomingGrainCallContext context, GrainId source)
    {
        var deviceId = RequestContext.Get(DeviceIdentity.DeviceIdEntry) as string;
        var key = RequestContext.Get(DeviceIdentity.DeviceKeyEntry) as string;
        if (string.IsNullOrEmpty(deviceId) || string.IsNullOrEmpty(key))
            throw Refuse(context, source, "needs a device id and key: this cluster requires registered devices (synera devices add ID; --device-id/--device-key)");
        var record = await records.GetAsync(deviceId);
        if (record is null || !DeviceIdentity.Matches(key, record.KeyHash))
            throw Refuse(context, source, $"was refused: device '{deviceId}' is not registered or its key is wrong");
        if (NamedDevice(context) is { } target && target != deviceId)
            throw Refuse(context, source, $"was refused: device '{deviceId}' may not act for device '{target}'");
    }

    /// <summary>The device a call acts for: the device grain's key, a session's <c>{deviceId}/…</c> key, or the session
    /// of a verdict stream a subscription names. Null for calls that name no device (the verifier's model facts).</summary>
    private static string? NamedDevice(IIncomingGrainCallContext context)
    {
        switch (context.Grain)
        {
            case IDeviceGrain: return context.TargetId.Key.ToString();
            case ISessionGrain: return DeviceIdentity.DeviceOfSession(context.TargetId.Key.ToString()!);
        }
        // Stream subscriptions: the pub-sub grain's methods carry the stream's id.
        if (StreamOf(context) is { } stream)
            return stream.GetNamespace() == SyneraNames.VerdictNamespace ? DeviceIdentity.DeviceOfSession(stream.GetKeyAsString()) : "(a stream devices may not use)";
        return null;
    }

    /// <summary>Synera's own grains and stream subscriptions. Orleans' system grains (membership, directory) pass: the
    /// silo's own hosted client calls them while it starts, before membership lists it as live.</summary>
    private static bool IsDeviceFacing(IIncomingGrainCallContext context) =>
        context.InterfaceMethod?.DeclaringType?.Assembly == typeof(ISessionGrain).Assembly || StreamOf(context) is not null;

    private static StreamId? StreamOf(IIncomingGrainCallContext context)
    {
        for (int i = 0; i < context.Request.GetArgumentCount(); i++)
            if (context.Request.GetArgument(i) switch { QualifiedStreamId q => q.StreamId, StreamId s => s, _ => (StreamId?)null } is { } id) return id;
        return null;
    }

    private static Access Mark(MethodInfo method) =>
        method.GetCustomAttribute<ClusterOnlyAttribute>() is not null ? Access.Cluster
        : method.GetCustomAttribute<OperatorOnlyAttribute>() is not null ? Access.Operator
        : Access.Device;

    private SyneraRequestException Refuse(IIncomingGrainCallContext context, GrainId source, string why)
    {
        logger.LogWarning("Refused {Interface}.{Method} from client {Client}: {Why}", context.InterfaceName, context.MethodName, source, why);
        return new SyneraRequestException($"{context.InterfaceName}.{context.MethodName} {why}");
    }

    /// <summary>Orleans names every client <c>sys.client/{id}</c>; a silo's own is <c>sys.client/hosted-{silo address}</c>.</summary>
    private bool IsOutsideCaller(GrainId id)
    {
        if (!GrainTypePrefix.IsClient(id)) return false;
        if (!id.Key.AsSpan().StartsWith(HostedPrefix)) return true;
        // Every verdict comes from a verifier silo's hosted client: its address is parsed once, not on every call. Only
        // silos membership knows are kept (a client may name itself anything).
        if (!HostedSilos.TryGetValue(id, out var silo))
        {
            try { silo = SiloAddress.FromParsableString(id.Key.ToString()![HostedPrefix.Length..]); }
            catch (FormatException) { return true; }
            if (membership.CurrentSnapshot.Members.ContainsKey(silo)) HostedSilos.TryAdd(id, silo);
        }
        // A silo leaving gracefully is still one of ours: its engine delivers the verdicts it computed before it stopped.
        return !(membership.CurrentSnapshot.Members.TryGetValue(silo, out var member)
                 && member.Status is SiloStatus.Active or SiloStatus.ShuttingDown or SiloStatus.Stopping);
    }

    /// <summary>The silo whose hosted client <paramref name="id"/> is, when membership has declared that silo dead.</summary>
    private SiloAddress? DeclaredDead(GrainId id) =>
        HostedSilos.TryGetValue(id, out var silo) && membership.CurrentSnapshot.Members.TryGetValue(silo, out var member) && member.Status == SiloStatus.Dead ? silo : null;

    private static readonly ConcurrentDictionary<GrainId, SiloAddress> HostedSilos = new();

    private static ReadOnlySpan<byte> HostedPrefix => "hosted-"u8;   // keys are UTF-8; ASCII, so its length in chars too
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Synera.Abstractions;
using Synera.Abstractions.Messages;
using Synera.Grains.Options;

namespace Synera.Grains.Security;

/// <summary>
/// This silo's copy of device records, so that authenticating a call does not cost a grain call each time. An entry is
/// trusted for <see cref="SecurityOptions.RecordCacheTime"/>: a revoked or re-keyed device is refused within it.
/// </summary>
public sealed class DeviceRecordCache(IGrainFactory grains, IOptions<SecurityOptions> options)
{
    private readonly ConcurrentDictionary<string, (DeviceRecord? record, long readAt)> entries = new();

    public async ValueTask<DeviceRecord?> GetAsync(string deviceId)
    {
        if (entries.TryGetValue(deviceId, out var entry) && Stopwatch.GetElapsedTime(entry.readAt) < options.Value.RecordCacheTime)
            return entry.record;
        if (DeviceIdentity.ProblemWithId(deviceId) is not null) return null;
        var record = await grains.GetGrain<IDeviceRecordGrain>(deviceId).GetAsync();
        if (entries.Count > MaxEntries) entries.Clear();   // bounded: a flood of made-up ids must not grow it
        entries[deviceId] = (record, Stopwatch.GetTimestamp());
        return record;
    }

    private const int MaxEntries = 100_000;
}

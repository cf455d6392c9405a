using System.Collections.Concurrent;
using Synera.Abstractions;
using Synera.Abstractions.Messages;

namespace Synera.Grains;

/// <summary>
/// On the silos that host session grains: sends their spans to the verifier silos' intakes, each span batched with the
/// others bound for the same silo at the time (<see cref="CallBatcher{TItem,TResult}"/>).
/// </summary>
public sealed class VerifierIntakeClient(IGrainFactory grainFactory)
{
    private readonly ConcurrentDictionary<string, CallBatcher<IntakeRequest, IntakeResult>> intakes = new();   // intake key → its batcher

    /// <summary>As <see cref="IVerifierGrain.EnqueueAsync"/>, through the intake <paramref name="intakeKey"/>.</summary>
    /// <exception cref="SyneraRequestException">The engine refused the request.</exception>
    public async Task<EnqueueStatus> EnqueueAsync(string intakeKey, VerifyRequest request, SessionSetup? setup, string verdictRelay)
    {
        var batcher = intakes.GetOrAdd(intakeKey, static (key, factory) =>
        {
            var intake = factory.GetGrain<IVerifierIntakeGrain>(key);
            return new CallBatcher<IntakeRequest, IntakeResult>(intake.EnqueueAsync);
        }, grainFactory);
        var pending = batcher.Add(new IntakeRequest(request, setup, verdictRelay, System.Diagnostics.Activity.Current?.Id));
        batcher.SendSoon();
        var result = await pending;
        return result.Refusal is { } refusal ? throw new SyneraRequestException(refusal) : result.Status;
    }

    /// <summary>Intake calls sent and the spans they carried, since the silo started (tests).</summary>
    public (long Calls, long Spans) Sent => CallBatcher<IntakeRequest, IntakeResult>.Total(intakes.Values);
}

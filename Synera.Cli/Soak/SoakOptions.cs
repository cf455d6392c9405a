namespace Synera.Cli.Soak;

/// <summary>How a soak runs: how many simulated devices, for how long, and the mix of behaviours among them.</summary>
/// <param name="Devices">Simulated devices, all at once.</param>
/// <param name="Minutes">How long devices keep starting answers; then each finishes its current one and the run stops.</param>
/// <param name="ThinkMs">Mean pause between a device's spans (the SLM drafting on its own meanwhile, or its user reading);
/// jittered ±50 %. The cluster sees devices / think spans per second: the default, 20 s, gives 50 spans/s for 1,000
/// devices, what one verifier on 2 CPU cores serves within its latency target.</param>
/// <param name="DisconnectFraction">Devices that now and then drop their verdict stream with a span in flight, stay away
/// 1–4 s, come back, and catch up from their session grain (<c>ResyncAsync</c>).</param>
/// <param name="GarbageFraction">Devices that now and then send garbage: out-of-vocabulary ids, replayed sequence numbers,
/// oversized drafts, forged verdicts, unknown sessions, a NaN latency target.</param>
/// <param name="SpansPerAnswer">Spans a device sends per answer before it closes the session and opens the next.</param>
/// <param name="Seed">Seeds every device's choices.</param>
public sealed record SoakOptions(
    int Devices,
    double Minutes,
    double ThinkMs = 20_000,
    double DisconnectFraction = 0.1,
    double GarbageFraction = 0.02,
    int SpansPerAnswer = 10,
    int Seed = 1)
{
    /// <summary>The budgets devices cycle through: every long-run budget the paper's evaluation uses, and full verification.</summary>
    public static readonly double[] Budgets = [0.05, 0.1, 0.2, 1.0];

    public string? Problem() =>
        Devices <= 0 ? "--devices must be positive"
        : !(Minutes > 0) || Minutes > 24 * 60 ? "--minutes must be in (0, 1440]"
        : !(ThinkMs >= 0) ? "--think-ms must be ≥ 0"
        : DisconnectFraction is < 0 or > 1 || GarbageFraction is < 0 or > 1 ? "fractions must be in [0, 1]"
        : SpansPerAnswer <= 0 ? "--spans-per-answer must be positive"
        : null;
}

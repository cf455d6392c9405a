namespace Synera.Grains.Hosting;

/// <summary>What a silo does. Every silo hosts device sessions; only verifier silos run the LLM.</summary>
public enum SiloRole
{
    /// <summary>Hosts session grains and a verification engine (a GPU silo in production).</summary>
    Verifier,
    /// <summary>Hosts session grains and client gateways only; verifier grains never activate here.</summary>
    Frontend,
}

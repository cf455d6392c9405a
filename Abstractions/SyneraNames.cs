namespace Synera.Abstractions;

/// <summary>Names that silos, clients and the AppHost must agree on; kept in one place so they cannot drift.</summary>
public static class SyneraNames
{
    /// <summary>The Orleans stream provider that carries verdicts back to device clients.</summary>
    public const string StreamProvider = "synera";

    /// <summary>Stream namespace of a session's verdicts: <c>verdicts/{sessionId}</c>.</summary>
    public const string VerdictNamespace = "verdicts";

    /// <summary>Grain storage for device session state.</summary>
    public const string SessionStorage = "sessions";

    /// <summary>Grain storage the memory stream provider keeps its subscriptions in.</summary>
    public const string PubSubStorage = "PubSubStore";
}

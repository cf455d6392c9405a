namespace Synera.Abstractions;

/// <summary>A request the cloud refuses because it is malformed or names an unknown session. Nothing
/// committed changes when it is thrown; the message says what was wrong.</summary>
[GenerateSerializer]
public sealed class SyneraRequestException : Exception
{
    public SyneraRequestException(string message) : base(message) { }
}

namespace Synera.Abstractions;

/// <summary>The cluster has no verifier silo: none has joined yet (a cluster still starting) or every one has left. A
/// transport-like failure, not a refusal of the request: the device answers with its SLM and asks the cloud again on its
/// next answer, by which time a verifier silo may have joined.</summary>
[GenerateSerializer]
public sealed class NoVerifierException : Exception
{
    public NoVerifierException(string message) : base(message) { }
}

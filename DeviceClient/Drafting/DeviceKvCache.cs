namespace Synera.DeviceClient.Drafting;

/// <summary>
/// The SLM's KV cache on the device, in the ONNX layout (1, nkv, L, hs) per layer for K and V, packed at the
/// start of preallocated buffers of capacity <c>MaxLength</c> (llama2.c's RunState, with a length).
/// Two buffer sets alternate: one holds the past fed to ONNX Runtime, the other receives the present.
/// Rollback (<see cref="Truncate"/>) repacks in place; nothing is recomputed and nothing is allocated. Elements are
/// the graph's K/V type: <c>float</c>, or ONNX Runtime's <c>Float16</c> for a half-precision export.
/// </summary>
public sealed class DeviceKvCache
{
    private Array[] past;      // [2 * layer + (0 = key, 1 = value)] → nkv * MaxLength * hs elements
    private Array[] present;

    public DeviceKvCache(int numLayers, int numKvHeads, int headDim, int maxLength, Type? elementType = null)
    {
        NumLayers = numLayers; NumKvHeads = numKvHeads; HeadDim = headDim; MaxLength = maxLength;
        ElementType = elementType ?? typeof(float);
        past = Enumerable.Range(0, 2 * numLayers).Select(_ => Array.CreateInstance(ElementType, numKvHeads * maxLength * headDim)).ToArray();
        present = Enumerable.Range(0, 2 * numLayers).Select(_ => Array.CreateInstance(ElementType, numKvHeads * maxLength * headDim)).ToArray();
    }

    public Type ElementType { get; }

    public int NumLayers { get; }
    public int NumKvHeads { get; }
    public int HeadDim { get; }
    public int MaxLength { get; }

    /// <summary>Positions cached.</summary>
    public int Length { get; private set; }

    /// <summary>The buffer holding layer <paramref name="layer"/>'s past K (value = false) or V, packed (nkv, Length, hs).</summary>
    public Array Past(int layer, bool value) => past[2 * layer + (value ? 1 : 0)];

    /// <summary>The buffer that receives the present K or V, packed (nkv, Length + T, hs).</summary>
    public Array Present(int layer, bool value) => present[2 * layer + (value ? 1 : 0)];

    /// <summary>After a run over <paramref name="numNew"/> tokens: the present becomes the past.</summary>
    public void Advance(int numNew)
    {
        (past, present) = (present, past);
        Length += numNew;
    }

    /// <summary>Keeps the first <paramref name="length"/> positions: per head, move its first rows down.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length), $"cannot truncate a cache of {Length} positions to {length}");
        if (length == Length) return;
        foreach (var buffer in past)
            for (int h = 1; h < NumKvHeads; h++)   // head 0 is already in place
                Array.Copy(buffer, h * Length * HeadDim, buffer, h * length * HeadDim, length * HeadDim);
        Length = length;
    }

    public void Clear() => Length = 0;

    /// <summary>Becomes a copy of <paramref name="other"/>'s first <paramref name="length"/> positions (same shape).</summary>
    public void CopyFrom(DeviceKvCache other, int length)
    {
        if (other.NumLayers != NumLayers || other.NumKvHeads != NumKvHeads || other.HeadDim != HeadDim || other.MaxLength != MaxLength || other.ElementType != ElementType)
            throw new ArgumentException("caches of different shapes", nameof(other));
        if (length < 0 || length > other.Length) throw new ArgumentOutOfRangeException(nameof(length));
        for (int k = 0; k < past.Length; k++)
            for (int h = 0; h < NumKvHeads; h++)
                Array.Copy(other.past[k], h * other.Length * HeadDim, past[k], h * length * HeadDim, length * HeadDim);
        Length = length;
    }
}

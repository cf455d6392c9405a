using static TorchSharp.torch;

namespace Synera.Models;

/// <summary>
/// Additive attention masks (0 = attend, <see cref="Blocked"/> = not) for the decoder. A large finite
/// negative instead of −∞ keeps fully padded rows finite (they are ignored, but must not become NaN).
/// </summary>
public static class AttentionMasks
{
    public const float Blocked = -1e9f;

    /// <summary>Mask (1, 1, T, P + T) for T new tokens after P cached ones: query i sees keys j ≤ P + i.</summary>
    public static Tensor Causal(long numNew, long numPast, Device? device = null) =>
        Aligned([(int)numPast], (int)numNew, (int)(numPast + numNew), device);

    /// <summary>
    /// Mask (B, 1, Tmax, S) for a batch whose row b attends over its own positions 0..S−1 (cache and new tokens
    /// in place, as the verifier's slot pools hold them): row b has <paramref name="pastLengths"/>[b] cached
    /// tokens, and its query i (at position P_b + i) sees keys j ≤ P_b + i. Padded queries see the same rule
    /// (clipped to S) so that no row is fully blocked; their outputs are ignored.
    /// </summary>
    public static Tensor Aligned(IReadOnlyList<int> pastLengths, int maxNew, int attendLength, Device? device = null)
    {
        int B = pastLengths.Count, S = attendLength;
        var data = new float[B * maxNew * S];
        for (int b = 0; b < B; b++)
            for (int i = 0; i < maxNew; i++)
            {
                int row = (b * maxNew + i) * S;
                for (int j = pastLengths[b] + i + 1; j < S; j++) data[row + j] = Blocked;
            }
        return tensor(data, [B, 1, maxNew, S], device: device);
    }
}

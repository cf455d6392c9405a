using static TorchSharp.torch;

namespace Synera.Tests;

/// <summary>Proves the build's libstdc++ fix: TorchSharp's native library loads and computes.</summary>
public class TorchSharpNativeTests
{
    [Fact]
    public void MatrixProductRunsInLibTorch()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        using var b = a.matmul(a);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, b.data<float>().ToArray());
    }
}

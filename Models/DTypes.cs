using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Models;

/// <summary>The weight dtypes a model runs in, by the names operators type (<c>--dtype</c>) and configs write.</summary>
public static class DTypes
{
    public static int ElementSize(this ScalarType type) => type switch
    {
        ScalarType.Float32 => 4,
        ScalarType.BFloat16 or ScalarType.Float16 => 2,
        _ => throw new ArgumentException($"dtype {type} is not a model dtype here (float32, bfloat16, float16)"),
    };

    /// <summary>float32/fp32, bfloat16/bf16, float16/fp16/half; <c>auto</c> is bf16 on CUDA (or the checkpoint's float16)
    /// and float32 on CPU, where libtorch's bf16 matmuls are slower than float32 ones.</summary>
    public static ScalarType Resolve(string name, Device device, string checkpointDtype = "float32") => name.ToLowerInvariant() switch
    {
        "auto" => device.type == DeviceType.CPU ? ScalarType.Float32 : checkpointDtype == "float16" ? ScalarType.Float16 : ScalarType.BFloat16,
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "fp16" or "half" => device.type == DeviceType.CPU
            ? throw new ArgumentException("dtype float16 runs on CUDA only; on a CPU use float32 or bfloat16")
            : ScalarType.Float16,
        _ => throw new ArgumentException($"dtype '{name}' is not one of auto, float32, bfloat16, float16"),
    };

    /// <summary>A stored dtype by name (float32, bfloat16, float16), wherever it will run.</summary>
    public static ScalarType Parse(string name) => name.ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "fp16" or "half" => ScalarType.Float16,
        _ => throw new ArgumentException($"dtype '{name}' is not one of float32, bfloat16, float16"),
    };

    /// <summary>The name configs and benchmark files use.</summary>
    public static string Name(this ScalarType type) => type switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => type.ToString(),
    };
}

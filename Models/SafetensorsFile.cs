using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Models;

/// <summary>One tensor of a safetensors file, widened to float32.</summary>
public sealed record NamedTensor(string Name, long[] Shape, float[] Data)
{
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Where one tensor lies in a safetensors file: dtype, shape and its bytes' absolute offsets.</summary>
public sealed record SafetensorsEntry(string File, string Name, string Dtype, long[] Shape, long Begin, long End)
{
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
    public int ElementSize => SafetensorsFile.ElementSize(Dtype);
}

/// <summary>
/// Reads and writes the Hugging Face safetensors format: an 8-byte little-endian header length, a JSON
/// header mapping each name to {dtype, shape, data_offsets}, then the raw little-endian data. Reading goes tensor by
/// tensor and chunk by chunk with 64-bit offsets (files past 2 GiB, sharded checkpoints of several), straight into a
/// destination tensor of any dtype, so a model's weights are never held twice. F32, F16 and BF16 are read and written.
/// </summary>
public static class SafetensorsFile
{
    private const int ChunkElements = 1 << 22;     // 4M elements (16 MiB of float32) per read
    private const long MaxHeaderBytes = 100L << 20;

    public static int ElementSize(string dtype) => dtype switch
    {
        "F32" => 4,
        "F16" or "BF16" => 2,
        _ => throw new InvalidDataException($"dtype {dtype} is not supported (F32, F16, BF16)"),
    };

    /// <summary>The safetensors dtype name of a torch dtype.</summary>
    public static string DtypeName(ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        _ => throw new ArgumentException($"dtype {type} cannot be written to safetensors here"),
    };

    /// <summary>The tensors of one file, from its header alone (no data is read).</summary>
    public static List<SafetensorsEntry> ReadHeader(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"weights not found: {path}", path);
        using var stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.Read(lengthBytes) != 8) throw new InvalidDataException($"{path}: too short for a safetensors file");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)Math.Min(stream.Length - 8, MaxHeaderBytes)) throw new InvalidDataException($"{path}: header length {headerLength} exceeds the file");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var header = JsonNode.Parse(headerBytes)?.AsObject() ?? throw new InvalidDataException($"{path}: header is not a JSON object");
        long dataStart = 8 + (long)headerLength;
        var entries = new List<SafetensorsEntry>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__" || node is null) continue;
            var dtype = node["dtype"]!.GetValue<string>();
            var shape = node["shape"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray();
            var offsets = node["data_offsets"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray();
            if (dtype is not ("F32" or "F16" or "BF16")) throw new InvalidDataException($"{path}: tensor '{name}' has unsupported dtype {dtype}");
            var entry = new SafetensorsEntry(path, name, dtype, shape, dataStart + offsets[0], dataStart + offsets[1]);
            if (offsets[1] - offsets[0] != entry.NumElements * entry.ElementSize || entry.End > stream.Length)
                throw new InvalidDataException($"{path}: tensor '{name}' data_offsets do not match its shape [{string.Join(", ", shape)}]");
            entries.Add(entry);
        }
        return entries;
    }

    /// <summary>Copies a stored tensor into <paramref name="destination"/> (same number of elements, any dtype and
    /// device), a chunk at a time: only one chunk is ever held as float32 on the host.</summary>
    public static void CopyInto(SafetensorsEntry entry, Tensor destination)
    {
        if (destination.numel() != entry.NumElements) throw new ArgumentException($"'{entry.Name}': {entry.NumElements} stored elements, destination has {destination.numel()}");
        using var _ = no_grad();
        using var file = File.OpenHandle(entry.File);
        var flat = destination.view(-1);
        int width = entry.ElementSize;
        var bytes = new byte[(long)Math.Min(ChunkElements, entry.NumElements) * width];
        var floats = new float[Math.Min(ChunkElements, entry.NumElements)];
        for (long start = 0; start < entry.NumElements; start += ChunkElements)
        {
            int count = (int)Math.Min(ChunkElements, entry.NumElements - start);
            var span = bytes.AsSpan(0, count * width);
            RandomAccess.Read(file, span, entry.Begin + start * width);
            Widen(entry.Dtype, span, floats.AsSpan(0, count));
            using var source = torch.frombuffer(floats, ScalarType.Float32, count);
            using var target = flat.narrow(0, start, count);
            target.copy_(source);
        }
    }

    private static void Widen(string dtype, ReadOnlySpan<byte> bytes, Span<float> floats)
    {
        switch (dtype)
        {
            case "F32":
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(floats);
                break;
            case "F16":
                var halves = MemoryMarshal.Cast<byte, Half>(bytes);
                for (int i = 0; i < floats.Length; i++) floats[i] = (float)halves[i];
                break;
            default:   // BF16: the upper half of a float32
                var raw = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (int i = 0; i < floats.Length; i++) floats[i] = BitConverter.Int32BitsToSingle(raw[i] << 16);
                break;
        }
    }

    /// <summary>float32 → the stored dtype, rounding to nearest even as torch's own conversions do.</summary>
    private static void Narrow(ScalarType dtype, ReadOnlySpan<float> floats, Span<byte> bytes)
    {
        switch (dtype)
        {
            case ScalarType.Float32:
                MemoryMarshal.AsBytes(floats).CopyTo(bytes);
                break;
            case ScalarType.Float16:
                var halves = MemoryMarshal.Cast<byte, Half>(bytes);
                for (int i = 0; i < floats.Length; i++) halves[i] = (Half)floats[i];
                break;
            default:   // BF16: the upper half of the float32, rounded; NaN stays a quiet NaN
                var raw = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (int i = 0; i < floats.Length; i++)
                {
                    uint bits = BitConverter.SingleToUInt32Bits(floats[i]);
                    raw[i] = float.IsNaN(floats[i]) ? (ushort)0x7FC0 : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
                }
                break;
        }
    }

    /// <summary>Every tensor of a (small) file as float32 arrays.</summary>
    public static Dictionary<string, NamedTensor> Read(string path)
    {
        var result = new Dictionary<string, NamedTensor>();
        foreach (var e in ReadHeader(path))
        {
            var data = new float[e.NumElements];
            using var t = torch.frombuffer(data, ScalarType.Float32, data.Length);
            CopyInto(e, t);
            result[e.Name] = new NamedTensor(e.Name, e.Shape, data);
        }
        return result;
    }

    /// <summary>Writes tensors in name order as F32 or F16.</summary>
    public static void Write(string path, IEnumerable<NamedTensor> tensors, bool float16, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var dtype = float16 ? ScalarType.Float16 : ScalarType.Float32;
        var torchTensors = list.Select(t => (t.Name, Tensor: torch.frombuffer(t.Data, ScalarType.Float32, t.Data.Length).view(t.Shape))).ToList();
        try { Write(path, torchTensors, dtype, metadata); }
        finally { foreach (var (_, t) in torchTensors) t.Dispose(); }
    }

    /// <summary>Writes torch tensors (any device and dtype) converted to <paramref name="dtype"/>, in the given order,
    /// one tensor at a time.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors, ScalarType dtype, IReadOnlyDictionary<string, string>? metadata = null)
    {
        int width = ElementSize(DtypeName(dtype));
        var header = new JsonObject();
        if (metadata is not null)
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));
        long offset = 0;
        foreach (var (name, t) in tensors)
        {
            var size = t.numel() * width;
            header[name] = new JsonObject
            {
                ["dtype"] = DtypeName(dtype),
                ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + size),
            };
            offset += size;
        }
        var headerBytes = JsonSerializer.SerializeToUtf8Bytes(header);
        var padded = (headerBytes.Length + 7) / 8 * 8;   // keep the data 8-byte aligned, padding with spaces
        using var stream = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
        stream.Write(len);
        stream.Write(headerBytes);
        for (int i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
        using var _ = no_grad();
        foreach (var (_, t) in tensors)
        {
            using var flat = t.detach().to(CPU).to_type(ScalarType.Float32).contiguous().view(-1);
            var buffer = new byte[Math.Min(flat.numel(), ChunkElements) * width];
            for (long start = 0; start < flat.numel(); start += ChunkElements)
            {
                int count = (int)Math.Min(ChunkElements, flat.numel() - start);
                using var chunk = flat.narrow(0, start, count);
                Narrow(dtype, chunk.data<float>().ToArray(), buffer.AsSpan(0, count * width));
                stream.Write(buffer, 0, count * width);
            }
        }
    }
}

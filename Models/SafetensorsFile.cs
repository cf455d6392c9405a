using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Synera.Models;

/// <summary>One tensor of a safetensors file, widened to float32.</summary>
public sealed record NamedTensor(string Name, long[] Shape, float[] Data)
{
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reads and writes the Hugging Face safetensors format: an 8-byte little-endian header length, a JSON
/// header mapping each name to {dtype, shape, data_offsets}, then the raw little-endian data.
/// F32, F16 and BF16 are read; F32 and F16 are written.
/// </summary>
public static class SafetensorsFile
{
    public static Dictionary<string, NamedTensor> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"weights not found: {path}", path);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new InvalidDataException($"{path}: too short for a safetensors file");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8)) throw new InvalidDataException($"{path}: header length {headerLength} exceeds the file");
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))?.AsObject()
                     ?? throw new InvalidDataException($"{path}: header is not a JSON object");
        var dataStart = 8 + (int)headerLength;
        var result = new Dictionary<string, NamedTensor>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__" || node is null) continue;
            var dtype = node["dtype"]!.GetValue<string>();
            var shape = node["shape"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray();
            var offsets = node["data_offsets"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray();
            long count = shape.Aggregate(1L, (a, b) => a * b);
            int width = dtype switch { "F32" => 4, "F16" or "BF16" => 2, _ => throw new InvalidDataException($"{path}: tensor '{name}' has unsupported dtype {dtype}") };
            if (offsets[1] - offsets[0] != count * width || dataStart + offsets[1] > bytes.Length)
                throw new InvalidDataException($"{path}: tensor '{name}' data_offsets do not match its shape [{string.Join(", ", shape)}]");
            var span = bytes.AsSpan(dataStart + (int)offsets[0], (int)(offsets[1] - offsets[0]));
            var data = new float[count];
            for (int i = 0; i < count; i++)
            {
                data[i] = dtype switch
                {
                    "F32" => BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]),
                    "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(span[(i * 2)..]),
                    _ => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span[(i * 2)..]) << 16),
                };
            }
            result[name] = new NamedTensor(name, shape, data);
        }
        return result;
    }

    /// <summary>Writes tensors in name order as F32 or F16.</summary>
    public static void Write(string path, IEnumerable<NamedTensor> tensors, bool float16, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        int width = float16 ? 2 : 4;
        var header = new JsonObject();
        if (metadata is not null)
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));
        long offset = 0;
        foreach (var t in list)
        {
            var size = t.NumElements * width;
            header[t.Name] = new JsonObject
            {
                ["dtype"] = float16 ? "F16" : "F32",
                ["shape"] = new JsonArray(t.Shape.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
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
        var buffer = new byte[width];
        foreach (var t in list)
            foreach (var v in t.Data)
            {
                if (float16) BinaryPrimitives.WriteHalfLittleEndian(buffer, (Half)v);
                else BinaryPrimitives.WriteSingleLittleEndian(buffer, v);
                stream.Write(buffer);
            }
    }
}

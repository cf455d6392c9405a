using Google.Protobuf;
using Onnx;

namespace Synera.Models.Onnx;

/// <summary>A thin helper over the ONNX protobuf types: adds nodes with fresh output names, constants and initializers.
/// With <paramref name="externalData"/> initializers' bytes go to that stream (ONNX external data, as Optimum writes
/// <c>model.onnx_data</c>), which keeps the graph file small and lifts protobuf's 2 GB limit.</summary>
internal sealed class OnnxGraphBuilder(Stream? externalData = null, string? externalDataName = null)
{
    private int counter;
    public GraphProto Graph { get; } = new() { Name = "synera_decoder" };

    public string Node(string op, string[] inputs, params AttributeProto[] attributes) => Node(op, inputs, Fresh(op), attributes);

    public string Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{counter++}" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return output;
    }

    public string Fresh(string hint) => $"{hint.ToLowerInvariant()}_{counter++}";

    public string Initializer(string name, long[] shape, float[] data)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(shape);
        var bytes = new byte[data.Length * 4];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        if (externalData is null) t.RawData = ByteString.CopyFrom(bytes);
        else
        {
            t.DataLocation = TensorProto.Types.DataLocation.External;
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = externalDataName });
            t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = externalData.Position.ToString() });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString() });
            externalData.Write(bytes);
        }
        Graph.Initializer.Add(t);
        return name;
    }

    public string Int64s(params long[] values) => Int64s(values, [values.Length]);

    public string Int64Scalar(long value) => Int64s([value], []);

    private string Int64s(long[] values, long[] shape)
    {
        var name = Fresh("const_i64");
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(shape);
        t.Int64Data.AddRange(values);
        Graph.Initializer.Add(t);
        return name;
    }

    public string FloatScalar(float value)
    {
        var name = Fresh("const_f32");
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.FloatData.Add(value);
        Graph.Initializer.Add(t);
        return name;
    }

    public void Input(string name, TensorProto.Types.DataType type, params object[] dims) => Graph.Input.Add(ValueInfo(name, type, dims));

    public void Output(string name, TensorProto.Types.DataType type, params object[] dims) => Graph.Output.Add(ValueInfo(name, type, dims));

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    public static AttributeProto Attr(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    public static AttributeProto Attr(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
    public static AttributeProto Attr(string name, long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
}

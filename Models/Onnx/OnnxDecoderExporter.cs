using Onnx;
using static Synera.Models.Onnx.OnnxGraphBuilder;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Synera.Models.Onnx;

/// <summary>
/// Writes a <see cref="Transformer"/> as an ONNX decoder in the common KV-cache layout (opset 17):
/// inputs <c>input_ids</c> (B, T), <c>attention_mask</c> (B, P + T), <c>position_ids</c> (B, T),
/// <c>past_key_values.{i}.key|value</c> (B, nkv, P, hs); outputs <c>logits</c> (B, T, V) and
/// <c>present.{i}.key|value</c> (B, nkv, P + T, hs). The math is the same as Transformer.cs, node by node.
/// These are Optimum's names; with <paramref name="externalData"/> the weights go to <c>model.onnx_data</c> beside the
/// graph as Optimum writes large models, and with <paramref name="float16Io"/> the K/V and logits cross the graph's
/// boundary in float16 (the computation inside stays float32), as a half-precision export's I/O does.
/// </summary>
public static class OnnxDecoderExporter
{
    public static void Export(Transformer model, string path, bool externalData = false, bool float16Io = false)
    {
        var c = model.Config;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var dataName = Path.GetFileName(path) + "_data";
        using var data = externalData ? File.Create(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, dataName)) : null;
        var g = new OnnxGraphBuilder(data, dataName);
        var names = new HashSet<string>();
        foreach (var w in ModelCheckpoint.ExportTensors(model)) { g.Initializer(w.Name, w.Shape, w.Data); names.Add(w.Name); }
        var io = float16Io ? DataType.Float16 : DataType.Float;

        g.Input("input_ids", DataType.Int64, "batch", "seq");
        g.Input("attention_mask", DataType.Int64, "batch", "total");
        g.Input("position_ids", DataType.Int64, "batch", "seq");
        var pastKeys = new string[c.NumLayers];
        var pastValues = new string[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++)
        {
            g.Input($"past_key_values.{i}.key", io, "batch", c.NumKvHeads, "past", c.HeadDim);
            g.Input($"past_key_values.{i}.value", io, "batch", c.NumKvHeads, "past", c.HeadDim);
            pastKeys[i] = float16Io ? g.Node("Cast", [$"past_key_values.{i}.key"], Attr("to", (long)DataType.Float)) : $"past_key_values.{i}.key";
            pastValues[i] = float16Io ? g.Node("Cast", [$"past_key_values.{i}.value"], Attr("to", (long)DataType.Float)) : $"past_key_values.{i}.value";
        }

        var x = g.Node("Gather", ["model.embed_tokens.weight", "input_ids"]);                       // (B, T, C)
        var (cos, sin) = Rotary(g, c);
        var mask = Mask(g);
        for (int i = 0; i < c.NumLayers; i++)
        {
            var p = $"model.layers.{i}.";
            var h = RmsNorm(g, x, p + "input_layernorm.weight", c.RmsNormEps);
            x = g.Node("Add", [x, AttentionBlock(g, c, h, cos, sin, mask, p + "self_attn.", i, names.Contains(p + "self_attn.q_proj.bias"),
                pastKeys[i], pastValues[i], float16Io)]);
            h = RmsNorm(g, x, p + "post_attention_layernorm.weight", c.RmsNormEps);
            var gate = Linear(g, h, p + "mlp.gate_proj.weight");
            var silu = g.Node("Mul", [gate, g.Node("Sigmoid", [gate])]);
            var up = Linear(g, h, p + "mlp.up_proj.weight");
            x = g.Node("Add", [x, Linear(g, g.Node("Mul", [silu, up]), p + "mlp.down_proj.weight")]);
        }
        x = RmsNorm(g, x, "model.norm.weight", c.RmsNormEps);
        var head = c.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
        var logits = g.Node("MatMul", [x, g.Node("Transpose", [head], Attr("perm", [1L, 0L]))], float16Io ? "logits_float32" : "logits");
        if (float16Io) g.Node("Cast", [logits], "logits", Attr("to", (long)DataType.Float16));

        g.Output("logits", io, "batch", "seq", c.VocabSize);
        for (int i = 0; i < c.NumLayers; i++)
        {
            g.Output($"present.{i}.key", io, "batch", c.NumKvHeads, "total", c.HeadDim);
            g.Output($"present.{i}.value", io, "batch", c.NumKvHeads, "total", c.HeadDim);
        }

        var modelProto = new ModelProto { IrVersion = 8, ProducerName = "synera", ProducerVersion = "1", Graph = g.Graph };
        modelProto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        using var stream = File.Create(path);
        using var coded = new Google.Protobuf.CodedOutputStream(stream);
        modelProto.WriteTo(coded);
    }

    private static string Linear(OnnxGraphBuilder g, string x, string weight, string? bias = null)
    {
        var y = g.Node("MatMul", [x, g.Node("Transpose", [weight], Attr("perm", [1L, 0L]))]);
        return bias is null ? y : g.Node("Add", [y, bias]);
    }

    /// <summary>x / sqrt(mean(x²) + eps) * w.</summary>
    private static string RmsNorm(OnnxGraphBuilder g, string x, string weight, double eps)
    {
        var ms = g.Node("ReduceMean", [g.Node("Mul", [x, x])], Attr("axes", [-1L]), Attr("keepdims", 1L));
        var normed = g.Node("Div", [x, g.Node("Sqrt", [g.Node("Add", [ms, g.FloatScalar((float)eps)])])]);
        return g.Node("Mul", [normed, weight]);
    }

    /// <summary>cos/sin (B, 1, T, hs) from position_ids, as in Transformer.Rotary.</summary>
    private static (string cos, string sin) Rotary(OnnxGraphBuilder g, TransformerConfig c)
    {
        var plain = Enumerable.Range(0, c.HeadDim / 2).Select(i => 1.0 / Math.Pow(c.RopeTheta, 2.0 * i / c.HeadDim)).ToArray();
        var inv = (c.RopeScaling?.Apply(plain) ?? plain).Select(f => (float)f).ToArray();
        var invFreq = g.Initializer("rotary_inv_freq", [inv.Length], inv);
        var pos = g.Node("Unsqueeze", [g.Node("Cast", ["position_ids"], Attr("to", (long)DataType.Float)), g.Int64s(-1)]);   // (B, T, 1)
        var angles = g.Node("Mul", [pos, invFreq]);                                                                              // (B, T, hs/2)
        var emb = g.Node("Unsqueeze", [g.Node("Concat", [angles, angles], Attr("axis", -1L)), g.Int64s(1)]);                 // (B, 1, T, hs)
        return (g.Node("Cos", [emb]), g.Node("Sin", [emb]));
    }

    /// <summary>Additive mask (B, 1, T, P + T): causal over positions, and attention_mask over keys.</summary>
    private static string Mask(OnnxGraphBuilder g)
    {
        var total = g.Node("Gather", [g.Node("Shape", ["attention_mask"]), g.Int64Scalar(1)]);    // S = P + T (scalar)
        var seq = g.Node("Gather", [g.Node("Shape", ["input_ids"]), g.Int64Scalar(1)]);           // T
        var past = g.Node("Sub", [total, seq]);                                                        // P
        var one = g.Int64Scalar(1);
        var queryPos = g.Node("Unsqueeze", [g.Node("Range", [past, total, one]), g.Int64s(1)]);      // (T, 1)
        var keyPos = g.Node("Unsqueeze", [g.Node("Range", [g.Int64Scalar(0), total, one]), g.Int64s(0)]);   // (1, S)
        var causal = g.Node("LessOrEqual", [keyPos, queryPos]);                                        // (T, S)
        var keys = g.Node("Unsqueeze", [g.Node("Cast", ["attention_mask"], Attr("to", (long)DataType.Bool)), g.Int64s(1, 2)]);   // (B, 1, 1, S)
        var allowed = g.Node("And", [causal, keys]);                                                   // (B, 1, T, S)
        return g.Node("Where", [allowed, g.FloatScalar(0f), g.FloatScalar(AttentionMasks.Blocked)]);
    }

    private static string AttentionBlock(OnnxGraphBuilder g, TransformerConfig c, string h, string cos, string sin, string mask, string p, int layer, bool bias,
        string pastKey, string pastValue, bool float16Io)
    {
        string Heads(string t, int n) => g.Node("Transpose", [g.Node("Reshape", [t, g.Int64s(0, 0, n, c.HeadDim)])], Attr("perm", [0L, 2L, 1L, 3L]));
        var q = Heads(Linear(g, h, p + "q_proj.weight", bias ? p + "q_proj.bias" : null), c.NumHeads);      // (B, nh, T, hs)
        var k = Heads(Linear(g, h, p + "k_proj.weight", bias ? p + "k_proj.bias" : null), c.NumKvHeads);    // (B, nkv, T, hs)
        var v = Heads(Linear(g, h, p + "v_proj.weight", bias ? p + "v_proj.bias" : null), c.NumKvHeads);
        q = Rope(g, c, q, cos, sin);
        k = Rope(g, c, k, cos, sin);
        string Present(string name) => float16Io ? name + "_float32" : name;
        var keyAll = g.Node("Concat", [pastKey, k], Present($"present.{layer}.key"), Attr("axis", 2L));       // (B, nkv, S, hs)
        var valueAll = g.Node("Concat", [pastValue, v], Present($"present.{layer}.value"), Attr("axis", 2L));
        if (float16Io)
        {
            g.Node("Cast", [keyAll], $"present.{layer}.key", Attr("to", (long)DataType.Float16));
            g.Node("Cast", [valueAll], $"present.{layer}.value", Attr("to", (long)DataType.Float16));
        }
        int rep = c.NumHeads / c.NumKvHeads;
        if (rep > 1)
        {
            // (B, nkv, S, hs) → (B, nkv, rep, S, hs) → (B, nh, S, hs): each K/V head serves rep consecutive query heads.
            string Repeat(string t) => g.Node("Reshape", [g.Node("Expand", [g.Node("Unsqueeze", [t, g.Int64s(2)]), g.Int64s(1, 1, rep, 1, 1)]), g.Int64s(0, c.NumHeads, -1, c.HeadDim)]);
            keyAll = Repeat(keyAll);
            valueAll = Repeat(valueAll);
        }
        var scores = g.Node("Mul", [g.Node("MatMul", [q, g.Node("Transpose", [keyAll], Attr("perm", [0L, 1L, 3L, 2L]))]), g.FloatScalar((float)(1.0 / Math.Sqrt(c.HeadDim)))]);
        var att = g.Node("Softmax", [g.Node("Add", [scores, mask])], Attr("axis", -1L));                   // (B, nh, T, S)
        var y = g.Node("Transpose", [g.Node("MatMul", [att, valueAll])], Attr("perm", [0L, 2L, 1L, 3L]));     // (B, T, nh, hs)
        y = g.Node("Reshape", [y, g.Int64s(0, 0, c.NumHeads * c.HeadDim)]);
        return Linear(g, y, p + "o_proj.weight");
    }

    /// <summary>x * cos + rotate_half(x) * sin, rotate_half(x1, x2) = (−x2, x1).</summary>
    private static string Rope(OnnxGraphBuilder g, TransformerConfig c, string x, string cos, string sin)
    {
        long half = c.HeadDim / 2;
        var first = g.Node("Slice", [x, g.Int64s(0), g.Int64s(half), g.Int64s(3)]);
        var second = g.Node("Slice", [x, g.Int64s(half), g.Int64s(c.HeadDim), g.Int64s(3)]);
        var rotated = g.Node("Concat", [g.Node("Neg", [second]), first], Attr("axis", 3L));
        return g.Node("Add", [g.Node("Mul", [x, cos]), g.Node("Mul", [rotated, sin])]);
    }
}

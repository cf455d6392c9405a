// A Llama-style decoder in TorchSharp: RMSNorm, rotary embeddings, SwiGLU and grouped-query attention,
// with a KV cache. Mirrors nanoGPT's model.py in layout (bottom-up classes, shapes in comments) and
// Hugging Face's LlamaForCausalLM in parameter names, so HF safetensors load by name.
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Synera.Models;

/// <summary>RMSNorm: x / sqrt(mean(x^2) + eps) * weight (no mean subtraction, no bias), computed in float32 and cast
/// back as HF's LlamaRMSNorm does, so bf16/fp16 weights normalise as there.</summary>
public sealed class RmsNorm : Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    public RmsNorm(int dim, double eps, ScalarType dtype = ScalarType.Float32) : base(nameof(RmsNorm))
    {
        this.eps = eps;
        weight = Parameter(ones(dim, dtype: dtype));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x32 = x.dtype == ScalarType.Float32 ? x : x.to_type(ScalarType.Float32);
        var normed = x32 * rsqrt(x32.pow(2).mean([-1L], keepdim: true) + eps);
        return (weight * normed.to_type(x.dtype)).MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head attention with grouped-query K/V heads and rotary position embeddings.</summary>
public sealed class Attention : Module
{
    private readonly Linear q_proj, k_proj, v_proj, o_proj;
    private readonly int numHeads, numKvHeads, headDim, groupSize;

    public Attention(TransformerConfig c, ScalarType dtype) : base(nameof(Attention))
    {
        numHeads = c.NumHeads; numKvHeads = c.NumKvHeads; headDim = c.HeadDim; groupSize = c.GroupSize;
        q_proj = Linear(c.HiddenSize, c.NumHeads * c.HeadDim, hasBias: c.AttentionBias, dtype: dtype);
        k_proj = Linear(c.HiddenSize, c.KvDim, hasBias: c.AttentionBias, dtype: dtype);
        v_proj = Linear(c.HiddenSize, c.KvDim, hasBias: c.AttentionBias, dtype: dtype);
        o_proj = Linear(c.NumHeads * c.HeadDim, c.HiddenSize, hasBias: false, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>
    /// x (N, C): the packed tokens of every group, group after group; rope = cos and signed sin (N, 1, hs)
    /// (<see cref="Transformer.Rotary"/>). Projections and RoPE run over all N tokens at once; then each group hands
    /// its new K/V to its store and attends on its own, with its mask already stacked for the query heads of a K/V
    /// group (<see cref="AttentionGroup.Mask"/>). Returns (N, C).
    /// </summary>
    public Tensor Forward(Tensor x, (Tensor cos, Tensor signedSin) rope, IReadOnlyList<AttentionGroup> groups, int layer)
    {
        using var scope = NewDisposeScope();
        long N = x.shape[0];
        var q = Rotate(q_proj.forward(x).view(N, numHeads, headDim), rope);      // (N, nh, hs)
        var k = Rotate(k_proj.forward(x).view(N, numKvHeads, headDim), rope);    // (N, nkv, hs)
        var v = v_proj.forward(x).view(N, numKvHeads, headDim);                  // (N, nkv, hs)
        var outputs = new Tensor[groups.Count];
        long offset = 0;
        for (int g = 0; g < groups.Count; g++)
        {
            long B = groups[g].Rows, T = groups[g].Length;
            Tensor Rows(Tensor t) => t.narrow(0, offset, B * T).view(B, T, t.shape[1], headDim).transpose(1, 2);   // (B, heads, T, hs)
            var (keys, values) = groups[g].Store.Append(layer, Rows(k), Rows(v));                  // (B, nkv, S, hs)
            // Grouped-query attention without copying K/V: the `rep` query heads that share a K/V head
            // (HF repeat_kv order: consecutive) are stacked along the query axis, as the mask already is.
            var qGrouped = Rows(q).reshape(B, numKvHeads, groupSize * T, headDim);               // (B, nkv, rep·T, hs)
            outputs[g] = functional.scaled_dot_product_attention(qGrouped, keys, values, groups[g].Mask)   // softmax(q·kᵀ/√hs + mask)·v
                .reshape(B, numHeads, T, headDim).transpose(1, 2).reshape(B * T, numHeads * headDim);   // (B·T, C); CUDA kernels may return it strided
            offset += B * T;
        }
        return o_proj.forward(outputs.Length == 1 ? outputs[0] : cat(outputs, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// RoPE: x·cos + rotate_half(x)·sin, where HF's rotate_half (x1, x2) → (−x2, x1) is a roll by half the head
    /// dimension with the sign folded into the sine (exact: the sign flip does not round). One copy, not four.
    /// </summary>
    private static Tensor Rotate(Tensor x, (Tensor cos, Tensor signedSin) rope) =>
        (x * rope.cos).addcmul_(x.roll(x.shape[^1] / 2, -1), rope.signedSin, 1);
}

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)).</summary>
public sealed class FeedForward : Module<Tensor, Tensor>
{
    private readonly Linear gate_proj, up_proj, down_proj;

    public FeedForward(TransformerConfig c, ScalarType dtype) : base(nameof(FeedForward))
    {
        gate_proj = Linear(c.HiddenSize, c.IntermediateSize, hasBias: false, dtype: dtype);
        up_proj = Linear(c.HiddenSize, c.IntermediateSize, hasBias: false, dtype: dtype);
        down_proj = Linear(c.IntermediateSize, c.HiddenSize, hasBias: false, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(functional.silu(gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>One pre-norm decoder block: x + attn(norm(x)), then x + mlp(norm(x)).</summary>
public sealed class DecoderLayer : Module
{
    private readonly Attention self_attn;
    private readonly FeedForward mlp;
    private readonly RmsNorm input_layernorm, post_attention_layernorm;

    public DecoderLayer(TransformerConfig c, ScalarType dtype) : base(nameof(DecoderLayer))
    {
        self_attn = new Attention(c, dtype);
        mlp = new FeedForward(c, dtype);
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, dtype);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, dtype);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, (Tensor cos, Tensor signedSin) rope, IReadOnlyList<AttentionGroup> groups, int layer)
    {
        using var scope = NewDisposeScope();
        x = x + self_attn.Forward(input_layernorm.forward(x), rope, groups, layer);
        x = x + mlp.forward(post_attention_layernorm.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>The decoder trunk (HF <c>model.*</c>): token embeddings, blocks, final norm.</summary>
public sealed class DecoderTrunk : Module
{
    internal readonly Embedding embed_tokens;
    internal readonly ModuleList<DecoderLayer> layers;
    internal readonly RmsNorm norm;

    public DecoderTrunk(TransformerConfig c, ScalarType dtype) : base("model")
    {
        embed_tokens = Embedding(c.VocabSize, c.HiddenSize, dtype: dtype);
        layers = new ModuleList<DecoderLayer>(Enumerable.Range(0, c.NumLayers).Select(_ => new DecoderLayer(c, dtype)).ToArray());
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps, dtype);
        RegisterComponents();
    }
}

/// <summary>
/// Where a forward pass keeps K/V: each attention layer hands over its new tokens' K/V (after RoPE) and gets
/// back the K/V to attend over. The plain store concatenates to the past (<see cref="ConcatKvStore"/>); the
/// verifier's writes into its preallocated slot pools and gathers the batch from them.
/// </summary>
public interface IKvStore
{
    /// <summary>new K/V (B, nkv, T, hs) of layer <paramref name="layer"/> → the K/V to attend over, (B, nkv, S, hs).</summary>
    (Tensor keys, Tensor values) Append(int layer, Tensor newKeys, Tensor newValues);
}

/// <summary>
/// One group of a packed forward: <paramref name="Rows"/> sequences right-padded to <paramref name="Length"/> tokens,
/// laid out row after row in the packed token axis. They attend with the additive <paramref name="Mask"/>
/// (Rows|1, 1, Length, S) over the S keys that <paramref name="Store"/> returns for each layer.
/// </summary>
public sealed record AttentionGroup(int Rows, int Length, Tensor Mask, IKvStore Store);

/// <summary>present = cat(past, new) per layer, kept (outside any dispose scope) for the caller's <see cref="ForwardResult"/>.</summary>
public sealed class ConcatKvStore(Tensor[]? pastKeys, Tensor[]? pastValues, int numLayers) : IKvStore
{
    public Tensor[] Keys { get; } = new Tensor[numLayers];
    public Tensor[] Values { get; } = new Tensor[numLayers];

    public (Tensor keys, Tensor values) Append(int layer, Tensor newKeys, Tensor newValues)
    {
        var k = pastKeys is null ? newKeys.contiguous() : cat([pastKeys[layer], newKeys], 2);
        var v = pastValues is null ? newValues.contiguous() : cat([pastValues[layer], newValues], 2);
        Keys[layer] = k.DetachFromDisposeScope();
        Values[layer] = v.DetachFromDisposeScope();
        return (k, v);
    }
}

/// <summary>The output of one forward pass: logits and the present K/V of every layer.</summary>
public sealed class ForwardResult : IDisposable
{
    public required Tensor Logits { get; init; }      // (B, T, V)
    public required Tensor[] Keys { get; init; }      // per layer (B, nkv, P + T, hs)
    public required Tensor[] Values { get; init; }

    public void Dispose()
    {
        Logits.Dispose();
        foreach (var t in Keys) t.Dispose();
        foreach (var t in Values) t.Dispose();
    }
}

/// <summary>
/// The causal LM: <c>model</c> (trunk) + <c>lm_head</c> (absent when embeddings are tied).
/// All sequences in a batch may have their own positions, past length and padding; the caller states
/// them through <c>positions</c> and the additive <c>mask</c> (see <see cref="AttentionMasks"/>).
/// </summary>
public sealed class Transformer : Module
{
    private readonly DecoderTrunk model;
    private readonly Linear? lm_head;
    private readonly double[] invFreq;

    public TransformerConfig Config { get; }
    /// <summary>The weights' dtype (float32, bfloat16 or float16); activations and K/V follow it.</summary>
    public ScalarType DType { get; }

    /// <summary>A model of <paramref name="config"/>'s shape with weights of <paramref name="dtype"/>. With
    /// <paramref name="initialize"/> the weights get GPT-2's init (training, random test models); a model about to load
    /// a checkpoint skips it, its parameters are overwritten in place (<see cref="ModelCheckpoint"/>).</summary>
    public Transformer(TransformerConfig config, int seed = 0, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base("Transformer")
    {
        config.Validate();
        Config = config;
        DType = dtype;
        manual_seed(seed);
        model = new DecoderTrunk(config, dtype);
        if (!config.TieWordEmbeddings) lm_head = Linear(config.HiddenSize, config.VocabSize, hasBias: false, dtype: dtype);
        var plain = Enumerable.Range(0, config.HeadDim / 2).Select(i => 1.0 / Math.Pow(config.RopeTheta, 2.0 * i / config.HeadDim)).ToArray();
        invFreq = config.RopeScaling?.Apply(plain) ?? plain;
        RegisterComponents();
        if (initialize) InitWeights();
    }

    /// <summary>GPT-2 style init: N(0, 0.02), residual projections scaled by 1/sqrt(2 * layers).</summary>
    private void InitWeights()
    {
        using var _ = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm.weight")) continue;
            if (name.EndsWith(".bias")) { p.zero_(); continue; }
            var std = name.EndsWith("o_proj.weight") || name.EndsWith("down_proj.weight") ? 0.02 / Math.Sqrt(2 * Config.NumLayers) : 0.02;
            init.normal_(p, 0, std);
        }
    }

    /// <summary>Forward over a padded batch. inputIds/positions (B, T) int64; mask (B, 1, T, P + T) additive
    /// float; pastKeys/pastValues per layer (B, nkv, P, hs) or null. The result owns the present K/V.</summary>
    public ForwardResult Forward(Tensor inputIds, Tensor positions, Tensor mask, Tensor[]? pastKeys = null, Tensor[]? pastValues = null)
    {
        var store = new ConcatKvStore(pastKeys, pastValues, Config.NumLayers);
        var logits = Forward(inputIds, positions, mask, store);
        return new ForwardResult { Logits = logits, Keys = store.Keys, Values = store.Values };
    }

    /// <summary>Forward whose K/V live in <paramref name="store"/> (e.g. the verifier's slot pools); returns the
    /// logits (B, T, V). mask (B, 1, T, S) is over the S keys the store returns.</summary>
    public Tensor Forward(Tensor inputIds, Tensor positions, Tensor mask, IKvStore store)
    {
        using var scope = NewDisposeScope();
        long B = inputIds.shape[0], T = inputIds.shape[1];
        var logits = Forward(inputIds.reshape(-1), positions.reshape(-1), [new AttentionGroup((int)B, (int)T, mask, store)]);
        return logits.view(B, T, -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Packed forward: several groups of sequences in one pass. inputIds/positions (N) int64 hold each group's rows,
    /// right-padded to the group's length, group after group. Every matmul runs once over all N tokens; attention runs
    /// per group (see <see cref="AttentionGroup"/>). Returns the logits (N, V), or with <paramref name="logitRows"/> (R)
    /// only those rows' (R, V): with a 150k vocabulary the output head is the largest matmul, and most rows are unread.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor positions, IReadOnlyList<AttentionGroup> groups, Tensor? logitRows = null)
    {
        using var scope = NewDisposeScope();
        long packed = groups.Sum(g => (long)g.Rows * g.Length);
        if (inputIds.shape[0] != packed)
            throw new ArgumentException($"{inputIds.shape[0]} packed tokens, but the groups hold {packed}");
        var rope = Rotary(positions);
        // Every layer's query heads of one K/V group share the mask: stacked once here, not per layer.
        int rep = Config.GroupSize;
        var stacked = groups.Select(g => g with { Mask = (rep > 1 ? g.Mask.repeat(1, 1, rep, 1) : g.Mask).to_type(DType) }).ToList();   // (B, 1, rep·T, S), in the model's dtype
        var x = model.embed_tokens.forward(inputIds);                   // (N, C)
        for (int i = 0; i < Config.NumLayers; i++) x = model.layers[i].Forward(x, rope, stacked, i);
        if (logitRows is not null) x = x.index_select(0, logitRows);    // only the rows someone reads: (R, C)
        x = model.norm.forward(x);
        var logits = lm_head is null ? x.matmul(model.embed_tokens.weight!.t()) : lm_head.forward(x);   // (N or R, V)
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Causal forward over whole sequences from position 0 (training, prefill).</summary>
    public ForwardResult Forward(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        long B = inputIds.shape[0], T = inputIds.shape[1];
        var positions = arange(T, dtype: int64, device: inputIds.device).unsqueeze(0).expand(B, T);
        var mask = AttentionMasks.Causal(T, 0, inputIds.device);
        var result = Forward(inputIds, positions, mask);
        result.Logits.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>cos and signed sin tables (N, 1, hs) for the given positions (N): angle = pos * theta^(-2i/hs), halves
    /// repeated; the sine's first half negated, as rotate_half negates the half it moves to the front.</summary>
    internal (Tensor cos, Tensor signedSin) Rotary(Tensor positions)
    {
        var inv = tensor(invFreq.Select(f => (float)f).ToArray(), device: positions.device);       // (hs/2)
        var angles = positions.to_type(float32).unsqueeze(-1) * inv;                                 // (N, hs/2)
        var emb = cat([angles, angles], -1).unsqueeze(1);                                            // (N, 1, hs)
        var sin = angles.sin().unsqueeze(1);
        return (emb.cos().to_type(DType), cat([-sin, sin], -1).to_type(DType));                      // computed in float32, as HF
    }
}

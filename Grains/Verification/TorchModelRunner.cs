using Synera.Abstractions.Messages;
using Synera.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Synera.Grains.Verification;

/// <summary>
/// The TorchSharp LLM runner: pads a batch of (cached prefix, new tokens) sequences, runs one forward, and
/// writes each session's extended K/V back to the <see cref="KvCacheManager"/>. Runs on CUDA when the silo
/// has it (same code path), else CPU. Inputs are validated before they reach torch (a libtorch error aborts
/// the process on this platform rather than raising an exception).
/// </summary>
public sealed class TorchModelRunner : IVerifierModelRunner
{
    private readonly Transformer model;
    private readonly Device device;

    public TorchModelRunner(Transformer model, Device device, KvCacheManager kvCache, string modelName, int maxSpanTokens)
    {
        this.model = model;
        this.device = device;
        KvCache = kvCache;
        Info = new VerifierModelInfo(modelName, model.Config.VocabSize, maxSpanTokens, model.Config.MaxPositions, device.type.ToString().ToLowerInvariant());
        EosTokenId = model.Config.EosTokenId;
    }

    public VerifierModelInfo Info { get; }
    public int EosTokenId { get; }
    public KvCacheManager KvCache { get; }

    /// <summary>Picks <c>cuda</c> when requested or available (<c>auto</c>), else <c>cpu</c>.</summary>
    public static Device SelectDevice(string preference) => preference switch
    {
        "cuda" => cuda.is_available() ? CUDA : throw new InvalidOperationException("Device 'cuda' requested but CUDA is not available on this silo"),
        "cpu" => CPU,
        _ => cuda.is_available() ? CUDA : CPU,
    };

    public IReadOnlyList<RunnerOutput> Execute(IReadOnlyList<RunnerInput> inputs)
    {
        if (inputs.Count == 0) return [];
        Validate(inputs);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int B = inputs.Count, layers = model.Config.NumLayers;
        var pastLengths = inputs.Select(i => i.StartPosition).ToArray();
        var newLengths = inputs.Select(i => i.InputIds.Length).ToArray();
        int maxPast = pastLengths.Max(), maxNew = newLengths.Max();

        var ids = new long[B * maxNew];
        var positions = new long[B * maxNew];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < maxNew; t++)
            {
                ids[b * maxNew + t] = t < newLengths[b] ? inputs[b].InputIds[t] : 0;
                positions[b * maxNew + t] = pastLengths[b] + t;
            }
        var inputTensor = tensor(ids, [B, maxNew], device: device);
        var positionTensor = tensor(positions, [B, maxNew], device: device);
        var mask = AttentionMasks.Batched(pastLengths, newLengths, maxPast, maxNew, device);
        var (pastKeys, pastValues) = maxPast == 0 ? (null, null) : GatherPast(inputs, maxPast);

        var result = model.Forward(inputTensor, positionTensor, mask, pastKeys, pastValues);
        var logits = result.Logits.cpu();
        var outputs = new RunnerOutput[B];
        for (int b = 0; b < B; b++)
        {
            int rows = newLengths[b] - inputs[b].LogitsFrom;
            var slice = logits[b].narrow(0, inputs[b].LogitsFrom, rows).contiguous();
            outputs[b] = new RunnerOutput(slice.data<float>().ToArray(), rows, model.Config.VocabSize);
            // The session's new cache: its own past, then its own new positions (padding dropped).
            var keys = new Tensor[layers];
            var values = new Tensor[layers];
            for (int l = 0; l < layers; l++)
            {
                keys[l] = Concat(result.Keys[l], b, pastLengths[b], maxPast, newLengths[b]);
                values[l] = Concat(result.Values[l], b, pastLengths[b], maxPast, newLengths[b]);
            }
            KvCache.Store(inputs[b].SessionId, keys, values);
        }
        return outputs;
    }

    private static Tensor Concat(Tensor present, int b, int past, int maxPast, int numNew)
    {
        var row = present.narrow(0, b, 1);
        var own = past == 0 ? row.narrow(2, maxPast, numNew) : cat([row.narrow(2, 0, past), row.narrow(2, maxPast, numNew)], 2);
        return own.contiguous();
    }

    /// <summary>Per layer, the sessions' cached K/V padded to <paramref name="maxPast"/> and stacked: (B, nkv, Pmax, hs).</summary>
    private (Tensor[] keys, Tensor[] values) GatherPast(IReadOnlyList<RunnerInput> inputs, int maxPast)
    {
        int layers = model.Config.NumLayers;
        var keys = new Tensor[layers];
        var values = new Tensor[layers];
        var cached = inputs.Select(i => KvCache.Get(i.SessionId)).ToArray();
        for (int l = 0; l < layers; l++)
        {
            keys[l] = cat(cached.Select(c => Pad(c?.keys[l], maxPast)).ToArray(), 0);
            values[l] = cat(cached.Select(c => Pad(c?.values[l], maxPast)).ToArray(), 0);
        }
        return (keys, values);
    }

    private Tensor Pad(Tensor? t, int length)
    {
        var c = model.Config;
        if (t is null) return zeros([1, c.NumKvHeads, length, c.HeadDim], device: device);
        var have = (int)t.shape[2];
        return have == length ? t : cat([t, zeros([1, c.NumKvHeads, length - have, c.HeadDim], device: device)], 2);
    }

    private void Validate(IReadOnlyList<RunnerInput> inputs)
    {
        foreach (var input in inputs)
        {
            if (input.InputIds.Length == 0) throw new ArgumentException($"session {input.SessionId}: empty input");
            if (input.StartPosition != KvCache.CachedLength(input.SessionId))
                throw new InvalidOperationException($"session {input.SessionId}: input starts at {input.StartPosition} but {KvCache.CachedLength(input.SessionId)} positions are cached");
            if (input.LogitsFrom < 0 || input.LogitsFrom >= input.InputIds.Length)
                throw new ArgumentException($"session {input.SessionId}: LogitsFrom {input.LogitsFrom} outside the input");
            foreach (var id in input.InputIds)
                if ((uint)id >= (uint)model.Config.VocabSize) throw new ArgumentException($"session {input.SessionId}: token id {id} outside the vocabulary");
        }
    }

    public void Dispose()
    {
        KvCache.Dispose();
        model.Dispose();
    }
}

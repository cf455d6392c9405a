using System.IO.Compression;
using Synera.Tokenizer;

namespace Synera.Models.Data;

/// <summary>One training sequence: chat prompt + answer + EOS as token ids; loss is taken from <see cref="AnswerStart"/> on.</summary>
public sealed record TokenizedExample(string Task, int[] Ids, int AnswerStart)
{
    /// <summary>The one encoding every trainer uses: BOS + chat-formatted prompt, then the answer, then EOS.</summary>
    public static TokenizedExample Encode(SyneraTokenizer tokenizer, TaskExample example)
    {
        var prompt = tokenizer.EncodeChatPrompt(example.Prompt);
        return new(example.Task, [.. prompt, .. tokenizer.Encode(example.Answer), tokenizer.EosId], prompt.Length);
    }
}

/// <summary>
/// Token-id training data on disk, for trainers outside this process (tools/gpu/train_target.py on a GPU machine):
/// the generator and the tokenizer stay the single source of truth. Gzipped records of
/// <c>[task index u8][answer start u8][length u8][ids u8 × length]</c>; ids and lengths must fit a byte,
/// which the 100-token character vocabulary and the suite's short turns do (checked, not assumed).
/// </summary>
public static class TokenizedDataset
{
    public static void Write(string path, IEnumerable<TokenizedExample> examples)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.SmallestSize);
        using var writer = new BinaryWriter(gzip);
        foreach (var ex in examples)
        {
            int task = Array.IndexOf(TaskGenerator.Tasks, ex.Task);
            if (task < 0) throw new ArgumentException($"unknown task '{ex.Task}'");
            if (ex.Ids.Length > byte.MaxValue) throw new ArgumentException($"sequence of {ex.Ids.Length} tokens does not fit the byte-length format");
            if (ex.AnswerStart < 0 || ex.AnswerStart >= ex.Ids.Length) throw new ArgumentException($"answer start {ex.AnswerStart} outside the sequence");
            writer.Write((byte)task);
            writer.Write((byte)ex.AnswerStart);
            writer.Write((byte)ex.Ids.Length);
            foreach (var id in ex.Ids)
            {
                if (id is < 0 or > byte.MaxValue) throw new ArgumentException($"token id {id} does not fit the byte format");
                writer.Write((byte)id);
            }
        }
    }

    public static List<TokenizedExample> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset not found: {path}", path);
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        var result = new List<TokenizedExample>();
        for (int i = 0; i < bytes.Length;)
        {
            if (i + 3 > bytes.Length) throw new InvalidDataException($"{path}: truncated record header at byte {i}");
            int task = bytes[i], start = bytes[i + 1], length = bytes[i + 2];
            if (task >= TaskGenerator.Tasks.Length) throw new InvalidDataException($"{path}: task index {task} at byte {i}");
            if (i + 3 + length > bytes.Length) throw new InvalidDataException($"{path}: truncated record at byte {i}");
            var ids = new int[length];
            for (int t = 0; t < length; t++) ids[t] = bytes[i + 3 + t];
            result.Add(new(TaskGenerator.Tasks[task], ids, start));
            i += 3 + length;
        }
        if (result.Count == 0) throw new InvalidDataException($"{path}: no records");
        return result;
    }
}

using System.IO.Compression;

namespace Synera.Tokenizer;

/// <summary>The files that make a model folder's tokenizer, and copying them into another folder (a new model of the
/// same tokenizer). A source may keep tokenizer.json gzipped, as <c>models/tokenizers</c> does.</summary>
public static class TokenizerFiles
{
    public static readonly string[] Optional = [SyneraTokenizer.ConfigFile, SyneraTokenizer.TemplateFile, "special_tokens_map.json"];

    public static void CopyTo(string sourceDir, string destinationDir)
    {
        Directory.CreateDirectory(destinationDir);
        var json = Path.Combine(sourceDir, SyneraTokenizer.TokenizerFile);
        var destination = Path.Combine(destinationDir, SyneraTokenizer.TokenizerFile);
        if (File.Exists(json)) File.Copy(json, destination, overwrite: true);
        else if (File.Exists(json + ".gz"))
        {
            using var gz = new GZipStream(File.OpenRead(json + ".gz"), CompressionMode.Decompress);
            using var file = File.Create(destination);
            gz.CopyTo(file);
        }
        else throw new FileNotFoundException($"no tokenizer.json (or tokenizer.json.gz) in {sourceDir}", json);
        foreach (var name in Optional)
            if (File.Exists(Path.Combine(sourceDir, name))) File.Copy(Path.Combine(sourceDir, name), Path.Combine(destinationDir, name), overwrite: true);
    }
}

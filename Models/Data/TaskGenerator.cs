using System.Text.Json;

namespace Synera.Models.Data;

/// <summary>
/// Deterministic, seeded generator of the task suite. Shaped like assistant traffic: most answer tokens are
/// easy (copied names, fixed phrasing) and a few decide correctness (digits, looked-up values, order).
/// Held-out prompts never appear in training: the train stream skips any prompt of the held-out set.
/// </summary>
public sealed class TaskGenerator(int seed)
{
    public static readonly string[] Tasks = ["add", "sub", "mul", "word", "lookup", "sort", "reverse", "convert", "prose"];

    private static readonly string[] Names = ["Tom", "Ana", "Raj", "Mia", "Leo", "Zoe", "Sam", "Eva"];
    private static readonly string[] Items = ["apple", "book", "coin", "shell", "card", "stamp"];
    private static readonly string[] Keys = ["red", "blue", "green", "pink", "gray", "gold", "teal", "plum"];
    private static readonly (string From, string To, int Factor)[] Units =
        [("km", "m", 1000), ("kg", "g", 1000), ("m", "cm", 100), ("h", "min", 60), ("min", "s", 60), ("day", "h", 24)];
    private static readonly (string Animal, string Adj, string Place, string Verb)[] Animals =
    [
        ("cat", "curious", "house", "chase mice"), ("dog", "loyal", "yard", "fetch sticks"),
        ("owl", "wise", "forest", "hunt at night"), ("fish", "quiet", "river", "swim in circles"),
        ("horse", "strong", "field", "run fast"), ("bee", "busy", "garden", "make honey"),
        ("fox", "clever", "woods", "dig dens"), ("duck", "calm", "pond", "paddle around"),
        ("goat", "stubborn", "hills", "climb rocks"), ("frog", "small", "marsh", "catch flies"),
    ];

    private readonly Random random = new(seed);

    /// <summary>One example of the named task.</summary>
    public TaskExample Next(string task) => task switch
    {
        "add" => Add(),
        "sub" => Sub(),
        "mul" => Mul(),
        "word" => Word(),
        "lookup" => Lookup(),
        "sort" => Sort(),
        "reverse" => Reverse(),
        "convert" => Convert(),
        "prose" => Prose(),
        _ => throw new ArgumentException($"unknown task '{task}' (known: {string.Join(", ", Tasks)})", nameof(task)),
    };

    /// <summary>One example of a task chosen uniformly, or in proportion to <see cref="Weights"/> when set.</summary>
    public TaskExample Next()
    {
        if (Weights is null) return Next(Tasks[random.Next(Tasks.Length)]);
        var r = random.NextDouble() * Weights.Values.Sum();
        foreach (var (task, weight) in Weights)
        {
            r -= weight;
            if (r <= 0) return Next(task);
        }
        return Next(Weights.Keys.Last());
    }

    /// <summary>Relative frequency of each task in <see cref="Next()"/> (a curriculum); null = uniform.</summary>
    public IReadOnlyDictionary<string, double>? Weights { get; init; }

    /// <summary>Parses <c>add=3,sub=3,prose=0.5</c>; tasks not named keep weight 1.</summary>
    public static Dictionary<string, double> ParseWeights(string text)
    {
        var weights = Tasks.ToDictionary(t => t, _ => 1.0);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=');
            if (kv.Length != 2 || !weights.ContainsKey(kv[0]) || !double.TryParse(kv[1], System.Globalization.CultureInfo.InvariantCulture, out var w) || w < 0)
                throw new ArgumentException($"task weight '{part}' is not task=weight with a known task and a weight ≥ 0");
            weights[kv[0]] = w;
        }
        return weights;
    }

    private TaskExample Add()
    {
        int a = random.Next(100, 1000), b = random.Next(100, 1000);
        return new("add", $"What is {a}+{b}?", $"{a + b}");
    }

    private TaskExample Sub()
    {
        int a = random.Next(100, 1000), b = random.Next(100, 1000);
        if (a < b) (a, b) = (b, a);
        return new("sub", $"What is {a}-{b}?", $"{a - b}");
    }

    private TaskExample Mul()
    {
        int a = random.Next(10, 100), b = random.Next(2, 10);
        return new("mul", $"What is {a}*{b}?", $"{a * b}");
    }

    private TaskExample Word()
    {
        var name = Pick(Names); var item = Pick(Items);
        int a = random.Next(10, 100), b = random.Next(10, 100);
        if (random.Next(2) == 0)
            return new("word", $"{name} has {a} {item}s and gets {b} more. How many {item}s does {name} have?", $"{name} has {a + b} {item}s.");
        if (a < b) (a, b) = (b, a);
        return new("word", $"{name} has {a} {item}s and gives away {b}. How many {item}s does {name} have?", $"{name} has {a - b} {item}s.");
    }

    private TaskExample Lookup()
    {
        var keys = Keys.OrderBy(_ => random.Next()).Take(4).ToArray();
        var values = keys.Select(_ => random.Next(10, 100)).ToArray();
        int q = random.Next(4);
        var context = string.Join(", ", keys.Select((k, i) => $"{k}={values[i]}"));
        return new("lookup", $"{context}. What is {keys[q]}?", $"{keys[q]} is {values[q]}.");
    }

    private TaskExample Sort()
    {
        var digits = Enumerable.Range(0, 5).Select(_ => random.Next(10)).ToArray();
        return new("sort", $"Sort {string.Join(" ", digits)}.", string.Join(" ", digits.Order()));
    }

    private TaskExample Reverse()
    {
        var word = new string(Enumerable.Range(0, 5).Select(_ => (char)('a' + random.Next(26))).ToArray());
        return new("reverse", $"Reverse {word}.", new string(word.Reverse().ToArray()));
    }

    private TaskExample Convert()
    {
        var (from, to, factor) = Pick(Units);
        int n = random.Next(2, 50);
        return new("convert", $"Convert {n} {from} to {to}.", $"{n} {from} is {n * factor} {to}.");
    }

    private TaskExample Prose()
    {
        var (animal, adj, place, verb) = Pick(Animals);
        var name = Pick(Names); var color = Pick(Keys);
        return new("prose", $"Tell me about {name}'s {color} {animal}.", $"{name}'s {color} {animal} is {adj}. It lives in the {place} and likes to {verb}.");
    }

    private T Pick<T>(T[] items) => items[random.Next(items.Length)];

    /// <summary>A held-out suite: <paramref name="perTask"/> distinct examples of every task.</summary>
    public static List<TaskExample> HeldOut(int perTask, int seed = 1234)
    {
        var generator = new TaskGenerator(seed);
        var result = new List<TaskExample>();
        foreach (var task in Tasks)
        {
            var seen = new HashSet<string>();
            for (int tries = 0; seen.Count < perTask && tries < perTask * 50; tries++)
            {
                var ex = generator.Next(task);
                if (seen.Add(ex.Prompt)) result.Add(ex);
            }
        }
        return result;
    }

    /// <summary>An endless training stream that never yields a prompt of <paramref name="exclude"/>.</summary>
    public IEnumerable<TaskExample> TrainStream(IReadOnlySet<string> exclude)
    {
        while (true)
        {
            var ex = Next();
            if (!exclude.Contains(ex.Prompt)) yield return ex;
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void WriteJsonl(string path, IEnumerable<TaskExample> examples)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllLines(path, examples.Select(e => JsonSerializer.Serialize(e, JsonOptions)));
    }

    public static List<TaskExample> ReadJsonl(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"suite not found: {path}", path);
        return File.ReadLines(path).Where(l => l.Trim().Length > 0).Select((l, i) =>
            JsonSerializer.Deserialize<TaskExample>(l) ?? throw new InvalidDataException($"{path}:{i + 1}: not a task example")).ToList();
    }
}

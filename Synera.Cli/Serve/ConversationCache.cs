namespace Synera.Cli.Serve;

/// <summary>
/// Which cloud session a chat request continues. The OpenAI API has no conversation id: a client resends the whole
/// conversation each turn. A request whose prompt tokens extend an earlier turn's prompt continues that turn's
/// conversation, so its cloud session is re-opened and the verifier keeps the K/V of the shared prefix. Holds at most
/// <c>capacity</c> conversations (a device may keep only so many sessions open); the least recently used is closed.
/// </summary>
public sealed class ConversationCache(int capacity, Func<string, Task> close)
{
    private readonly Lock gate = new();
    private readonly LinkedList<(string id, int[] prompt)> entries = new();   // most recent first

    /// <summary>The conversation <paramref name="prompt"/> continues (taken out until <see cref="Remember"/>), or a new one.</summary>
    public string Continue(int[] prompt)
    {
        lock (gate)
        {
            for (var node = entries.First; node is not null; node = node.Next)
            {
                var earlier = node.Value.prompt;
                if (earlier.Length < prompt.Length && prompt.AsSpan(0, earlier.Length).SequenceEqual(earlier))
                {
                    entries.Remove(node);
                    return node.Value.id;
                }
            }
        }
        return $"chat-{Guid.NewGuid():N}";
    }

    /// <summary>Records the turn just answered; closes the least recently used conversation beyond the capacity.</summary>
    public async Task Remember(string conversation, int[] prompt)
    {
        string? evicted = null;
        lock (gate)
        {
            entries.AddFirst((conversation, prompt));
            if (entries.Count > capacity)
            {
                evicted = entries.Last!.Value.id;
                entries.RemoveLast();
            }
        }
        if (evicted is not null)
        {
            try { await close(evicted); } catch (Exception) { /* the session expires on its own (idle timeout) */ }
        }
    }

    /// <summary>Closes every conversation (the server stops).</summary>
    public async Task CloseAllAsync()
    {
        string[] ids;
        lock (gate) { ids = [.. entries.Select(e => e.id)]; entries.Clear(); }
        foreach (var id in ids)
        {
            try { await close(id); } catch (Exception) { }
        }
    }
}

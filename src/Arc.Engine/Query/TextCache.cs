using System.Collections.Concurrent;

namespace Arc.Engine.Query;

/// <summary>
/// Results that depend only on a SQL text (DuckDB's parse tree of it, its rendering), kept so the same dashboard query
/// sent again is not parsed again. Bounded by the characters it holds, keys and values (<paramref name="weight"/>, in
/// characters; keys only without it): when a new entry would pass the budget the cache starts over (dashboards repeat a
/// small set of texts; a burst of one-off texts only costs the parse again). Entries over a sixteenth of the budget are
/// never kept.
/// </summary>
internal sealed class TextCache<TValue>(long budgetChars, Func<TValue, int>? weight = null)
{
    private readonly ConcurrentDictionary<string, TValue> _entries = new(StringComparer.Ordinal);
    private long _chars;

    public TValue GetOrAdd(string text, Func<string, TValue> create)
    {
        if (_entries.TryGetValue(text, out var value))
        {
            return value;
        }

        value = create(text);
        var chars = text.Length + (long)(weight?.Invoke(value) ?? 0);
        if (chars > budgetChars / 16)
        {
            return value;
        }

        if (Interlocked.Add(ref _chars, chars) > budgetChars)
        {
            _entries.Clear();
            Interlocked.Exchange(ref _chars, chars);
        }

        _entries[text] = value;
        return value;
    }
}

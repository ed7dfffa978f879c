using System.Text;
using Arc.Engine.Storage;

namespace Arc.Engine.Query;

/// <summary>An encoded query response kept by <see cref="QueryResultCache"/>.</summary>
/// <param name="Body">The response body as sent (uncompressed).</param>
/// <param name="ContentType">Its media type.</param>
/// <param name="TimeOffset">Where the <c>execution_time_ms</c> number starts in <paramref name="Body"/> (-1: none), so a hit reports its own time.</param>
/// <param name="TimeLength">The number's length in bytes.</param>
public sealed record CachedQueryResult(byte[] Body, string ContentType, int TimeOffset = -1, int TimeLength = 0);

/// <summary>Counters and sizes of the cache (<c>GET /cache/stats</c>, <c>/metrics</c>).</summary>
public sealed record QueryCacheStats(
    long Entries,
    long Bytes,
    long MaxBytes,
    long MaxEntryBytes,
    TimeSpan Ttl,
    long Hits,
    long Misses,
    long Stores,
    long Rejected,
    long Evictions,
    long Expirations,
    long Invalidations)
{
    public double HitRatio => Hits + Misses == 0 ? 0 : (double)Hits / (Hits + Misses);
}

/// <summary>
/// Encoded responses of small query results, keyed by (output format, database, token scope, normalized SQL), bounded by
/// total size (least recently used entries are evicted) and by age (<c>cache.default_ttl</c>). Each entry records the
/// measurements its query read and their <see cref="DataVersions"/> before the query bound its data; an entry is only
/// served while those are unchanged, and a change (a commit or a compaction of one of them) removes its entries at once.
/// So an acknowledged write is never hidden by a cached result: the commit moves the version before it is acknowledged.
/// The TTL bounds staleness only for what versions cannot see: time functions such as <c>now()</c>.
/// </summary>
public sealed class QueryResultCache
{
    /// <summary>Approximate bookkeeping bytes per entry on top of its key and body.</summary>
    private const int EntryOverhead = 256;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), HashSet<Entry>> _byMeasurement = new(MeasurementNameComparer.Instance);
    private readonly LinkedList<Entry> _lru = new();
    private readonly Lock _lock = new();
    private readonly DataVersions _versions;
    private readonly TimeProvider _time;
    private long _bytes;
    private int _count;
    private long _hits, _misses, _stores, _rejected, _evictions, _expirations, _invalidations;

    public QueryResultCache(DataVersions versions, ResultCacheOptions options, TimeProvider time)
        : this(versions, options.MaxBytes, options.Ttl, options.MaxEntryBytes, time)
    {
    }

    /// <param name="versions">The measurements' data versions: a change removes the entries that read it.</param>
    /// <param name="maxBytes">The most all entries may take.</param>
    /// <param name="ttl">How long an entry is served.</param>
    /// <param name="maxEntryBytes">The largest result stored.</param>
    /// <param name="time">The clock entries age by (the engine's).</param>
    public QueryResultCache(DataVersions versions, long maxBytes, TimeSpan ttl, long maxEntryBytes, TimeProvider? time = null)
    {
        _versions = versions;
        _time = time ?? TimeProvider.System;
        MaxBytes = maxBytes;
        Ttl = ttl;
        MaxEntryBytes = Math.Min(maxEntryBytes, maxBytes);
        versions.Changed += Invalidate;
    }

    public long MaxBytes { get; }

    public long MaxEntryBytes { get; }

    public TimeSpan Ttl { get; }

    /// <summary>
    /// The cache key: output format, database, token scope (the databases a scoped token may read, or <c>*</c>) and the SQL
    /// with runs of whitespace outside quotes collapsed and trailing semicolons removed.
    /// </summary>
    public static string Key(string format, string database, string scope, string sql) =>
        string.Concat(format, "\n", database, "\n", scope, "\n", NormalizeSql(sql));

    public static string NormalizeSql(string sql)
    {
        var text = new StringBuilder(sql.Length);
        char quote = '\0';
        var pendingSpace = false;
        foreach (var c in sql.AsSpan().Trim())
        {
            if (quote == '\0' && char.IsWhiteSpace(c))
            {
                pendingSpace = true;
                continue;
            }

            if (pendingSpace)
            {
                text.Append(' ');
                pendingSpace = false;
            }

            text.Append(c);
            if (quote == '\0' && c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == quote)
            {
                quote = '\0'; // a doubled quote closes and reopens: the state comes out right
            }
        }

        while (text.Length > 0 && (text[^1] == ';' || char.IsWhiteSpace(text[^1])) && quote == '\0')
        {
            text.Length--;
        }

        return text.ToString();
    }

    /// <summary>The entry for <paramref name="key"/> if it is younger than the TTL and every measurement it read is unchanged.</summary>
    public bool TryGet(string key, out CachedQueryResult result)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var entry))
            {
                if (_time.GetTimestamp() >= entry.Expires)
                {
                    _expirations++;
                    RemoveLocked(entry);
                }
                else if (!entry.Dependencies.IsCurrent(_versions))
                {
                    _invalidations++;
                    RemoveLocked(entry);
                }
                else
                {
                    _lru.Remove(entry.Node);
                    _lru.AddFirst(entry.Node);
                    _hits++;
                    result = entry.Result;
                    return true;
                }
            }

            _misses++;
        }

        result = null!;
        return false;
    }

    /// <summary>Keeps <paramref name="result"/> unless it is too large or a measurement it read already changed.</summary>
    public bool Store(string key, CachedQueryResult result, QueryDependencies dependencies)
    {
        var size = result.Body.Length + (key.Length * 2) + EntryOverhead;
        lock (_lock)
        {
            if (result.Body.Length > MaxEntryBytes || size > MaxBytes || !dependencies.IsCurrent(_versions))
            {
                _rejected++;
                return false;
            }

            if (_entries.TryGetValue(key, out var existing))
            {
                RemoveLocked(existing);
            }

            var entry = new Entry(key, result, dependencies, size, _time.GetTimestamp() + (long)(Ttl.TotalSeconds * _time.TimestampFrequency));
            entry.Node = _lru.AddFirst(entry);
            _entries[key] = entry;
            foreach (var (database, measurement, _) in dependencies.Measurements)
            {
                if (!_byMeasurement.TryGetValue((database, measurement), out var set))
                {
                    _byMeasurement[(database, measurement)] = set = [];
                }

                set.Add(entry);
            }

            _bytes += size;
            _count++;
            _stores++;
            while (_bytes > MaxBytes && _lru.Last is { } oldest)
            {
                _evictions++;
                RemoveLocked(oldest.Value);
            }

            return true;
        }
    }

    /// <summary>Removes every entry; returns how many there were.</summary>
    public int Clear()
    {
        lock (_lock)
        {
            var count = _entries.Count;
            _entries.Clear();
            _byMeasurement.Clear();
            _lru.Clear();
            _bytes = 0;
            _count = 0;
            return count;
        }
    }

    public QueryCacheStats Stats()
    {
        lock (_lock)
        {
            return new QueryCacheStats(_entries.Count, _bytes, MaxBytes, MaxEntryBytes, Ttl, _hits, _misses, _stores, _rejected, _evictions,
                _expirations, _invalidations);
        }
    }

    /// <summary>A measurement changed: drop the entries that read it (called on the writer's thread; cheap when none do).</summary>
    private void Invalidate(string database, string measurement)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_byMeasurement.TryGetValue((database, measurement), out var entries))
            {
                foreach (var entry in entries.ToList())
                {
                    _invalidations++;
                    RemoveLocked(entry);
                }
            }
        }
    }

    private void RemoveLocked(Entry entry)
    {
        if (!_entries.Remove(entry.Key))
        {
            return;
        }

        _lru.Remove(entry.Node);
        foreach (var (database, measurement, _) in entry.Dependencies.Measurements)
        {
            if (_byMeasurement.TryGetValue((database, measurement), out var set))
            {
                set.Remove(entry);
                if (set.Count == 0)
                {
                    _byMeasurement.Remove((database, measurement));
                }
            }
        }

        _bytes -= entry.Size;
        _count--;
    }

    private sealed class Entry(string key, CachedQueryResult result, QueryDependencies dependencies, long size, long expires)
    {
        public string Key { get; } = key;

        public CachedQueryResult Result { get; } = result;

        public QueryDependencies Dependencies { get; } = dependencies;

        public long Size { get; } = size;

        public long Expires { get; } = expires;

        public LinkedListNode<Entry> Node { get; set; } = null!;
    }
}

/// <summary>The result cache's limits (<c>cache.max_size_mb</c>, <c>cache.default_ttl</c>, <c>cache.max_entry_size</c>).</summary>
public sealed record ResultCacheOptions(long MaxBytes, TimeSpan Ttl, long MaxEntryBytes);

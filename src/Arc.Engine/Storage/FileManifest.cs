using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;

namespace Arc.Engine.Storage;

/// <summary>A Parquet file of a measurement: where it is, the time range its partition bounds, its size and its columns.</summary>
/// <param name="MinTime">Earliest time (Unix ns) a row of the file can have: its rows' earliest when known (a flush, a merge,
/// the footer's statistics), else the start of its hour or day partition.</param>
/// <param name="MaxTime">Latest time (Unix ns) a row can have: its rows' latest when known, else the last nanosecond of its
/// partition.</param>
/// <param name="Columns">The file's column names, when known (null: read it by name like a file of another schema).</param>
internal sealed record ManifestFile(string Path, long MinTime, long MaxTime, long Bytes, IReadOnlySet<string>? Columns)
{
    /// <summary>The file's row count when known (with its rows' time range: a flush, a merge, a delete's rewrite, the footer).</summary>
    public long? Rows { get; init; }

    /// <summary>The file's rows kept in memory (the hot tier), read by <c>arc_buffer</c> instead of the file; null when cold.</summary>
    public RetainedRange[]? Retained { get; init; }

    /// <summary>
    /// The least and greatest value (UTF-8 bytes) of each string column of a file that holds a range of series (a level
    /// merge's output into the last level, <c>compaction.level_series_ranges</c>), by column name; null
    /// for other files. A statement requiring one of a few values of such a column skips the files whose range holds none
    /// of them (<see cref="Excludes"/>).
    /// </summary>
    public IReadOnlyDictionary<string, TagRange>? TagRanges { get; init; }

    /// <summary>
    /// Whether no row of the file can equal one of <paramref name="values"/> in <paramref name="column"/>: the values all fall
    /// outside the column's range, compared byte by byte as DuckDB compares strings.
    /// </summary>
    public bool Excludes(string column, string[] values)
    {
        if (TagRanges is null || !TagRanges.TryGetValue(column, out var range))
        {
            return false;
        }

        foreach (var value in values)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(value);
            if (bytes.AsSpan().SequenceCompareTo(range.Min) >= 0 && bytes.AsSpan().SequenceCompareTo(range.Max) <= 0)
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>The least and greatest value of a string column in a file, as UTF-8 bytes.</summary>
internal sealed record TagRange(byte[] Min, byte[] Max);

/// <summary>A merge's output: its path, its rows, and its string columns' ranges when it holds a range of series.</summary>
internal sealed record MergeOutput(string Path, long Rows, IReadOnlyDictionary<string, TagRange>? TagRanges);

/// <summary>A file's rows: their time range (Unix ns, both ends inclusive) and how many there are.</summary>
internal readonly record struct RowRange(long Min, long Max, long Count);

/// <summary>
/// The engine's own list of every measurement's Parquet files, so a query never globs the directory tree: rebuilt from the
/// files at startup, then kept by whatever adds or removes a file — a flush placing its parts, compaction placing its
/// output and retiring its inputs, quarantine, object storage fetching into or evicting from its cache — each under the
/// catalog's visibility write lock, so a query binding under the read lock sees a file list that never holds a row twice.
/// A file's time range is its rows' when known (a flush knows them, a merge takes its inputs' union, startup and fetched
/// files read the time column's statistics from the footer), within its partition's (<c>…/YYYY/MM/DD/HH/</c> an hour,
/// <c>…/YYYY/MM/DD/daily/</c> a day), which flushes and compaction guarantee; so a query over the last minutes of an hour
/// that still takes writes opens only the files holding those minutes. A file elsewhere counts as covering all time.
/// Readers take an immutable snapshot.
/// A file may also carry its rows in memory (<see cref="ManifestFile.Retained"/>, up to <paramref name="hotBudget"/> bytes
/// in all): queries then read those instead of the file, and whatever removes the file from the list lets them go in the
/// same step, so the rows are never read both ways or from a file that no longer holds them. The tier steps aside while
/// rows arrive faster than it could keep them for <paramref name="hotMinAge"/> (see <see cref="Admits"/>).
/// </summary>
internal sealed class FileManifest(LocalStore store, long hotBudget, TimeSpan hotMinAge, TimeProvider clock)
{
    private const long NanosPerDay = 24 * LocalStore.NanosPerHour;

    private readonly ConcurrentDictionary<(string Database, string Measurement), ImmutableArray<ManifestFile>> _files =
        new(MeasurementNames.Comparer);

    private readonly Lock _lock = new();

    private long _hotBytes;

    /// <summary>Rows offered to the tier within the last <c>hotMinAge</c> (clock timestamp, bytes), oldest first.</summary>
    private readonly Queue<(long At, long Bytes)> _offered = new();
    private long _offeredBytes;
    private bool _steppedAside;
    private long _steppedAsideAt;
    private long _stepsAside;

    private readonly ConcurrentDictionary<string, byte> _opened = new(StringComparer.Ordinal);
    private long _openedRemoved;

    /// <summary>The most memory retained rows may take (<c>query.hot_data_size_mb</c>); 0 keeps none.</summary>
    public long HotBudget => hotBudget;

    /// <summary>The memory retained rows take now (the <c>arc_hot_bytes</c> metric).</summary>
    public long HotBytes => Interlocked.Read(ref _hotBytes);

    /// <summary>Whether the tier has stepped aside (<see cref="Admits"/>), and how many times it did.</summary>
    public (bool Now, long Times) SteppedAside
    {
        get
        {
            lock (_lock)
            {
                return (_steppedAside, _stepsAside);
            }
        }
    }

    /// <summary>
    /// Counts a flush's <paramref name="bytes"/> of rows offered to the tier and answers whether to keep them. When more than
    /// the budget arrived within the last <c>hotMinAge</c> (<c>query.hot_data_min_seconds</c>), the tier could keep none of
    /// them that long: every flush would evict one a few seconds old, and the memory would churn for queries that read
    /// almost nothing from it (a 5-minute panel at 300,000 points/s found under ten seconds of its rows there). It then
    /// steps aside — lets go of every row it holds and keeps none — until what arrived within that time fits the budget
    /// again, and no sooner than that time after it stepped aside (so a rate near the line lets go of everything at most
    /// once in that time). Call under the visibility write lock (letting go changes what queries read).
    /// </summary>
    public bool Admits(long bytes)
    {
        if (hotBudget <= 0)
        {
            return false;
        }

        if (hotMinAge <= TimeSpan.Zero)
        {
            return true;
        }

        lock (_lock)
        {
            var now = clock.GetTimestamp();
            _offered.Enqueue((now, bytes));
            _offeredBytes += bytes;
            var span = (long)(hotMinAge.TotalSeconds * clock.TimestampFrequency);
            while (_offered.Peek().At < now - span)
            {
                _offeredBytes -= _offered.Dequeue().Bytes;
            }

            if (!_steppedAside && _offeredBytes > hotBudget)
            {
                (_steppedAside, _steppedAsideAt, _stepsAside) = (true, now, _stepsAside + 1);
                foreach (var (key, files) in _files)
                {
                    if (files.Any(f => f.Retained is not null))
                    {
                        LetGo(files);
                        _files[key] = [.. files.Select(f => f.Retained is null ? f : f with { Retained = null })];
                    }
                }
            }
            else if (_steppedAside && _offeredBytes <= hotBudget && now - _steppedAsideAt >= span)
            {
                _steppedAside = false;
            }

            return !_steppedAside;
        }
    }

    /// <summary>
    /// Of the files whose footers the query DuckDB may hold (<see cref="Opened"/> since <see cref="ForgetOpened"/>), how many
    /// were removed from the list since (replaced, deleted, expired, dropped) and how many are still listed.
    /// </summary>
    public (long Removed, int Listed) OpenedFiles => (Interlocked.Read(ref _openedRemoved), _opened.Count);

    /// <summary>Records files the query DuckDB is given to read (it then caches their footers).</summary>
    public void Opened(IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            _opened.TryAdd(path, 0);
        }
    }

    /// <summary>Starts <see cref="OpenedFiles"/> over (a new query DuckDB holds no footer).</summary>
    public void ForgetOpened()
    {
        _opened.Clear();
        Interlocked.Exchange(ref _openedRemoved, 0);
    }

    private void Gone(IEnumerable<ManifestFile> files)
    {
        foreach (var file in files)
        {
            if (_opened.TryRemove(file.Path, out _))
            {
                Interlocked.Increment(ref _openedRemoved);
            }
        }
    }

    /// <summary>Lists every measurement's files from disk (startup, after crash recovery finished its renames).</summary>
    public void Rebuild()
    {
        lock (_lock)
        {
            foreach (var files in _files.Values)
            {
                LetGo(files);
            }

            _files.Clear();
            foreach (var database in store.Databases())
            {
                foreach (var measurement in store.Measurements(database))
                {
                    var files = store.Files(database, measurement).Select(f => Describe(f.FullName, f.Length, null)).OfType<ManifestFile>();
                    var sorted = Sorted(files);
                    if (sorted.Length > 0)
                    {
                        _files[(database, measurement)] = sorted;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Records files that were just placed (paths under the storage root), with their columns and their rows' time range and
    /// count (<paramref name="rows"/>, by path as given) when known.
    /// </summary>
    public void Added(IEnumerable<string> paths, IReadOnlySet<string>? columns = null, Func<string, RowRange?>? rows = null)
    {
        lock (_lock)
        {
            foreach (var group in paths.Select(p => Describe(p, new FileInfo(p).Length, columns, rows?.Invoke(p))).OfType<ManifestFile>()
                         .GroupBy(f => Key(f.Path)))
            {
                var current = _files.GetValueOrDefault(group.Key, []);
                var known = current.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
                _files[group.Key] = Sorted(current.Concat(group.Where(f => known.Add(f.Path))));
            }
        }
    }

    /// <summary>Records the columns of files read from their footers (startup, fetched files).</summary>
    public void SetColumns(IReadOnlyDictionary<string, IReadOnlySet<string>> columns)
    {
        lock (_lock)
        {
            foreach (var (key, files) in _files.ToList())
            {
                if (files.Any(f => columns.ContainsKey(f.Path)))
                {
                    _files[key] = [.. files.Select(f => columns.TryGetValue(f.Path, out var c) ? f with { Columns = c } : f)];
                }
            }
        }
    }

    /// <summary>
    /// Narrows the time range of files to their rows' and records their count (read from their footers: startup, fetched
    /// files); a range outside a file's partition is ignored.
    /// </summary>
    public void SetRows(IReadOnlyDictionary<string, RowRange> rows)
    {
        lock (_lock)
        {
            foreach (var (key, files) in _files.ToList())
            {
                if (files.Any(f => rows.ContainsKey(f.Path)))
                {
                    _files[key] = Sorted(files.Select(f => rows.TryGetValue(f.Path, out var r) && Describe(f.Path, f.Bytes, f.Columns, r) is { } narrowed
                        ? f with { MinTime = narrowed.MinTime, MaxTime = narrowed.MaxTime, Rows = narrowed.Rows }
                        : f));
                }
            }
        }
    }

    /// <summary>Records the string columns' ranges of files holding a range of series (<see cref="ManifestFile.TagRanges"/>).</summary>
    public void SetTagRanges(IReadOnlyDictionary<string, IReadOnlyDictionary<string, TagRange>> ranges)
    {
        lock (_lock)
        {
            foreach (var (key, files) in _files.ToList())
            {
                if (files.Any(f => ranges.ContainsKey(f.Path)))
                {
                    _files[key] = [.. files.Select(f => ranges.TryGetValue(f.Path, out var r) ? f with { TagRanges = r } : f)];
                }
            }
        }
    }

    /// <summary>The time range the manifest has for a file, null when it does not list it.</summary>
    public (long Min, long Max)? TimeOf(string path)
    {
        var full = Path.GetFullPath(path);
        return Files(Key(full)).FirstOrDefault(f => f.Path == full) is { } file ? (file.MinTime, file.MaxTime) : null;
    }

    /// <summary>The union of the columns of <paramref name="paths"/>; null unless every one of them is known.</summary>
    public IReadOnlySet<string>? ColumnsOf(string database, string measurement, IEnumerable<string> paths)
    {
        var byPath = Files(database, measurement).ToDictionary(f => f.Path, StringComparer.Ordinal);
        var union = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            if (!byPath.TryGetValue(Path.GetFullPath(path), out var file) || file.Columns is null)
            {
                return null;
            }

            union.UnionWith(file.Columns);
        }

        return union;
    }

    /// <summary>Forgets files that were replaced or removed (their deletion may wait for running queries).</summary>
    public void Removed(IEnumerable<string> paths)
    {
        lock (_lock)
        {
            foreach (var group in paths.Select(Path.GetFullPath).GroupBy(Key))
            {
                if (_files.TryGetValue(group.Key, out var current))
                {
                    var gone = group.ToHashSet(StringComparer.Ordinal);
                    var removed = current.Where(f => gone.Contains(f.Path)).ToList();
                    LetGo(removed);
                    Gone(removed);
                    var kept = current.RemoveAll(f => gone.Contains(f.Path));
                    if (kept.Length == 0)
                    {
                        _files.TryRemove(group.Key, out _);
                    }
                    else
                    {
                        _files[group.Key] = kept;
                    }
                }
            }
        }
    }

    /// <summary>Forgets every file of a dropped database (<paramref name="measurement"/> null) or measurement; returns their paths.</summary>
    public List<string> Forget(string database, string? measurement)
    {
        lock (_lock)
        {
            var paths = new List<string>();
            foreach (var key in _files.Keys.Where(k => k.Database.Equals(database, StringComparison.OrdinalIgnoreCase)
                                                        && (measurement is null || k.Measurement.Equals(measurement, StringComparison.OrdinalIgnoreCase))).ToList())
            {
                if (_files.TryRemove(key, out var files))
                {
                    LetGo(files);
                    Gone(files);
                    paths.AddRange(files.Select(f => f.Path));
                }
            }

            return paths;
        }
    }

    /// <summary>A measurement's files, ordered by the start of their time range.</summary>
    public ImmutableArray<ManifestFile> Files(string database, string measurement) =>
        _files.GetValueOrDefault((database, measurement), []);

    /// <summary>The files whose time range meets [<paramref name="low"/>, <paramref name="high"/>] (Unix ns, inclusive).</summary>
    public List<ManifestFile> Overlapping(string database, string measurement, long low, long high)
    {
        var files = Files(database, measurement);
        var result = new List<ManifestFile>();
        foreach (var file in files)
        {
            if (file.MinTime > high)
            {
                break; // ordered by MinTime: nothing later can overlap
            }

            if (file.MaxTime >= low)
            {
                result.Add(file);
            }
        }

        return result;
    }

    /// <summary>
    /// Keeps the rows of files just placed in memory: <paramref name="parts"/> are the files (as listed by <see cref="Added"/>)
    /// and the rows of <paramref name="set"/> each holds, with their earliest and latest time. Then the oldest retained rows
    /// are let go while they take more than the budget. Call under the visibility write lock, in the step that lists the
    /// files, so no query sees them cold first.
    /// The set is disposed (once no query reads it) as soon as no file holds it, here already if none could.
    /// </summary>
    public void Retain(RetainedSet set, IReadOnlyList<(string Path, int Start, int End, long MinTime, long MaxTime)> parts)
    {
        lock (_lock)
        {
            if (set.Bytes <= hotBudget && !_steppedAside)
            {
                foreach (var (path, start, end, minTime, maxTime) in parts)
                {
                    var full = Path.GetFullPath(path);
                    var key = Key(full);
                    if (end > start && _files.TryGetValue(key, out var current)
                        && current.FirstOrDefault(f => f.Path == full) is { Retained: null } file)
                    {
                        RetainedRange[] ranges = [new(set, start, end, minTime, maxTime)];
                        Hold(ranges);
                        _files[key] = current.Replace(file, file with { Retained = ranges });
                    }
                }

                Evict();
            }

            if (set.Holders == 0)
            {
                set.Rows.Dispose();
            }
        }
    }

    /// <summary>
    /// Lists a merge's outputs (each with its rows, and its string columns' ranges when it holds a range of series) in place
    /// of its inputs, each output's time range the union of theirs (its partition's, and its rows unknown, when one of them
    /// is not listed). With <paramref name="keepRetained"/> (the one output holds exactly the inputs' rows: nothing removed,
    /// no duplicate dropped) and every input retained, the output reads from the inputs' sets, so merging costs the tier
    /// nothing; otherwise their rows are let go and the outputs are read from their files. Call under the visibility write
    /// lock.
    /// </summary>
    public void Replaced(IReadOnlyList<string> inputs, IReadOnlyList<MergeOutput> outputs, IReadOnlySet<string>? columns, bool keepRetained)
    {
        lock (_lock)
        {
            var key = Key(Path.GetFullPath(outputs[0].Path));
            var gone = inputs.Select(Path.GetFullPath).ToHashSet(StringComparer.Ordinal);
            var replaced = _files.GetValueOrDefault(key, []).Where(f => gone.Contains(f.Path)).ToList();
            var rows = outputs.ToDictionary(o => o.Path, o => o.Rows, StringComparer.Ordinal);
            Added(outputs.Select(o => o.Path), columns, path => replaced.Count == gone.Count && replaced.Count > 0
                ? new RowRange(replaced.Min(f => f.MinTime), replaced.Max(f => f.MaxTime), rows[path])
                : null);
            var current = _files.GetValueOrDefault(key, []);
            var full = Path.GetFullPath(outputs[0].Path);
            if (outputs.Count == 1 && keepRetained && replaced.Count == gone.Count && replaced.All(f => f.Retained is not null)
                && current.FirstOrDefault(f => f.Path == full) is { Retained: null } file)
            {
                RetainedRange[] ranges = [.. replaced.SelectMany(f => f.Retained!)];
                Hold(ranges);
                _files[key] = current.Replace(file, file with { Retained = ranges });
            }

            var tagRanges = outputs.Where(o => o.TagRanges is not null)
                .ToDictionary(o => Path.GetFullPath(o.Path), o => o.TagRanges!, StringComparer.Ordinal);
            if (tagRanges.Count > 0)
            {
                SetTagRanges(tagRanges);
            }

            Removed(inputs);
        }
    }

    /// <summary>
    /// The rows held in memory of a measurement's files, for a statement reading from <paramref name="from"/> (Unix ns) on:
    /// ranges whose last time is earlier are left out. Call under the visibility read lock; the caller shares the sets.
    /// </summary>
    public List<RetainedRange> Retained(string database, string measurement, long from)
    {
        var result = new List<RetainedRange>();
        foreach (var file in Files(database, measurement))
        {
            if (file.Retained is { } ranges && file.MaxTime >= from)
            {
                foreach (var range in ranges)
                {
                    if (range.MaxTime >= from)
                    {
                        result.Add(range);
                    }
                }
            }
        }

        return result;
    }

    /// <summary>Whether the file's rows are in memory (object storage's cache leaves such a file on disk).</summary>
    public bool IsRetained(string path)
    {
        var full = Path.GetFullPath(path);
        return Files(Key(full)).Any(f => f.Path == full && f.Retained is not null);
    }

    private ImmutableArray<ManifestFile> Files((string, string) key) => _files.GetValueOrDefault(key, []);

    /// <summary>Lets go of the oldest retained rows (by their newest time) while they take more than the budget.</summary>
    private void Evict()
    {
        while (Interlocked.Read(ref _hotBytes) > hotBudget)
        {
            (string, string)? oldestKey = null;
            ManifestFile? oldest = null;
            long oldestTime = long.MaxValue;
            foreach (var (key, files) in _files)
            {
                foreach (var file in files)
                {
                    if (file.Retained is { } ranges && ranges.Max(r => r.MaxTime) is var newest && newest <= oldestTime)
                    {
                        (oldestKey, oldest, oldestTime) = (key, file, newest);
                    }
                }
            }

            if (oldest is null)
            {
                return;
            }

            LetGo([oldest]);
            _files[oldestKey!.Value] = _files[oldestKey.Value].Replace(oldest, oldest with { Retained = null });
        }
    }

    private void Hold(IEnumerable<RetainedRange> ranges)
    {
        foreach (var set in ranges.Select(r => r.Set).Distinct())
        {
            if (set.Holders++ == 0)
            {
                Interlocked.Add(ref _hotBytes, set.Bytes);
            }
        }
    }

    private void LetGo(IEnumerable<ManifestFile> files)
    {
        foreach (var file in files)
        {
            if (file.Retained is not { } ranges)
            {
                continue;
            }

            foreach (var set in ranges.Select(r => r.Set).Distinct())
            {
                if (--set.Holders == 0)
                {
                    Interlocked.Add(ref _hotBytes, -set.Bytes);
                    set.Rows.Dispose(); // back to the pool once the queries sharing it are done
                }
            }
        }
    }

    /// <summary>The database and measurement a path under the root belongs to (its first two directories).</summary>
    private (string, string) Key(string path)
    {
        var parts = Path.GetRelativePath(store.Root, path).Split(Path.DirectorySeparatorChar);
        return parts.Length >= 3 ? (parts[0], parts[1]) : ("", "");
    }

    private ManifestFile? Describe(string path, long bytes, IReadOnlySet<string>? columns, RowRange? rows = null)
    {
        var full = Path.GetFullPath(path);
        var parts = Path.GetRelativePath(store.Root, full).Split(Path.DirectorySeparatorChar);
        if (parts.Length < 3 || parts[0].StartsWith('.'))
        {
            return null;
        }

        // The rows' range narrows the partition's; one that does not meet it (not expected) is not trusted.
        var (min, max) = PartitionRange(parts);
        if (rows is { } r && r.Min <= r.Max && r.Min <= max && r.Max >= min)
        {
            return new ManifestFile(full, Math.Max(min, r.Min), Math.Min(max, r.Max), bytes, columns) { Rows = r.Count };
        }

        return new ManifestFile(full, min, max, bytes, columns);
    }

    /// <summary>
    /// The time range (Unix ns, inclusive) a file's partition bounds, from its path under the root
    /// (<c>db/m/YYYY/MM/DD/HH/file</c> or <c>…/daily/file</c>); a file elsewhere covers all time.
    /// </summary>
    public static (long Min, long Max) PartitionRange(LocalStore store, string path) =>
        PartitionRange(Path.GetRelativePath(store.Root, Path.GetFullPath(path)).Split(Path.DirectorySeparatorChar));

    private static (long Min, long Max) PartitionRange(string[] parts)
    {
        var (min, max) = (long.MinValue, long.MaxValue);
        if (parts.Length == 7 && Number(parts[2]) is { } year && Number(parts[3]) is { } month && Number(parts[4]) is { } day
            && year is >= 1 and <= 9999 && month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(year, month))
        {
            var dayStart = (new DateTime(year, month, day, 0, 0, 0, DateTimeKind.Utc) - DateTime.UnixEpoch).Ticks * 100;
            if (parts[5] == LocalStore.DailyDirectory)
            {
                (min, max) = (dayStart, dayStart + NanosPerDay - 1);
            }
            else if (Number(parts[5]) is { } hour and >= 0 and < 24)
            {
                min = dayStart + (hour * LocalStore.NanosPerHour);
                max = min + LocalStore.NanosPerHour - 1;
            }
        }

        return (min, max);

        static int? Number(string text) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    private static ImmutableArray<ManifestFile> Sorted(IEnumerable<ManifestFile> files) =>
        [.. files.OrderBy(f => f.MinTime).ThenBy(f => f.Path, StringComparer.Ordinal)];
}

/// <summary>Database and measurement names compare ignoring case, as DuckDB and the catalog resolve them.</summary>
internal sealed class MeasurementNames : IEqualityComparer<(string Database, string Measurement)>
{
    public static readonly MeasurementNames Comparer = new();

    public bool Equals((string Database, string Measurement) x, (string Database, string Measurement) y) =>
        StringComparer.OrdinalIgnoreCase.Equals(x.Database, y.Database) && StringComparer.OrdinalIgnoreCase.Equals(x.Measurement, y.Measurement);

    public int GetHashCode((string Database, string Measurement) key) =>
        HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(key.Database), StringComparer.OrdinalIgnoreCase.GetHashCode(key.Measurement));
}

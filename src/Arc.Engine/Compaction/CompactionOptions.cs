namespace Arc.Engine.Compaction;

/// <summary>How rows are ordered inside compacted files (<c>compaction.sort_order</c>).</summary>
public enum CompactionSortOrder
{
    /// <summary>By the measurement's tag columns, then time: each series' rows sit together (the default; see docs/storage.md, Compaction).</summary>
    TagsThenTime,
    /// <summary>By time only.</summary>
    Time,
}

/// <summary>Compaction settings, with Arc's key names and defaults.</summary>
public sealed record CompactionOptions
{
    /// <summary><c>compaction.enabled</c>: run the schedules (the API can always trigger a run).</summary>
    public bool Enabled { get; init; } = true;

    public bool HourlyEnabled { get; init; } = true;

    public bool DailyEnabled { get; init; } = true;

    /// <summary><c>compaction.hourly_schedule</c> (cron, UTC).</summary>
    public string HourlySchedule { get; init; } = "5 * * * *";

    /// <summary><c>compaction.daily_schedule</c> (cron, UTC).</summary>
    public string DailySchedule { get; init; } = "0 3 * * *";

    /// <summary>An hour partition is a candidate once its hour ended at least this long ago.</summary>
    public TimeSpan HourlyMinAge { get; init; } = TimeSpan.Zero;

    /// <summary>...and it holds at least this many files.</summary>
    public int HourlyMinFiles { get; init; } = 10;

    /// <summary>A day is a candidate once it ended at least this long ago...</summary>
    public TimeSpan DailyMinAge { get; init; } = TimeSpan.FromHours(24);

    /// <summary>...and it holds at least this many files.</summary>
    public int DailyMinFiles { get; init; } = 12;

    /// <summary>
    /// <c>compaction.level_enabled</c>: merge the flushed files of a partition while it still takes writes (level merges,
    /// started after flushes when <see cref="Enabled"/>), so small files never pile up until the hour closes.
    /// </summary>
    public bool LevelEnabled { get; init; } = true;

    /// <summary>
    /// <c>compaction.level_min_files</c>: a level merge takes at least this many consecutive flushed files of similar size
    /// (see docs/storage.md, Level merges); it is also the size ratio between levels.
    /// </summary>
    public int LevelMinFiles { get; init; } = 4;

    /// <summary><c>compaction.level_max_file_size_mb</c>: files this big are left to hourly compaction (the last level's size).</summary>
    public long LevelMaxFileBytes { get; init; } = 256L << 20;

    /// <summary>
    /// <c>compaction.level_max_rows</c>: files of this many rows are left to hourly compaction, and a level merge takes at most
    /// this many rows in all. A merge's time and memory follow its rows (sorting, the duplicate check) more than its bytes:
    /// narrow time series compress to a few bytes a row, so 256 MB can hold a hundred million rows.
    /// </summary>
    public long LevelMaxRows { get; init; } = 16_000_000;

    /// <summary>
    /// <c>compaction.level_series_ranges</c>: a level merge into the last level takes up to this many times
    /// <see cref="LevelMinFiles"/> files (and this many times the byte and row limits) and writes its output as up to this many
    /// files, each a range of series at the last level's size, so a query over a few series opens a file per range
    /// (<see cref="Storage.ManifestFile.TagRanges"/>) that covers this many times the span of a last-level file. Only for
    /// measurements merged by series (no sort keys, <see cref="CompactionSortOrder.TagsThenTime"/>); 1: one file a merge.
    /// </summary>
    public int LevelSeriesRanges { get; init; } = 4;

    /// <summary>Jobs running at once.</summary>
    public int MaxConcurrent { get; init; } = 2;

    /// <summary>Most input files one job merges.</summary>
    public int MaxFilesPerBatch { get; init; } = 30;

    /// <summary>
    /// <c>compaction.threads</c>: DuckDB threads for compaction (0: <see cref="DuckDbThreads"/>'s default), on an instance
    /// apart from the query engine's so queries keep theirs.
    /// </summary>
    public int Threads { get; init; }

    /// <summary>
    /// The compaction instance's worker threads: <see cref="Threads"/>, or half the cores (at least one) when 0, so a
    /// machine with cores to spare sorts and writes a merge in parallel while the other half stays with ingestion and queries.
    /// </summary>
    public int DuckDbThreads => Threads > 0 ? Threads : Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>
    /// <c>compaction.nice</c>: the nice value (0–19, Linux) of the threads compaction jobs compute on
    /// (<see cref="CompactionThreads"/>), so ingestion and queries come first on a busy machine; level merges of a partition
    /// that is falling behind (<see cref="CompactionCandidate.Behind"/>) take a normal-priority one. 0: every job at the
    /// normal priority.
    /// </summary>
    public int Nice { get; init; } = 10;

    /// <summary>DuckDB memory limit for compaction (empty: 25% of DuckDB's default); spills beyond it.</summary>
    public string MemoryLimit { get; init; } = "";

    public CompactionSortOrder SortOrder { get; init; } = CompactionSortOrder.TagsThenTime;

    /// <summary>
    /// Arc's <c>ingest.sort_keys</c>: per measurement name (in every database), the columns compacted files are sorted by,
    /// then time unless listed. Takes precedence over <see cref="DefaultSortKeys"/> and <see cref="SortOrder"/>.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> SortKeys { get; init; } =
        new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Arc's <c>ingest.default_sort_keys</c>: the same for measurements without an entry; empty: <see cref="SortOrder"/>.</summary>
    public IReadOnlyList<string> DefaultSortKeys { get; init; } = [];

    /// <summary>The configured sort columns of <paramref name="measurement"/>; empty when <see cref="SortOrder"/> decides.</summary>
    internal IReadOnlyList<string> SortKeysOf(string measurement) =>
        SortKeys.TryGetValue(measurement, out var keys) ? keys : DefaultSortKeys;

    /// <summary>
    /// How many series ranges a level merge of <paramref name="measurement"/> into the last level writes
    /// (<see cref="LevelSeriesRanges"/>): 1 unless its merges order rows by series (no sort keys, tags then time).
    /// </summary>
    internal int SeriesRangesOf(string measurement) =>
        SortKeysOf(measurement).Count == 0 && SortOrder == CompactionSortOrder.TagsThenTime ? Math.Max(1, LevelSeriesRanges) : 1;
}

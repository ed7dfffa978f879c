namespace Arc.Engine;

/// <summary>Everything the engine is configured with (the host maps arc.toml keys onto it).</summary>
public sealed record EngineOptions : Ingest.IIngestSettings, Query.IQuerySettings
{
    /// <summary>Root of the Parquet tree (<c>storage.local_path</c>).</summary>
    public required string DataPath { get; init; }

    /// <summary>
    /// Rows buffered per measurement before a flush (<c>ingest.max_buffer_size</c>). 250,000 (Arc: 50,000): at a high rate
    /// a flush per second or so, so compaction has one level of merges fewer to do than with flushes of 50,000 rows, and
    /// the recent window has fewer files (docs/benchmarks.md, Flushes in series order).
    /// </summary>
    public int MaxBufferRows { get; init; } = 250_000;

    /// <summary>Oldest a buffered row may get before its buffer is flushed (<c>ingest.max_buffer_age_ms</c>).</summary>
    public TimeSpan MaxBufferAge { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Bytes of buffer memory per measurement that also trigger a flush.</summary>
    public long MaxBufferBytes { get; init; } = 256L << 20;

    /// <summary>
    /// Memory all buffered rows may take (active buffers and flushes in progress) before writes are refused with 503
    /// (<c>ingest.max_memory</c>).
    /// </summary>
    public long MaxBufferMemory { get; init; } = DefaultMemoryBudget();

    /// <summary>Default of <see cref="BufferPoolBytes"/>: 128 MB.</summary>
    public const long DefaultBufferPoolBytes = 128L << 20;

    /// <summary>
    /// Free column-buffer arrays kept for reuse (<c>ingest.buffer_pool_size</c>); arrays returned beyond it are left to the
    /// garbage collector. Process-wide: the last engine started sets it.
    /// </summary>
    public long BufferPoolBytes { get; init; } = DefaultBufferPoolBytes;

    /// <summary>Whether commits go through the write-ahead log (<c>wal.enabled</c>).</summary>
    public bool WalEnabled { get; init; } = true;

    /// <summary>
    /// Where WAL segments live (<c>wal.directory</c>); by default <c>.wal</c> inside <see cref="DataPath"/>, so moving or
    /// backing up the data directory takes the log along (Arc's default is the separate <c>./data/wal</c>).
    /// </summary>
    public string? WalDirectory { get; init; }

    internal string WalPath => WalDirectory ?? Path.Combine(DataPath, ".wal");

    /// <summary><c>wal.sync_mode</c>: fdatasync (default), fsync or async.</summary>
    public Wal.WalSyncMode WalSyncMode { get; init; } = Wal.WalSyncMode.FDataSync;

    /// <summary>Segment size before rotation (<c>wal.max_size_mb</c>).</summary>
    public long WalMaxSegmentBytes { get; init; } = 100L << 20;

    /// <summary>
    /// Segment age before rotation (<c>wal.max_age_seconds</c>). A minute (Arc: an hour) so flushed commits leave the log
    /// soon and compaction may rewrite files older than about that.
    /// </summary>
    public TimeSpan WalMaxSegmentAge { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Codec of the files flushes write (<c>ingest.compression</c>): zstd, snappy, gzip, lz4, brotli or uncompressed. Level
    /// merges and compaction always write ZSTD. LZ4 costs a flush less CPU for larger files (docs/benchmarks.md); ZSTD stays
    /// the default, as the recent-window query of the soak read LZ4 flushes slower.
    /// </summary>
    public string Compression { get; init; } = "zstd";

    /// <summary>Rows per Parquet row group.</summary>
    public int RowGroupSize { get; init; } = 122_880;

    /// <summary>Parallel Parquet writers (<c>ingest.flush_workers</c>).</summary>
    public int FlushWorkers { get; init; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>
    /// Flushes write a measurement's rows by series (tags then time) when its merges sort them so: no configured sort keys
    /// and <c>compaction.sort_order</c> tags then time (the defaults). Compaction then merges flushed files as sorted streams.
    /// </summary>
    public bool FlushesBySeries(string measurement) =>
        Compaction.SortOrder == Arc.Engine.Compaction.CompactionSortOrder.TagsThenTime && Compaction.SortKeysOf(measurement).Count == 0;

    /// <summary>DuckDB worker threads (<c>database.thread_count</c>); 0 lets DuckDB decide.</summary>
    public int DuckDbThreads { get; init; }

    /// <summary>
    /// Whether the query DuckDB keeps the Parquet footers it read between queries (<c>database.parquet_metadata_cache</c>).
    /// On, a query reads no footer it read before; the cost is memory: footers of files merged away stay until the instance
    /// is renewed (<see cref="RenewAfterFilesRemoved"/>). Off, each query parses the footers of the files it opens (from the
    /// page cache).
    /// </summary>
    public bool ParquetMetadataCache { get; init; } = true;

    /// <summary>
    /// With <see cref="ParquetMetadataCache"/> on, the query DuckDB is replaced by a fresh one (views, functions and settings
    /// made again; running queries finish on the old one) once this many of the Parquet files it was given to read have been
    /// removed (merged, deleted, expired, evicted from the object storage cache) and they outnumber those of them still
    /// listed (<c>database.renew_after_files_removed</c>): DuckDB 1.5 keeps the footer of every file it read until
    /// <see cref="DuckDbMemoryLimit"/> forces it out, so without this the cache grows with every file flushed and merged. The
    /// new instance reads each remaining file's footer once again. 0: never.
    /// </summary>
    public int RenewAfterFilesRemoved { get; init; } = 250;

    /// <summary>
    /// DuckDB memory limit such as <c>4GB</c> (<c>database.memory_limit</c>); empty: half of the memory available to the
    /// process (DuckDB's own default, 80%, leaves too little beside the write buffers and result spools). Operators beyond it
    /// spill to <see cref="DuckDbTempDirectory"/> or fail with DuckDB's out-of-memory error (a 400).
    /// </summary>
    public string DuckDbMemoryLimit { get; init; } = "";

    /// <summary>
    /// Most bytes DuckDB may spill to its temp directory (<c>database.max_temp_directory_size</c>), such as <c>20GB</c>;
    /// empty: half of the free space of that directory's file system when the server starts (DuckDB's own default is 90%).
    /// </summary>
    public string DuckDbMaxTempDirectorySize { get; init; } = "";

    /// <summary>Where DuckDB spills (<c>database.temp_directory</c>); empty: under the data path.</summary>
    public string DuckDbTempDirectory { get; init; } = "";

    /// <summary>Queries that may run at once (<c>database.max_connections</c>).</summary>
    public int QueryConnections { get; init; } = Math.Max(2, Environment.ProcessorCount * 2);

    /// <summary>
    /// Queries that may wait for a connection when all are busy (<c>query.queue_size</c>); more get 503. Critical-priority
    /// queries are not counted.
    /// </summary>
    public int QueryQueueSize { get; init; } = 256;

    /// <summary>Longest a query waits for a connection before it gets 503 (<c>query.queue_timeout</c>).</summary>
    public TimeSpan QueryQueueTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest SQL text accepted, in characters (<c>query.max_sql_length</c>); longer gets 413.</summary>
    public int MaxSqlLength { get; init; } = 1 << 20;

    /// <summary>
    /// Most query blocks (SELECTs, set operations, CTEs, subqueries) and table references in one statement's parse tree
    /// (<c>query.max_query_blocks</c>); more gets 400 before DuckDB plans it, as planning cannot be interrupted.
    /// </summary>
    public int MaxQueryBlocks { get; init; } = 1000;

    /// <summary>Longest a query may run (<c>query.timeout</c>).</summary>
    public TimeSpan QueryTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Most tag and field columns a measurement may have.</summary>
    public int MaxColumnsPerMeasurement { get; init; } = 4096;

    /// <summary>Longest tag or field name in bytes.</summary>
    public int MaxNameBytes { get; init; } = 256;

    /// <summary>Most distinct measurements one write request may touch.</summary>
    public int MaxMeasurementsPerRequest { get; init; } = 1000;

    /// <summary>Object storage (<c>storage.backend</c> other than local); null keeps everything on local disk.</summary>
    public Storage.Remote.ObjectStoreOptions? ObjectStore { get; init; }

    /// <summary>The clock: schedules, ages and timestamps of compaction, object storage and the log (tests pass a fake one).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The query result cache (<c>cache.*</c>); null leaves it off.</summary>
    public Query.ResultCacheOptions? ResultCache { get; init; }

    /// <summary>Export jobs (<c>export.*</c>); null leaves them off.</summary>
    public Export.ExportOptions? Export { get; init; }

    /// <summary>Retention policies (<c>retention.*</c>); null leaves them off.</summary>
    public Retention.RetentionOptions? Retention { get; init; }

    /// <summary>Continuous queries (<c>continuous_query.*</c>); null leaves them off.</summary>
    public ContinuousQueries.ContinuousQueryOptions? ContinuousQueries { get; init; }

    /// <summary>Compaction settings (<c>compaction.*</c>).</summary>
    public Compaction.CompactionOptions Compaction { get; init; } = new();

    /// <summary>
    /// JSON and CSV results up to this size are encoded in memory and their connection returned before anything is sent;
    /// larger ones stream (<c>query.result_buffer_size</c>, 0 streams everything).
    /// </summary>
    public long ResultBufferBytes { get; init; } = 1L << 20;

    /// <summary>
    /// Memory for flushed rows kept after they are written, so queries over recent data read them in place instead of
    /// opening their Parquet files (<c>query.hot_data_size_mb</c>, default 256 MB, 0 keeps none); the oldest go first. A
    /// last-hour panel read from memory costs about five eighths of one reading its files (docs/benchmarks.md).
    /// </summary>
    public long HotDataBytes { get; init; } = 256L << 20;

    /// <summary>
    /// The hot tier steps aside (keeps nothing) while more than <see cref="HotDataBytes"/> of rows are flushed within this
    /// time, so it could keep none of them that long, and comes back once what arrives in that time fits the budget
    /// (<c>query.hot_data_min_seconds</c>, default 60 s; 0 keeps rows at any rate).
    /// </summary>
    public TimeSpan HotDataMinAge { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Fill the hot tier after a start from the newest files, in the background (<c>query.hot_data_warm</c>, local storage
    /// only), so recent data is read from memory without waiting for new flushes.
    /// </summary>
    public bool HotDataWarmup { get; init; } = true;

    /// <summary>
    /// How long no query may have held a connection before the fill reads its next file: it yields to queries, so a run of
    /// them right after a start (or a benchmark's tries) never shares the machine with it.
    /// </summary>
    public TimeSpan HotDataWarmupQuiet { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The token store (<c>auth.*</c>); null when authentication is off.</summary>
    public Auth.TokenStoreOptions? Tokens { get; init; }

    /// <summary>What one write request may send (sizes of the body, lines, tags and fields).</summary>
    public Ingest.WriteLimits Writes { get; init; } = new();

    /// <summary>Most rejected lines described in one error response (all are counted).</summary>
    public int MaxReportedErrors { get; init; } = 100;

    /// <summary>A quarter of the memory available to the process, at least 256 MiB.</summary>
    private static long DefaultMemoryBudget() => Math.Max(256L << 20, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4);
}

using System.Globalization;
using System.IO.Pipelines;
using Arc.Engine.Auth;
using Arc.Engine.Compaction;
using Arc.Engine.DuckDb;
using Arc.Engine.ContinuousQueries;
using Arc.Engine.Export;
using Arc.Engine.Ingest;
using Arc.Engine.Query;
using Arc.Engine.Retention;
using Arc.Engine.Storage;
using Arc.Engine.Storage.Remote;
using Arc.Engine.Wal;
using Arc.Protocol.LineProtocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Arc.Engine;

/// <summary>
/// The storage engine: write batches in, Parquet files out, SQL over them. One embedded DuckDB serves both the Parquet
/// writers (on their own connections) and the query pool.
/// </summary>
public sealed partial class ArcEngine : IAsyncDisposable
{
    private readonly Dictionary<string, string> _querySettings;
    private DuckDbConnection _ddl;
    private readonly DuckDbConnectionPool _pool;
    private readonly CancellationTokenSource _stopping = new();
    private Task _warmup = Task.CompletedTask;
    private readonly Catalog _catalog;
    private readonly IngestEngine _ingest;
    private readonly WriteSession _writes;
    private readonly ImportSession _imports;
    private int _disposed;

    /// <summary>The synchronous part of the start: DuckDB, the catalog, the buffers and the query engine (no I/O to wait on).</summary>
    private ArcEngine(EngineOptions options, LocalStore store, ILoggerFactory loggers)
    {
        Options = options;
        Store = store;
        Buffers.BufferPool.Shared.MaxRetainedBytes = options.BufferPoolBytes;
        var tempDirectory = string.IsNullOrEmpty(options.DuckDbTempDirectory)
            ? Path.Combine(Store.TempDirectory, "duckdb")
            : options.DuckDbTempDirectory;
        var settings = new Dictionary<string, string>
        {
            ["temp_directory"] = tempDirectory,
            ["preserve_insertion_order"] = "false",
            ["autoinstall_known_extensions"] = "false",
            ["autoload_known_extensions"] = "false",
            // The files are local (object storage is read through the local cache), so the OS page cache holds their
            // bytes already; DuckDB's copy would grow with every file ever read (stale ones included) up to memory_limit.
            ["enable_external_file_cache"] = "false",
            // Asks DuckDB's jemalloc to return freed memory from a background thread (process-wide: both instances share
            // the allocator). DuckDB 1.5.6 reports that thread off at run time all the same (docs/operations.md, Memory).
            ["allocator_background_threads"] = "true",
            ["memory_limit"] = string.IsNullOrEmpty(options.DuckDbMemoryLimit)
                ? Bytes(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2)
                : options.DuckDbMemoryLimit,
            ["max_temp_directory_size"] = string.IsNullOrEmpty(options.DuckDbMaxTempDirectorySize)
                ? Bytes(FreeSpace(tempDirectory) / 2)
                : options.DuckDbMaxTempDirectorySize,
        };
        if (options.DuckDbThreads > 0)
        {
            settings["threads"] = options.DuckDbThreads.ToString(CultureInfo.InvariantCulture);
        }

        _querySettings = settings;
        var database = DuckDbDatabase.Open(null, settings);
        try
        {
            _ddl = database.Connect();
            _catalog = new Catalog(Store, _ddl, options.MaxColumnsPerMeasurement, options.MaxNameBytes, loggers.CreateLogger("Arc.Engine.Catalog"),
                options.HotDataBytes, static () => new QueryFileScope { SchemaOnly = true }.Activate(), options.HotDataMinAge, options.Time);
            Remote = options.ObjectStore is { } objectStore
                ? new RemoteStore(objectStore, Store, _catalog, options.Time, loggers.CreateLogger("Arc.Engine.Storage"), FlushCompleted)
                : null;
            _ingest = new IngestEngine(options, _catalog, Store, loggers.CreateLogger("Arc.Engine.Ingest"), Remote is null ? null : Remote.Enqueue,
                FlushCompleted, MergingRows);
            _writes = new WriteSession(_ingest, options);
            Imports = new ImportTracker(options.Time);
            _imports = new ImportSession(_ingest, options, new WriteSession(_ingest, options, import: true), Imports, Store.TempDirectory);
            BufferScan.Register(_ddl, _ingest, _catalog);
            var functions = FunctionPolicy.Load(_ddl);
            FileListFunction.Register(_ddl, _catalog, _ingest); // after the allowlist was read: user SQL cannot call it
            _catalog.LoadExisting();
            Secure(_ddl);
            _catalog.Manifest.ForgetOpened(); // LoadExisting read the footers with DuckDB's cache still off: none is held
            _pool = new DuckDbConnectionPool(database,
                new QueryPriorityPool(options.QueryConnections, options.QueryQueueSize, options.QueryQueueTimeout));
            Query = new QueryEngine(_pool, _catalog, Store, options, functions, Remote);
        }
        catch
        {
            database.Dispose();
            throw;
        }
    }

    /// <summary>The query instance's settings that come after its views (at the start) and before them (a renewal).</summary>
    private void Secure(DuckDbConnection ddl)
    {
        // The SQL sandbox: user SQL may read only under the data directory and can change no setting. (Statements
        // other than SELECT/EXPLAIN are refused before this matters; this closes table functions like read_text.)
        // DuckDB allows its temp_directory as well. The host refuses to start with a secret file (token store, keys)
        // in either of them; a directory added here must be added to that check (ArcConfig.CheckSecretsAreUnreadable).
        ddl.Execute($"SET allowed_directories = [{Names.QuoteLiteral(Store.Root + Path.DirectorySeparatorChar)}]");
        ddl.Execute("SET enable_external_access = false");

        // Instants are UTC: a TIMESTAMPTZ compared with time (TIMESTAMP_NS, UTC) is cast at UTC (TimeComparisons), and
        // Parquet footers stay cached between queries unless configured off (files are immutable: a new name for every change).
        ddl.Execute("SET GLOBAL TimeZone = 'UTC'");
        ddl.Execute($"SET GLOBAL parquet_metadata_cache = {(Options.ParquetMetadataCache ? "true" : "false")}");
        ddl.Execute("SET lock_configuration = true");
    }

    /// <summary>
    /// A flush completed (with object storage: a placed file of it was uploaded): compaction plans the measurement's level
    /// merges. Flushes before compaction is built (those of the write-ahead log's replay) plan none.
    /// </summary>
    private void FlushCompleted(string database, string measurement) => Compaction?.Flushed(database, measurement);

    /// <summary>
    /// Rows about to be merged into a buffer go to the continuous queries (late windows) once they exist: they are built
    /// before the write-ahead log's replay, so recovered rows are seen too.
    /// </summary>
    private void MergingRows(Buffers.ColumnSet rows) => ContinuousQueries?.OnMerging(rows);

    /// <summary>
    /// Starts an engine: finishes interrupted compactions, opens DuckDB and the catalog, connects object storage, replays
    /// the write-ahead log, then starts compaction. The only place the engine's parts are wired together. If a step
    /// fails, everything already started (workers, uploaders, the log, DuckDB) is stopped before the exception leaves.
    /// </summary>
    public static async Task<ArcEngine> StartAsync(EngineOptions options, ILoggerFactory? loggers = null, CancellationToken cancellationToken = default)
    {
        loggers ??= NullLoggerFactory.Instance;
        ParquetMemory.Configure(); // before anything reaches Arrow, which picks its allocator once
        var store = new LocalStore(options.DataPath);
        var dropLogger = loggers.CreateLogger("Arc.Engine.Databases");
        var drops = FinishDropsLocally(store, dropLogger); // before anything reads the tree
        var retentionLogger = loggers.CreateLogger("Arc.Engine.Retention");
        var expiries = FinishRetentionLocally(store, options.ObjectStore is not null, retentionLogger);
        if (options.ObjectStore is null)
        {
            await CompactionManifest.RecoverAsync(store, loggers.CreateLogger("Arc.Engine.Compaction"), null).ConfigureAwait(false);
        }

        var engine = new ArcEngine(options, store, loggers)
        {
            _dropLogger = dropLogger,
            _deleteLogger = loggers.CreateLogger("Arc.Engine.Deletes"),
            _retentionLogger = retentionLogger,
        };
        try
        {
            if (engine.Remote is { } remote)
            {
                await engine.StartRemoteAsync(remote, loggers, drops, expiries, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await engine.FinishDropsAsync(drops).ConfigureAwait(false);
            }

            if (options.ContinuousQueries is { } continuousQueries)
            {
                // Before the log's replay: recovered rows late for a window that ran mark it like a commit does.
                var queries = new ContinuousQueryManager(engine.Query, engine._writes, continuousQueries, options.Time,
                    loggers.CreateLogger("Arc.Engine.ContinuousQueries"), engine.DeleteTimeRangeAsync,
                    async (database, measurement, cutoff, token) =>
                    {
                        var sweep = await engine.ExpireAsync(database, measurement, new DateTimeOffset(cutoff), false, token).ConfigureAwait(false);
                        return (sweep.Rows, sweep.Files.Count + sweep.Partial);
                    });
                engine.ContinuousQueries = queries;
            }

            if (options.WalEnabled)
            {
                await engine.StartWalAsync(loggers.CreateLogger("Arc.Engine.Wal"), drops).ConfigureAwait(false);
            }

            engine.RemoveObsoleteDropMarkers();
            await engine.ResumeDeletesAsync().ConfigureAwait(false); // after the WAL replay (its coverage is by file name, which deletes keep)

            engine.Compaction = new CompactionManager(store, engine._catalog, options.Compaction,
                () => engine._ingest.Wal?.OldestRetainedLsn ?? long.MaxValue, options.Time, loggers.CreateLogger("Arc.Engine.Compaction"), engine.Remote,
                engine._ingest.UnflushedFloor);
            await engine.BlockUnfinishedDeletes().ConfigureAwait(false);
            if (options.Tokens is { } tokens)
            {
                engine.Tokens = new TokenStore(tokens, options.Time);
            }

            if (options.ResultCache is { } cache)
            {
                engine.ResultCache = new QueryResultCache(engine.Query.Versions, cache, options.Time);
            }

            if (options.Export is { } export)
            {
                engine.Exports = new ExportManager(engine.Query, export, options.Time, loggers.CreateLogger("Arc.Engine.Export"));
            }

            if (options.Retention is { } retention)
            {
                engine.Retention = new RetentionManager(retention, options.Time, retentionLogger, engine.ExpireAsync);
            }

            if (options.HotDataBytes > 0 && options.HotDataWarmup && engine.Remote is null)
            {
                engine._warmup = new HotTierWarmup(engine._catalog, engine._pool, options.HotDataWarmupQuiet,
                        loggers.CreateLogger("Arc.Engine.Storage"))
                    .RunAsync(engine._stopping.Token);
            }

            if (options.ParquetMetadataCache && options.RenewAfterFilesRemoved > 0)
            {
                engine._renewals = engine.RenewQueryDatabaseAsync(loggers.CreateLogger("Arc.Engine.Query"), engine._stopping.Token);
            }

            return engine;
        }
        catch
        {
            await engine.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Replays what the WAL holds beyond Parquet, flushes it, removes the old segments and starts a new one. Runs before
    /// the engine takes writes, so recovery and new commits never interleave.
    /// </summary>
    private async Task StartWalAsync(ILogger logger, List<DropMarker> drops)
    {
        var directory = Path.GetFullPath(Options.WalPath);
        var (lastLsn, replays, segments, deleted) = await WalRecovery.ReadAsync(directory, Store, logger, Remote is { } remote ? remote.FileNamesAsync : null,
                drops)
            .ConfigureAwait(false);
        _catalog.Manifest.Removed(deleted); // the catalog was loaded before: queries must not list them
        if (replays.Count > 0)
        {
            var rows = replays.Sum(r => r.Sets.Sum(s => (long)s.RowCount));
            logger.LogWarning("Recovering {Rows} acknowledged rows from {Entries} write-ahead log entries", rows, replays.Count);
            _ingest.Replay(replays);
            await _ingest.FlushAllAsync().ConfigureAwait(false);
            RecoveredRows = rows;
        }

        foreach (var segment in segments)
        {
            File.Delete(segment);
        }

        // LSNs only grow, across restarts too: a wiped WAL directory must not reuse LSNs that Parquet file names cover.
        var unixMicros = (Options.Time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks / 10;
        _ingest.AttachWal(new WriteAheadLog<WriteBatch>(directory, Options.WalSyncMode, Options.WalMaxSegmentBytes, Options.WalMaxSegmentAge,
            Math.Max(lastLsn, unixMicros), _ingest.Apply, Options.Time, logger));
    }

    /// <summary>
    /// Connects object storage: queues local files it lacks, finishes interrupted compactions there, and registers the
    /// measurements it holds so SQL resolves them even while none of their files is cached.
    /// </summary>
    private async Task StartRemoteAsync(RemoteStore remote, ILoggerFactory loggers, List<DropMarker> drops, List<RetentionMarker> expiries,
        CancellationToken cancellationToken)
    {
        var catalog = _catalog;
        var logger = loggers.CreateLogger("Arc.Engine.Storage");
        await remote.StartAsync(cancellationToken).ConfigureAwait(false);
        await FinishDropsAsync(drops).ConfigureAwait(false); // before compaction recovery and the listing below see the objects
        await FinishRetentionAsync(remote, expiries).ConfigureAwait(false);
        await CompactionManifest.RecoverAsync(Store, loggers.CreateLogger("Arc.Engine.Compaction"), remote).ConfigureAwait(false);
        catalog.Manifest.Rebuild(); // recovery may have moved files
        try
        {
            foreach (var (database, measurement) in await remote.MeasurementsAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_unfinishedDrops.Values.Any(d => d.Covers(database, measurement)))
                {
                    continue;
                }

                if (catalog.ResolveMeasurement(database, measurement, out _) is { } entry)
                {
                    catalog.EnsureView(entry, withFiles: catalog.Manifest.Files(database, measurement).Length > 0);
                }
            }
        }
        catch (ObjectStoreException e)
        {
            logger.LogError(e, "Could not list the measurements in object storage; they appear once it is reachable and written or queried");
        }
    }

    private static string Bytes(long bytes) => bytes.ToString(CultureInfo.InvariantCulture) + "B";

    /// <summary>Free bytes on the file system that will hold <paramref name="directory"/> (its nearest existing ancestor).</summary>
    private static long FreeSpace(string directory)
    {
        var path = Path.GetFullPath(directory);
        while (!Directory.Exists(path) && Path.GetDirectoryName(path) is { } parent)
        {
            path = parent;
        }

        return new DriveInfo(path).AvailableFreeSpace;
    }

    /// <summary>Object storage behind the local tree (null for the local backend).</summary>
    internal RemoteStore? Remote { get; }

    /// <summary>Upload backlog and cache of object storage; null for the local backend.</summary>
    public ObjectStorageStatus? ObjectStorage => Remote is { } remote
        ? new ObjectStorageStatus(remote.PendingUploads, remote.PendingBytes, remote.UploadedFiles, remote.UploadFailures, remote.LastError, remote.CachedBytes)
        : null;

    /// <summary>Waits until every flushed file is in object storage (tests, and operators before maintenance).</summary>
    public Task<bool> DrainUploadsAsync(TimeSpan timeout) => Remote?.DrainAsync(timeout) ?? Task.FromResult(true);

    /// <summary>Rows the last startup recovered from the write-ahead log.</summary>
    public long RecoveredRows { get; private set; }

    public EngineOptions Options { get; }

    /// <summary>
    /// The databases the catalog holds (written, on storage or in object storage), as they are named there. Names are unique
    /// ignoring case, as DuckDB resolves them.
    /// </summary>
    public IEnumerable<string> Databases => _catalog.Databases;

    public LocalStore Store { get; }

    /// <summary>
    /// <paramref name="text"/> with the data directory written as <c>&lt;data&gt;</c>: DuckDB's errors name files by their
    /// absolute path (<c>Cannot open file …</c>), which tells a caller the server's filesystem layout.
    /// </summary>
    public string HideDataDirectory(string text) => ExplainPaths.Hide(text, Store.Root);

    public QueryEngine Query { get; }

    /// <summary>
    /// Runs a JSON or CSV query into <paramref name="response"/> with the result cache and result buffering
    /// (<see cref="BufferedQuery"/>). Errors are the engine's exceptions; after the response started it can only be cut.
    /// </summary>
    public Task RunQueryAsync(QueryRun run, IQueryResponse response, CancellationToken cancellationToken) =>
        new BufferedQuery(Query, ResultCache, Options.ResultBufferBytes).RunAsync(run, response, cancellationToken);

    /// <summary>The API tokens (<see cref="EngineOptions.Tokens"/>), null when authentication is off.</summary>
    public TokenStore? Tokens { get; private set; }

    /// <summary>The query result cache (<see cref="EngineOptions.ResultCache"/>), null when off.</summary>
    public QueryResultCache? ResultCache { get; private set; }

    /// <summary>Export jobs (<see cref="EngineOptions.Export"/>), null when off; their schedules run from <see cref="ExportManager.Start"/>.</summary>
    public ExportManager? Exports { get; private set; }

    /// <summary>
    /// Continuous queries (<see cref="EngineOptions.ContinuousQueries"/>), null when off; their schedule runs from
    /// <see cref="ContinuousQueryManager.Start"/>.
    /// </summary>
    public ContinuousQueryManager? ContinuousQueries { get; private set; }

    /// <summary>Compaction (started last, once recovery is done); null only while <see cref="StartAsync"/> runs.</summary>
    public CompactionManager Compaction { get; private set; } = null!;

    public static string DuckDbVersion => DuckDbDatabase.LibraryVersion;


    public long FlushedRows => _ingest.FlushedRows;

    public long FlushFailures => _ingest.FlushFailures;

    public long BufferedRows => _ingest.BufferedRows;

    /// <summary>
    /// Stores a line-protocol body read from <paramref name="body"/> (see <see cref="WriteSession"/>): the good points even
    /// when others are rejected or the body is cut short by a limit.
    /// </summary>
    public Task<WriteOutcome> WriteLineProtocolAsync(WriteRequest request, TimestampPrecision precision, PipeReader body,
        CancellationToken cancellationToken) => _writes.LineProtocolAsync(request, precision, body, cancellationToken);

    /// <summary>Bulk imports: totals since startup and the running ones with their progress.</summary>
    public ImportTracker Imports { get; }

    /// <summary>Imports a line-protocol file (gzip or zstd recognised) as a stream, through the write path (see <see cref="ImportSession"/>).</summary>
    public Task<ImportOutcome> ImportLineProtocolAsync(ImportOptions import, Stream file, CancellationToken cancellationToken) =>
        _imports.LineProtocolAsync(import, file, cancellationToken);

    /// <summary>Imports a CSV file as a stream: a header row, a time column, the other columns typed as Arc infers them.</summary>
    public Task<ImportOutcome> ImportCsvAsync(ImportOptions import, Stream file, CancellationToken cancellationToken) =>
        _imports.CsvAsync(import, file, cancellationToken);

    /// <summary>Imports a Parquet file (spooled to the temporary directory, read in batches), keeping its column types.</summary>
    public Task<ImportOutcome> ImportParquetAsync(ImportOptions import, Stream file, CancellationToken cancellationToken) =>
        _imports.ParquetAsync(import, file, cancellationToken);

    /// <summary>Stores a MessagePack body read from <paramref name="body"/>, all or nothing (see <see cref="WriteSession"/>).</summary>
    public Task<WriteOutcome> WriteMsgPackAsync(WriteRequest request, PipeReader body) => _writes.MsgPackAsync(request, body);

    /// <summary>A batch for one write request into <paramref name="database"/>; return it with <see cref="ReturnBatch"/>.</summary>
    public WriteBatch RentBatch(string database) => _ingest.RentBatch(database);

    /// <summary>Hands the batch's accepted rows to the engine (they will be flushed to Parquet).</summary>
    /// <remarks>With the WAL enabled the task completes once the rows are durable; <see cref="WalWriteException"/> if not.</remarks>
    public Task CommitAsync(WriteBatch batch) => _ingest.CommitAsync(batch);

    /// <summary>Whether buffered rows use up <see cref="EngineOptions.MaxBufferMemory"/>: writes should be refused (503).</summary>
    public bool IsOverMemoryBudget => _ingest.IsOverMemoryBudget;

    public long BufferedBytes => _ingest.BufferedBytes;

    /// <summary>Memory held by flushed rows kept for queries (the hot tier, bounded by <see cref="EngineOptions.HotDataBytes"/>).</summary>
    public long HotBytes => _catalog.Manifest.HotBytes;

    /// <summary>Whether the hot tier has stepped aside because rows arrive faster than it keeps them, and how often it did.</summary>
    public (bool Now, long Times) HotSteppedAside => _catalog.Manifest.SteppedAside;

    /// <summary>Completes when filling the hot tier after the start is done (<see cref="EngineOptions.HotDataWarmup"/>).</summary>
    internal Task HotTierFilled => _warmup;

    /// <summary>What the query DuckDB's buffer manager holds now and its limit (<c>database.memory_limit</c>), in bytes.</summary>
    public (long Used, long Limit) QueryDuckDbMemory() => _pool.Database.Memory();

    /// <summary>The allocator of the Arrow C++ library that writes and merges Parquet files, and the bytes it holds allocated now.</summary>
    public static (string Backend, long Bytes) ParquetMemoryUsage() => ParquetMemory.Usage();

    /// <summary>
    /// Waits (woken by flushes, not polling) until buffered rows are under <see cref="EngineOptions.MaxBufferMemory"/>;
    /// false after <paramref name="timeout"/>, when a write should be refused (503).
    /// </summary>
    public Task<bool> WaitForMemoryAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _ingest.WaitForMemoryAsync(Options.MaxBufferMemory, timeout, Options.Time, cancellationToken);

    public void ReturnBatch(WriteBatch batch) => _ingest.ReturnBatch(batch);

    /// <summary>Writes every buffered row to Parquet and waits for it.</summary>
    public Task FlushAsync() => _ingest.FlushAllAsync();

    /// <summary>
    /// Flushes everything and closes the active log segment, so the log holds nothing already in Parquet and every file is
    /// open to compaction.
    /// </summary>
    public async Task CheckpointAsync()
    {
        await _ingest.FlushAllAsync().ConfigureAwait(false);
        if (_ingest.Wal is { } wal)
        {
            await wal.RotateAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Stops export jobs and compaction, flushes everything buffered, then closes DuckDB.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _warmup.ConfigureAwait(false); // it catches its own failures and the cancellation
        await _renewals.ConfigureAwait(false); // likewise
        _stopping.Dispose();

        if (ContinuousQueries is not null)
        {
            await ContinuousQueries.DisposeAsync().ConfigureAwait(false); // runs stop before the engine they read and write
        }

        if (Exports is not null)
        {
            await Exports.DisposeAsync().ConfigureAwait(false); // runs stop before the engine they read from
        }

        if (Retention is not null)
        {
            await Retention.DisposeAsync().ConfigureAwait(false); // a run under way finishes before compaction and storage stop
        }

        if (Compaction is not null) // null when the start failed before it
        {
            await Compaction.DisposeAsync().ConfigureAwait(false);
        }

        await _ingest.DisposeAsync().ConfigureAwait(false);
        if (Remote is not null)
        {
            // Give uploads a moment, no longer than one request may take (a store that does not answer within that fails
            // the upload anyway); whatever is left is uploaded at the next start (the files stay local until then).
            await Remote.DrainAsync(TimeSpan.FromSeconds(10) < Remote.RequestTimeout ? TimeSpan.FromSeconds(10) : Remote.RequestTimeout).ConfigureAwait(false);
            await Remote.DisposeAsync().ConfigureAwait(false);
        }

        if (_ingest.Wal is { } wal)
        {
            await wal.DisposeAsync().ConfigureAwait(false);
        }

        Tokens?.Dispose();
        _dropLock.Dispose();
        _pool.Dispose();
        _ddl.Dispose();
        _pool.Database.Dispose();
    }
}

/// <summary>What <c>/ready</c> reports about object storage.</summary>
public sealed record ObjectStorageStatus(long PendingUploads, long PendingBytes, long Uploaded, long UploadFailures, string? LastError, long CachedBytes);

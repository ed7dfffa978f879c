using System.Globalization;
using Arc.Engine.DuckDb;
using Arc.Engine.Ingest;
using Arc.Engine.Query;
using Arc.Engine.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Arc.Engine;

/// <summary>
/// The storage engine: write batches in, Parquet files out, SQL over them. One embedded DuckDB serves both the Parquet
/// writers (on their own connections) and the query pool.
/// </summary>
public sealed class ArcEngine : IAsyncDisposable
{
    private readonly DuckDbDatabase _database;
    private readonly DuckDbConnection _ddl;
    private readonly DuckDbConnectionPool _pool;
    private readonly IngestEngine _ingest;
    private int _disposed;

    private ArcEngine(EngineOptions options, ILoggerFactory loggers)
    {
        Options = options;
        Store = new LocalStore(options.DataPath);
        var settings = new Dictionary<string, string>
        {
            ["temp_directory"] = string.IsNullOrEmpty(options.DuckDbTempDirectory)
                ? Path.Combine(Store.TempDirectory, "duckdb")
                : options.DuckDbTempDirectory,
            ["preserve_insertion_order"] = "false",
            ["autoinstall_known_extensions"] = "false",
            ["autoload_known_extensions"] = "false",
        };
        if (options.DuckDbThreads > 0)
        {
            settings["threads"] = options.DuckDbThreads.ToString(CultureInfo.InvariantCulture);
        }

        if (!string.IsNullOrEmpty(options.DuckDbMemoryLimit))
        {
            settings["memory_limit"] = options.DuckDbMemoryLimit;
        }

        _database = DuckDbDatabase.Open(null, settings);
        try
        {
            _ddl = _database.Connect();
            var catalog = new Catalog(Store, _ddl, options, loggers.CreateLogger("Arc.Engine.Catalog"));
            _pool = new DuckDbConnectionPool(_database, options.QueryConnections);
            Query = new QueryEngine(_pool, catalog, Store, options);
            _ingest = new IngestEngine(options, catalog, Store, loggers.CreateLogger("Arc.Engine.Ingest"));
        }
        catch
        {
            _database.Dispose();
            throw;
        }
    }

    public EngineOptions Options { get; }

    public LocalStore Store { get; }

    public QueryEngine Query { get; }

    public static string DuckDbVersion => DuckDbDatabase.LibraryVersion;

    /// <summary>Opens storage and DuckDB; throws if either is unusable.</summary>
    public static ArcEngine Start(EngineOptions options, ILoggerFactory? loggers = null) =>
        new(options, loggers ?? NullLoggerFactory.Instance);

    public long FlushedRows => _ingest.FlushedRows;

    public long FlushFailures => _ingest.FlushFailures;

    public long BufferedRows => _ingest.BufferedRows;

    /// <summary>A batch for one write request into <paramref name="database"/>; return it with <see cref="ReturnBatch"/>.</summary>
    public WriteBatch RentBatch(string database) => _ingest.RentBatch(database);

    /// <summary>Hands the batch's accepted rows to the engine (they will be flushed to Parquet).</summary>
    public void Commit(WriteBatch batch) => _ingest.Commit(batch);

    public void ReturnBatch(WriteBatch batch) => _ingest.ReturnBatch(batch);

    /// <summary>Writes every buffered row to Parquet and waits for it.</summary>
    public Task FlushAsync() => _ingest.FlushAllAsync();

    /// <summary>Flushes everything buffered, then closes DuckDB.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _ingest.DisposeAsync().ConfigureAwait(false);
        _pool.Dispose();
        _ddl.Dispose();
        _database.Dispose();
    }
}

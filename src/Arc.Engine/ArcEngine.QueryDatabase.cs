using System.Diagnostics;
using Arc.Engine.DuckDb;
using Arc.Engine.Query;
using Microsoft.Extensions.Logging;

namespace Arc.Engine;

/// <summary>
/// The query DuckDB's renewal. DuckDB 1.5 keeps the footer of every Parquet file a query read (<c>parquet_metadata_cache</c>)
/// until <c>memory_limit</c> forces it out, and the files flushes and merges remove are never read again: under sustained
/// ingest the cache holds mostly footers of files that no longer exist, several times DuckDB's own estimate of them in
/// malloc's memory. The only way to let them go is to let the instance go, so once as many files have been removed since it
/// opened as remain listed (and at least <see cref="EngineOptions.RenewAfterFilesRemoved"/>), a new instance is opened,
/// given the functions, sandbox settings and views of the first, and swapped in under the catalog's DDL lock. Queries
/// running keep the old instance until they return their connection; its memory goes with the last one.
/// </summary>
public sealed partial class ArcEngine
{
    /// <summary>How often the renewal rule is checked.</summary>
    private static readonly TimeSpan RenewalCheck = TimeSpan.FromSeconds(5);

    private Task _renewals = Task.CompletedTask;
    private long _removedAtRenewal;
    private long _renewalCount;

    /// <summary>Times the query DuckDB was replaced by a fresh one (<see cref="EngineOptions.RenewAfterFilesRemoved"/>).</summary>
    public long QueryDatabaseRenewals => Interlocked.Read(ref _renewalCount);

    /// <summary>The query DuckDB now.</summary>
    internal DuckDbDatabase QueryDatabase => _pool.Database;

    private async Task RenewQueryDatabaseAsync(ILogger logger, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(RenewalCheck, Options.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var manifest = _catalog.Manifest;
                var removed = manifest.RemovedFiles - _removedAtRenewal;
                if (removed >= Options.RenewAfterFilesRemoved && removed > manifest.Count)
                {
                    try
                    {
                        RenewQueryDatabase(logger);
                    }
                    catch (DuckDbException e)
                    {
                        logger.LogWarning(e, "Could not renew the query DuckDB; the current one stays");
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the engine stops
        }
    }

    /// <summary>
    /// Replaces the query DuckDB with a fresh one holding the same functions, settings and views. <paramref name="meanwhile"/>
    /// runs once most views are made on the new instance, before the catalog is locked (<see cref="Storage.Catalog.Rebind"/>).
    /// </summary>
    internal void RenewQueryDatabase(ILogger logger, Action? meanwhile = null)
    {
        var removed = _catalog.Manifest.RemovedFiles;
        var started = Stopwatch.GetTimestamp();
        var database = DuckDbDatabase.Open(null, _querySettings);
        DuckDbConnection? ddl = null;
        DuckDbDatabase? old = null;
        DuckDbConnection before;
        try
        {
            ddl = database.Connect();
            BufferScan.Register(ddl, _ingest, _catalog);
            FileListFunction.Register(ddl, _catalog, _ingest);
            Secure(ddl);
            before = _catalog.Rebind(ddl, () => old = _pool.Replace(database), meanwhile);
        }
        catch
        {
            ddl?.Dispose();
            database.Dispose();
            throw;
        }

        _ddl = ddl;
        var held = old!.Memory().Used;
        before.Dispose();
        old.Dispose();
        logger.LogInformation(
            "Renewed the query DuckDB in {Milliseconds:0.0} ms: {Removed} files removed since the last renewal, {Listed} listed; the old instance held {Bytes} bytes",
            Stopwatch.GetElapsedTime(started).TotalMilliseconds, removed - _removedAtRenewal, _catalog.Manifest.Count, held);
        _removedAtRenewal = removed;
        Interlocked.Increment(ref _renewalCount);
    }
}

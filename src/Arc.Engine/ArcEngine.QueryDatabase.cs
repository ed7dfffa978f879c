using System.Diagnostics;
using Arc.Engine.DuckDb;
using Arc.Engine.Query;
using Microsoft.Extensions.Logging;

namespace Arc.Engine;

/// <summary>
/// The query DuckDB's renewal. DuckDB 1.5 keeps the footer of every Parquet file a query read (<c>parquet_metadata_cache</c>)
/// until <c>memory_limit</c> forces it out, and the files flushes and merges remove are never read again: under sustained
/// ingest the cache holds mostly footers of files that no longer exist, several times DuckDB's own estimate of them in
/// malloc's memory. The only way to let them go is to let the instance go, so once more of the files it was given to read
/// have been removed than remain listed (and at least <see cref="EngineOptions.RenewAfterFilesRemoved"/>), a new instance
/// is opened, given the functions, sandbox settings and views of the first, and swapped in under the catalog's DDL lock.
/// Queries running keep the old instance until they return their connection; its memory goes with the last one.
/// </summary>
public sealed partial class ArcEngine
{
    /// <summary>How often the renewal rule is checked.</summary>
    private static readonly TimeSpan RenewalCheck = TimeSpan.FromSeconds(5);

    private Task _renewals = Task.CompletedTask;
    private long _renewalCount;

    /// <summary>Times the query DuckDB was replaced by a fresh one (<see cref="EngineOptions.RenewAfterFilesRemoved"/>).</summary>
    public long QueryDatabaseRenewals => Interlocked.Read(ref _renewalCount);

    /// <summary>The query DuckDB now.</summary>
    internal DuckDbDatabase QueryDatabase => _pool.Database;

    /// <summary>Of the files the query DuckDB was given to read, how many were removed since and how many are still listed.</summary>
    internal (long Removed, int Listed) OpenedFiles => _catalog.Manifest.OpenedFiles;

    private async Task RenewQueryDatabaseAsync(ILogger logger, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(RenewalCheck, Options.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var (removed, listed) = _catalog.Manifest.OpenedFiles;
                if (removed >= Options.RenewAfterFilesRemoved && removed > listed)
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
        var (removed, listed) = _catalog.Manifest.OpenedFiles;
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
            _catalog.Manifest.ForgetOpened(); // from here files are listed to the new instance (or, briefly, to the old)
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
            "Renewed the query DuckDB in {Milliseconds:0.0} ms: of the files it read, {Removed} were removed and {Listed} still listed; it held {Bytes} bytes",
            Stopwatch.GetElapsedTime(started).TotalMilliseconds, removed, listed, held);
        Interlocked.Increment(ref _renewalCount);
    }
}

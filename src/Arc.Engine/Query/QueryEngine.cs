using Arc.Engine.DuckDb;
using Arc.Engine.Errors;
using Arc.Engine.Storage;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>A query the server refuses before running it (not read-only, several statements, unsupported output type).</summary>
public class QueryRejectedException(string message) : Exception(message), IHasErrorReason
{
    public virtual ErrorReason Reason => ErrorReason.Invalid;
}

/// <summary>A query whose data cannot be reached right now (object storage down or too slow); worth retrying.</summary>
public sealed class QueryUnavailableException(string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.Unavailable;
}

/// <summary>A query that reaches beyond the databases the caller's token is scoped to.</summary>
public sealed class QueryForbiddenException(string message) : QueryRejectedException(message)
{
    public override ErrorReason Reason => ErrorReason.Forbidden;
}

/// <summary>
/// Runs user SQL on pooled DuckDB connections. Names resolve through DuckDB's catalog: a schema per database, a view per
/// measurement, and the request's database as the search path, so <c>FROM cpu</c>, <c>FROM db.cpu</c>, joins and CTEs all
/// work without touching the SQL text. Only read-only statements (SELECT, EXPLAIN, and the SHOW/DESCRIBE forms DuckDB
/// plans as SELECT) are executed; the statement type comes from DuckDB's own parser.
/// </summary>
public sealed partial class QueryEngine
{
    private readonly DuckDbConnectionPool _pool;
    private readonly Catalog _catalog;
    private readonly LocalStore _store;
    private readonly IQuerySettings _options;
    private readonly FunctionPolicy _functions;
    private long _filesListed;
    private long _filesPruned;
    private long _filesHot;

    internal QueryEngine(DuckDbConnectionPool pool, Catalog catalog, LocalStore store, IQuerySettings options, FunctionPolicy functions,
        Storage.Remote.RemoteStore? remote)
    {
        Remote = remote;
        _pool = pool;
        _catalog = catalog;
        _store = store;
        _options = options;
        _functions = functions;
    }

    /// <summary>
    /// Checks <paramref name="sql"/> (<see cref="StatementGuard"/>), then prepares and starts it; DuckDB errors (syntax,
    /// unknown column, ...) throw <see cref="DuckDbException"/>, refused statements <see cref="QueryRejectedException"/>
    /// (<see cref="QueryForbiddenException"/> beyond the caller's access). The cursor must be disposed.
    /// </summary>
    /// <param name="access">What the caller may read; null for everything (admin, or authentication off).</param>
    /// <param name="priority">Where the query waits when every connection is busy (<see cref="QueryPriorityPool"/>).</param>
    /// <param name="trackDependencies">Record the measurements the query reads and their versions (<see cref="QueryCursor.Dependencies"/>).</param>
    public async ValueTask<QueryCursor> OpenAsync(string sql, string? database, CancellationToken cancellationToken,
        QueryAccess? access = null, QueryPriority priority = QueryPriority.Normal, bool trackDependencies = false)
    {
        access ??= QueryAccess.Full;
        var show = CheckShow(sql, database, access);
        if (database is not null && !access.MayRead(database))
        {
            throw new QueryForbiddenException($"this token may not read database '{database}'");
        }

        if (show is { } listing)
        {
            return await OpenListingAsync(listing, database, access, priority, cancellationToken).ConfigureAwait(false);
        }

        var connection = await _pool.RentAsync(priority, cancellationToken).ConfigureAwait(false);
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        DuckDBPreparedStatement? statement = null;
        ConnectionInterrupt? interrupt = null;
        IDisposable? files = null;
        try
        {
            // The time limit covers checking, preparing (binding, planning) and running.
            timeout.CancelAfter(_options.QueryTimeout);
            interrupt = new ConnectionInterrupt(connection, timeout.Token);
            UseDatabase(connection, database);
            var checkedStatement = StatementGuard.Check(connection, sql, database, access, _catalog, _functions, _options);

            // Before binding: a change after this point moves a version, so a result cached under these is never stale.
            var dependencies = trackDependencies ? Dependencies(checkedStatement) : null;
            var scope = Scope(connection, checkedStatement, _functions, out var plan);
            var fetched = plan?.Ranges ?? [];
            if (Remote is not null && fetched.Count > 0)
            {
                files = await FetchAsync(fetched, timeout.Token).ConfigureAwait(false);
            }

            DuckDbQueryResult result;
            long epoch;

            // Binding expands the Parquet globs and copies the buffers; doing both under the visibility lock means no flush
            // moves rows between them meanwhile, so each row is read exactly once. Bounds from DuckDB's clock are evaluated
            // again there, in the transaction the statement then runs in (after the fetch and the views it updated): its
            // now() is the bounds' now(). A later bound can reach an hour not fetched; that is fetched, and the bounds
            // evaluated again in a new transaction; should they move on again (a bound that outruns the clock), the whole
            // of each measurement is fetched, which no bound leaves.
            for (var round = 0; ; round++)
            {
                _catalog.Visibility.EnterReadLock();
                bool ready;
                try
                {
                    ready = plan is not { EvaluatedByDuckDb: true } || BoundInTransaction(connection, plan, scope, fetched);
                }
                catch
                {
                    _catalog.Visibility.ExitReadLock();
                    throw;
                }

                if (ready)
                {
                    break;
                }

                _catalog.Visibility.ExitReadLock();
                fetched = round == 0 ? plan!.Hull(fetched) : plan!.Whole;
                var more = await FetchAsync(fetched, timeout.Token).ConfigureAwait(false);
                files?.Dispose();
                files = more;
            }

            epoch = _catalog.Epochs.Enter();
            try
            {
                using (scope.Activate())
                {
                    statement = Prepare(connection, checkedStatement);
                    ThrowIfTimedOut(timeout, cancellationToken);
                    result = DuckDbQueryResult.ExecuteStreaming(statement);
                }

                Interlocked.Add(ref _filesListed, scope.Listed);
                Interlocked.Add(ref _filesPruned, scope.Pruned);
                Interlocked.Add(ref _filesHot, scope.Hot);
            }
            catch
            {
                _catalog.Epochs.Exit(epoch);
                throw;
            }
            finally
            {
                _catalog.Visibility.ExitReadLock();
            }

            if (checkedStatement.IsExplain && !access.Unrestricted)
            {
                try
                {
                    result = WithoutPaths(connection, result);
                }
                catch
                {
                    _catalog.Epochs.Exit(epoch);
                    throw;
                }
            }

            return new QueryCursor(this, connection, statement, result, timeout, interrupt, epoch)
            {
                Files = files,
                Dependencies = dependencies,
                FilesListed = scope.Listed,
                FilesPruned = scope.Pruned,
                FilesHot = scope.Hot,
            };
        }
        catch (Exception e)
        {
            files?.Dispose();
            interrupt?.Dispose();
            statement?.Dispose();
            var timedOut = timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested;
            timeout.Dispose();
            _pool.Return(connection);
            if (timedOut && e is DuckDbException or QueryRejectedException or OperationCanceledException)
            {
                throw new DuckDbException($"query exceeded the time limit of {_options.QueryTimeout.TotalSeconds:0} s (query.timeout)");
            }

            throw;
        }
    }

    /// <summary>
    /// <see cref="OpenAsync"/>, then the first chunk fetched (<see cref="QueryCursor.Prefetch"/>), so an error DuckDB finds
    /// before the first row is thrown here, before anything is sent; the cursor is disposed when that fails.
    /// </summary>
    public async ValueTask<QueryCursor> OpenFetchedAsync(string sql, string? database, CancellationToken cancellationToken,
        QueryAccess? access = null, QueryPriority priority = QueryPriority.Normal, bool trackDependencies = false)
    {
        var cursor = await OpenAsync(sql, database, cancellationToken, access, priority, trackDependencies).ConfigureAwait(false);
        try
        {
            cursor.Prefetch();
            return cursor;
        }
        catch
        {
            cursor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The files each measurement of the statement needs (<see cref="QueryFiles"/>): the scope the file list function reads
    /// while the statement binds, and the plan whose ranges object storage must have local (null when no data file is read).
    /// </summary>
    private static QueryFileScope Scope(DuckDbConnection connection, CheckedStatement statement, FunctionPolicy functions,
        out QueryFilePlan? plan)
    {
        plan = null;
        var scope = new QueryFileScope { SchemaOnly = statement.DescribesOnly };
        if (!scope.SchemaOnly)
        {
            plan = QueryFiles.Plan(connection, statement, functions);
            scope.Bound(plan.Ranges);
            if (plan.Matched is { } matched)
            {
                scope.Match(matched.Database, matched.Measurement, plan.Matches);
            }
        }

        return scope;
    }

    /// <summary>
    /// Starts the statement's transaction (ending one an earlier round left) and evaluates the plan's bounds in it, as the
    /// scope; false when object storage must first fetch hours beyond <paramref name="fetched"/>.
    /// </summary>
    private bool BoundInTransaction(DuckDbConnection connection, QueryFilePlan plan, QueryFileScope scope, List<MeasurementRange> fetched)
    {
        connection.BeginTransaction();
        plan.Reevaluate(connection);
        if (Remote is not null && !plan.Within(fetched))
        {
            return false;
        }

        scope.Bound(plan.Ranges);

        return true;
    }

    /// <summary>
    /// A plan as a caller restricted to measurements may see it: EXPLAIN ANALYZE names the files it read by absolute path,
    /// so the plan (a few rows) is read whole and served again as a built result with the data directory hidden
    /// (<see cref="ExplainPaths"/>); same columns, same rows. Disposes <paramref name="result"/>.
    /// </summary>
    private DuckDbQueryResult WithoutPaths(DuckDbConnection connection, DuckDbQueryResult result)
    {
        using var rows = new DuckDbResultBuilder(("explain_key", DuckDBType.Varchar), ("explain_value", DuckDBType.Varchar));
        using (result)
        {
            while (result.FetchChunk() is { } chunk)
            {
                using (chunk)
                {
                    var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
                    var keys = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, 0);
                    var values = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, 1);
                    for (var row = 0; row < size; row++)
                    {
                        var value = VectorText.Format(values, DuckDBType.Varchar, row);
                        rows.AddRow();
                        rows.Set(0, VectorText.Format(keys, DuckDBType.Varchar, row));
                        rows.Set(1, value is null ? null : ExplainPaths.Hide(value, _store.Root));
                    }
                }
            }
        }

        return rows.Build(connection);
    }

    /// <summary>
    /// DuckDB checks its interrupt flag while executing, not while binding and planning: a limit that passed during
    /// <see cref="Prepare(DuckDbConnection, CheckedStatement)"/> is reported here rather than by a run that would start anyway.
    /// </summary>
    private static void ThrowIfTimedOut(CancellationTokenSource timeout, CancellationToken request)
    {
        if (timeout.IsCancellationRequested && !request.IsCancellationRequested)
        {
            throw new DuckDbException("timed out while planning");
        }
    }

    internal TimeSpan Timeout => _options.QueryTimeout;

    /// <summary>Parquet files listed to DuckDB by this engine's queries so far (the <c>arc_query_files_total</c> metric).</summary>
    public long FilesListed => Interlocked.Read(ref _filesListed);

    /// <summary>Parquet files this engine's queries left out by time so far.</summary>
    public long FilesPruned => Interlocked.Read(ref _filesPruned);

    /// <summary>Files this engine's queries needed and read from memory (the hot tier) instead of opening them, so far.</summary>
    public long FilesHot => Interlocked.Read(ref _filesHot);

    /// <summary>A measurement's Parquet files and bytes: local, or in object storage (plus files not uploaded yet).</summary>
    internal async ValueTask<(int Count, long Bytes)> FileStatsAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        if (Remote is null)
        {
            var files = _catalog.Manifest.Files(database, measurement);
            return (files.Length, files.Sum(f => f.Bytes));
        }

        var all = await Remote.AllFilesAsync(database, measurement, cancellationToken).ConfigureAwait(false);
        return (all.Count, all.Sum(f => f.Size));
    }

    /// <summary>
    /// The start of the newest hour or day a measurement's files in object storage cover (null on local storage, without
    /// files, or when the store cannot be listed): a window there makes a query fetch a file that knows the columns, which
    /// a cold cache does not.
    /// </summary>
    internal async ValueTask<DateTime?> NewestRemotePartitionAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        if (Remote is null)
        {
            return null;
        }

        List<(string Path, long Size)> files;
        try
        {
            files = await Remote.AllFilesAsync(database, measurement, cancellationToken).ConfigureAwait(false);
        }
        catch (Storage.Remote.ObjectStoreException)
        {
            return null;
        }

        var newest = files.Select(f => FileManifest.PartitionRange(_store, f.Path).Min).Where(m => m != long.MinValue).DefaultIfEmpty(long.MinValue).Max();
        return newest == long.MinValue ? null : DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(newest / 100), DateTimeKind.Utc);
    }

    /// <summary>Where a measurement's files live: the local directory, or the store's URI.</summary>
    internal string StoragePath(string database, string measurement) =>
        Remote?.Uri(database, measurement) ?? _store.MeasurementDirectory(database, measurement);

    /// <summary>Object storage behind the local tree, when the backend is not local.</summary>
    internal Storage.Remote.RemoteStore? Remote { get; }

    /// <summary>
    /// Fetches the object-storage files of the time ranges the statement reads (pinned until the query ends); the store
    /// puts what it fetched in the manifest and the views.
    /// </summary>
    private async Task<IDisposable> FetchAsync(List<MeasurementRange> ranges, CancellationToken cancellationToken)
    {
        try
        {
            return await Remote!.EnsureLocalAsync(ranges.Select(r => (r.Database, r.Measurement, r.FromHour, r.ToHour)), cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Storage.Remote.ObjectStoreException e)
        {
            throw new QueryUnavailableException($"cannot read the data from object storage: {e.Message}");
        }
    }

    /// <summary>Returns the connection and releases the files the query's epoch kept alive.</summary>
    internal void Return(DuckDbConnection connection, long epoch)
    {
        _pool.Return(connection);
        _catalog.Epochs.Exit(epoch);
    }

    /// <summary>
    /// Sets the connection's search path to the request's database (or <c>main</c> when it has no measurements) on every
    /// rent: a pooled connection's state never reaches the next request. Only this method changes it (client SQL is a
    /// SELECT or EXPLAIN, <see cref="StatementGuard"/>), so the connection remembers what it holds and an unchanged path
    /// costs no statement (a SET is a whole DuckDB query, about half a millisecond here).
    /// </summary>
    private void UseDatabase(DuckDbConnection connection, string? database)
    {
        var path = database is not null && _catalog.HasDatabase(database) ? Names.QuoteIdentifier(database) : "main";
        if (connection.SearchPath == path)
        {
            return;
        }

        connection.SearchPath = null; // unknown until the SET succeeds
        connection.Execute($"SET search_path = {Names.QuoteLiteral(path)}");
        connection.SearchPath = path;
    }

    /// <summary>
    /// Prepares a checked statement: its SQL, or the client's own text when that is DuckDB's rendering and does not prepare
    /// (an error is then the client's text's own, with positions in what the client sent).
    /// </summary>
    private static DuckDBPreparedStatement Prepare(DuckDbConnection connection, CheckedStatement statement)
    {
        try
        {
            return Prepare(connection, statement.Sql, statement.IsExplain);
        }
        catch (DuckDbException) when (statement.FallbackSql is { } original)
        {
            return Prepare(connection, original, statement.IsExplain);
        }
    }

    /// <summary>
    /// Prepares a statement <see cref="StatementGuard"/> passed (or the server's own EXPLAIN of one). Its type is checked again
    /// after preparing, as a second line: a SELECT, or an EXPLAIN when one was asked for.
    /// </summary>
    private static DuckDBPreparedStatement Prepare(DuckDbConnection connection, string sql, bool explain)
    {
        if (NativeMethods.PreparedStatements.DuckDBPrepare(connection.Handle, sql, out var statement) != DuckDBState.Success)
        {
            var error = NativeMethods.PreparedStatements.DuckDBPrepareError(statement);
            statement.Dispose();
            throw new DuckDbException(error ?? "could not prepare the query");
        }

        var type = DuckDbExtra.PreparedStatementType(statement.DangerousGetHandle());
        if (type != (explain ? DuckDbExtra.StatementTypeExplain : DuckDbExtra.StatementTypeSelect))
        {
            statement.Dispose();
            throw new QueryRejectedException("only read-only queries are accepted (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW)");
        }

        return statement;
    }

    /// <summary>
    /// The SHOW command's access check: a listing of one database's measurements needs read access to it; SHOW DATABASES
    /// lists only the databases the caller may read. Null when <paramref name="sql"/> is not one of the listing commands.
    /// </summary>
    private static ShowCommand? CheckShow(string sql, string? database, QueryAccess access)
    {
        if (!ShowCommand.TryParse(sql, out var show))
        {
            return null;
        }

        if (show.Kind == ShowKind.Tables && !access.MayRead(show.Database ?? database ?? "default"))
        {
            throw new QueryForbiddenException($"this token may not read database '{show.Database ?? database}'");
        }

        return show;
    }

    /// <summary>
    /// A listing answered from the catalog and the file manifest as a built result (<see cref="DuckDbResultBuilder"/>):
    /// DuckDB parses, binds and schedules nothing, which cost more than the rest of the request (about 1 ms of a 1.5 ms
    /// answer here). A connection is still rented, so listings wait in the same queue as queries and the Arrow writer gets
    /// the connection's options.
    /// </summary>
    private async ValueTask<QueryCursor> OpenListingAsync(ShowCommand show, string? database, QueryAccess access, QueryPriority priority,
        CancellationToken cancellationToken)
    {
        using var rows = await ListingAsync(show, database, access.Databases, cancellationToken).ConfigureAwait(false);
        var connection = await _pool.RentAsync(priority, cancellationToken).ConfigureAwait(false);
        try
        {
            return new QueryCursor(this, connection, null, rows.Build(connection), null, null, _catalog.Epochs.Enter());
        }
        catch
        {
            _pool.Return(connection);
            throw;
        }
    }

    /// <summary>
    /// The rows of a listing in the catalog's order (ordinal; names are ASCII, so DuckDB's VARCHAR order too): databases
    /// with measurements the caller may read, or a database's measurements with their file count and size.
    /// </summary>
    private async ValueTask<DuckDbResultBuilder> ListingAsync(ShowCommand show, string? database, IReadOnlySet<string>? allowed,
        CancellationToken cancellationToken)
    {
        if (show.Kind == ShowKind.Databases)
        {
            var databases = new DuckDbResultBuilder(("database", DuckDBType.Varchar));
            foreach (var d in _catalog.Databases.Where(d => _catalog.HasDatabase(d) && (allowed is null || allowed.Contains(d))))
            {
                databases.AddRow();
                databases.Set(0, d);
            }

            return databases;
        }

        var db = show.Database ?? database ?? "default";
        var tables = new DuckDbResultBuilder(("database", DuckDBType.Varchar), ("table_name", DuckDBType.Varchar),
            ("storage_path", DuckDBType.Varchar), ("file_count", DuckDBType.BigInt), ("total_size_mb", DuckDBType.Double));
        try
        {
            foreach (var m in _catalog.Measurements(db))
            {
                var files = await FilesAsync(db, m.Name, cancellationToken).ConfigureAwait(false);
                tables.AddRow();
                tables.Set(0, files.Database);
                tables.Set(1, files.Measurement);
                tables.Set(2, files.StoragePath);
                tables.Set(3, (long)files.Files);
                tables.Set(4, Math.Round(files.Bytes / (1024.0 * 1024.0), 6));
            }

            return tables;
        }
        catch
        {
            tables.Dispose();
            throw;
        }
    }
}

/// <summary>A running query: its columns, then its chunks as DuckDB produces them. Dispose returns the connection.</summary>
public sealed class QueryCursor : IDisposable
{
    private readonly QueryEngine _engine;
    private readonly DuckDbConnection _connection;
    private readonly DuckDBPreparedStatement? _statement;
    private readonly CancellationTokenSource? _timeout;
    private readonly long _epoch;
    private readonly ConnectionInterrupt? _interrupt;
    private bool _disposed;

    /// <param name="statement">The prepared statement behind <paramref name="result"/>; null for a built result.</param>
    /// <param name="timeout">The statement's time limit; null for a built result, which runs nothing.</param>
    /// <param name="interrupt">Interrupts DuckDB at that limit; null for a built result.</param>
    internal QueryCursor(QueryEngine engine, DuckDbConnection connection, DuckDBPreparedStatement? statement, DuckDbQueryResult result,
        CancellationTokenSource? timeout, ConnectionInterrupt? interrupt, long epoch)
    {
        _epoch = epoch;
        _engine = engine;
        _connection = connection;
        _statement = statement;
        Result = result;
        _timeout = timeout;
        _interrupt = interrupt;
    }

    public DuckDbQueryResult Result { get; }

    /// <summary>The connection running the query (tests interrupt it as DuckDB's own error race does).</summary>
    internal DuckDbConnection Connection => _connection;

    /// <summary>The object-storage files this query pinned in the local cache.</summary>
    internal IDisposable? Files { get; init; }

    /// <summary>Parquet files the statement's measurements listed to DuckDB (the schema files not counted).</summary>
    public int FilesListed { get; internal init; }

    /// <summary>Parquet files left out because their time range is outside the statement's filter.</summary>
    public int FilesPruned { get; internal init; }

    /// <summary>Files the statement needs whose rows it read from memory (the hot tier) instead of opening them.</summary>
    public int FilesHot { get; internal init; }

    /// <summary>The measurements read and their versions when the query bound, if tracked and the result may be cached.</summary>
    public QueryDependencies? Dependencies { get; internal init; }

    private DuckDBDataChunk? _prefetched;
    private bool _hasPrefetched;

    /// <summary>
    /// Fetches the first chunk now, so failures that surface only when DuckDB starts producing rows (a corrupt file, a
    /// division by zero) are reported before the response begins.
    /// </summary>
    internal void Prefetch()
    {
        _prefetched = Next();
        _hasPrefetched = true;
    }

    /// <summary>The next chunk, or null at the end; a failure (including the time limit) throws <see cref="DuckDbException"/>.</summary>
    public DuckDBDataChunk? Next()
    {
        if (_hasPrefetched)
        {
            _hasPrefetched = false;
            var first = _prefetched;
            _prefetched = null;
            return first;
        }

        try
        {
            return Result.FetchChunk();
        }
        catch (DuckDbException) when (_timeout!.IsCancellationRequested)
        {
            throw TimedOut();
        }
        catch (DuckDbException e) when (e.ErrorType == DuckDBErrorType.Interrupt)
        {
            throw RecoverLostError(_statement!, _timeout!);
        }
    }

    private DuckDbException TimedOut() =>
        new($"query exceeded the time limit of {_engine.Timeout.TotalSeconds:0} s (query.timeout) or was cancelled");

    /// <summary>
    /// An interrupt nobody asked for: the only <see cref="DuckDbConnection.Interrupt"/> is the time limit's (or the client
    /// leaving), and it has not fired. DuckDB 1.5.6 raises the interrupt flag to stop a failed query's other threads, and its
    /// streaming result can see that flag before the worker's error, so it reports "Interrupted!" instead of the failure
    /// (about 1 in 100 failing parallel queries here). The statement is run again, rows discarded, for its real error.
    /// </summary>
    private DuckDbException RecoverLostError(DuckDBPreparedStatement statement, CancellationTokenSource timeout)
    {
        for (var attempt = 0; attempt < LostErrorReruns; attempt++)
        {
            try
            {
                if (_connection.InTransaction)
                {
                    // The failure may have left the statement's transaction unusable: a new one, for the error alone.
                    _connection.BeginTransaction();
                }

                using var rerun = DuckDbQueryResult.ExecuteStreaming(statement);
                while (rerun.FetchChunk() is { } chunk)
                {
                    chunk.Dispose();
                }

                return new DuckDbException("the query was interrupted inside DuckDB without an error, and it succeeded when run again");
            }
            catch (DuckDbException) when (timeout.IsCancellationRequested)
            {
                return TimedOut();
            }
            catch (DuckDbException e) when (e.ErrorType != DuckDBErrorType.Interrupt)
            {
                return e;
            }
            catch (DuckDbException)
            {
                // the same race again: one more run
            }
        }

        return new DuckDbException($"the query failed inside DuckDB, which reported only 'Interrupted!' in {LostErrorReruns + 1} runs");
    }

    /// <summary>How often <see cref="RecoverLostError"/> runs a statement again for its error.</summary>
    private const int LostErrorReruns = 3;

    /// <summary>Per-column value formats for the result writers; throws <see cref="QueryRejectedException"/> for unsupported types.</summary>
    internal ValueFormat[] Formats()
    {
        var formats = new ValueFormat[Result.ColumnCount];
        for (var i = 0; i < formats.Length; i++)
        {
            try
            {
                formats[i] = ValueFormat.Create(Result.GetColumnType(i));
            }
            catch (NotSupportedException e)
            {
                throw new QueryRejectedException($"column '{Result.GetColumnName(i)}': {e.Message}");
            }
        }

        return formats;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Files?.Dispose();
        _prefetched?.Dispose();
        _interrupt?.Dispose();
        Result.Dispose();
        _statement?.Dispose();
        _timeout?.Dispose();
        _engine.Return(_connection, _epoch);
    }
}

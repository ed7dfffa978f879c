using System.Globalization;
using System.Text;
using Arc.Engine.Compaction;
using Arc.Engine.DuckDb;
using Arc.Engine.Errors;
using Arc.Engine.Query;
using Arc.Engine.Storage;
using Microsoft.Extensions.Logging;

namespace Arc.Engine;

/// <summary>What a row delete matched and did.</summary>
/// <param name="DeletedRows">Rows the predicate matched (for a dry run, the rows a delete would remove).</param>
/// <param name="AffectedFiles">Names of the files holding matching rows.</param>
/// <param name="FilesRewritten">Files replaced by a copy without the matching rows.</param>
/// <param name="FilesRemoved">Files removed because every row of them matched.</param>
public sealed record DeleteResult(long DeletedRows, IReadOnlyList<string> AffectedFiles, int FilesRewritten, int FilesRemoved, bool DryRun);

/// <summary>
/// Row deletes: the rows of one measurement matching a checked SQL predicate are removed by rewriting the Parquet files
/// that hold them (DuckDB <c>COPY</c> of the other rows, in their order, with the file's columns and tag metadata). Rows
/// still buffered (and so in the write-ahead log) are flushed first, so the rewrite covers them. A delete is durable and
/// restartable (<see cref="DeleteMarker"/>): each replacement gets a new name (DuckDB caches footers by name, and queries
/// still reading the old file keep it until they end, <see cref="QueryEpochs"/>), a flushed file keeps its name's LSN range
/// so write-ahead-log recovery still counts its commits as stored, and compaction is kept off the measurement meanwhile.
/// </summary>
public sealed partial class ArcEngine
{
    private readonly SemaphoreSlim _deleteLock = new(1, 1);
    private readonly HashSet<string> _blockedDeletes = new(StringComparer.Ordinal); // ids of unfinished deletes keeping compaction off
    private ILogger _deleteLogger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Checks a delete's predicate on DuckDB's parse tree without reading anything (see <see cref="QueryEngine.CheckDeletePredicateAsync"/>).</summary>
    public ValueTask<DeletePredicate> CheckDeletePredicateAsync(string where, CancellationToken cancellationToken) =>
        Query.CheckDeletePredicateAsync(where, cancellationToken);

    /// <summary>
    /// Deletes the rows of <paramref name="measurement"/> in <paramref name="database"/> for which <paramref name="where"/>
    /// is true (rows where it is false or NULL stay), in buffers, the write-ahead log and files, locally and in object
    /// storage; a dry run only counts them. Rows written while the delete runs are not affected. Once files are being
    /// rewritten the delete finishes even if <paramref name="cancellationToken"/> fires; if object storage fails midway, the
    /// next delete or the next start finishes it. <see cref="ErrorReason.Invalid"/> for a bad predicate (DuckDB's message)
    /// or more than <paramref name="maxRows"/> matching rows, <see cref="ErrorReason.NotFound"/> for an unknown measurement.
    /// </summary>
    public Task<DeleteResult> DeleteRowsAsync(string database, string measurement, string where, bool dryRun, long maxRows,
        CancellationToken cancellationToken) =>
        DeleteRowsWithinAsync(database, measurement, where, dryRun, maxRows, null, cancellationToken);

    /// <summary>
    /// Deletes the rows of [<paramref name="start"/>, <paramref name="end"/>) of a measurement (0 when it does not exist),
    /// reading only the files whose partitions overlap the range; a continuous query's recompute replaces a window's output
    /// with it.
    /// </summary>
    internal async Task<long> DeleteTimeRangeAsync(string database, string measurement, DateTime start, DateTime end, CancellationToken cancellationToken)
    {
        if (_catalog.FindMeasurement(database, measurement) is null)
        {
            return 0;
        }

        var (low, high) = ((start - DateTime.UnixEpoch).Ticks * 100, ((end - DateTime.UnixEpoch).Ticks * 100) - 1);
        var where = $"time >= '{Iso(new DateTimeOffset(start))}' AND time < '{Iso(new DateTimeOffset(end))}'";
        return (await DeleteRowsWithinAsync(database, measurement, where, false, long.MaxValue, (low, high), cancellationToken).ConfigureAwait(false)).DeletedRows;
    }

    /// <summary>The row delete, over the files whose partitions meet <paramref name="within"/> (Unix ns, inclusive) when set.</summary>
    private async Task<DeleteResult> DeleteRowsWithinAsync(string database, string measurement, string where, bool dryRun, long maxRows,
        (long Low, long High)? within, CancellationToken cancellationToken)
    {
        CheckName(database);
        if (!Names.IsValidMeasurement(measurement))
        {
            throw new DatabaseOperationException(ErrorReason.Invalid, $"invalid measurement name '{measurement}'");
        }

        var predicate = await Query.CheckDeletePredicateAsync(where, cancellationToken).ConfigureAwait(false);
        var entry = _catalog.FindMeasurement(database, measurement)
                    ?? throw new DatabaseOperationException(ErrorReason.NotFound, $"measurement '{measurement}' not found in database '{database}'");
        await _deleteLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ResumeDeletesAsync().ConfigureAwait(false); // one object storage interrupted: finish it before planning over its files
            await _ingest.FlushAllAsync().ConfigureAwait(false); // buffered (and logged) rows reach files, where the rewrite sees them
            var prefix = $"{entry.Database}/{entry.Name}/";
            await Compaction.BlockAsync(prefix, cancellationToken).ConfigureAwait(false);
            IDisposable? lease = null;
            try
            {
                var files = (await DataFilesAsync(entry.Database, entry.Name, cancellationToken).ConfigureAwait(false)).Where(f =>
                    within is not { } range || (FileManifest.PartitionRange(Store, f) is var (min, max) && min <= range.High && max >= range.Low)).ToList();
                lease = Remote is { } remote ? await remote.EnsureFilesAsync(files, cancellationToken).ConfigureAwait(false) : null;
                using var connection = _pool.Database.Connect();
                var schema = SchemaColumns(connection, entry.Database, entry.Name);
                if (schema.Count > 0)
                {
                    // Binds the predicate to the measurement's columns: an unknown column is DuckDB's binder error (400).
                    connection.Execute($"WITH {QueryEngine.DeleteRowsTable} AS (SELECT * FROM read_parquet({Names.QuoteLiteral(_catalog.SchemaFile(entry.Database, entry.Name))})) " +
                                       $"SELECT count(*) FROM ({predicate.MatchSql})");
                }

                var counts = new List<(string File, long Matched, long Total)>();
                foreach (var file in files.Where(File.Exists))
                {
                    var (matched, total) = Count(connection, file, schema, predicate.MatchSql);
                    if (matched > 0)
                    {
                        counts.Add((file, matched, total));
                    }
                }

                var deleted = counts.Sum(c => c.Matched);
                if (deleted > maxRows)
                {
                    throw new DatabaseOperationException(ErrorReason.Invalid,
                        $"Delete would affect {deleted} rows, exceeding maximum of {maxRows}. Adjust delete.max_rows_per_delete or refine the WHERE clause.");
                }

                var names = counts.Select(c => Path.GetFileName(c.File)).ToList();
                if (dryRun || counts.Count == 0)
                {
                    return new DeleteResult(deleted, names, 0, 0, dryRun);
                }

                var steps = counts.Select(c => new DeleteStep(Relative(c.File), c.Matched == c.Total && !HoldsLoggedCommits(c.File)
                    ? null
                    : Relative(Path.Combine(Path.GetDirectoryName(c.File)!, ReplacementName(c.File, entry.Name))))).ToList();
                var marker = DeleteMarker.Create(entry.Database, entry.Name, where, predicate.MatchSql, steps, Options.Time.GetUtcNow());
                marker.Write(Store); // the commit point: from here the delete happens, if need be finished by the next start
                var (rewritten, removed) = await RunDeleteAsync(connection, marker).ConfigureAwait(false);
                _deleteLogger.LogWarning("Deleted {Rows} rows of {Database}.{Measurement} where {Where}: {Rewritten} files rewritten, {Removed} removed",
                    deleted, entry.Database, entry.Name, where, rewritten, removed);
                return new DeleteResult(deleted, names, rewritten, removed, false);
            }
            finally
            {
                lease?.Dispose();
                Compaction.Unblock(prefix);
            }
        }
        finally
        {
            _deleteLock.Release();
        }
    }

    /// <summary>The measurement's data files, locally and in object storage, leaving out files already replaced.</summary>
    private async Task<List<string>> DataFilesAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        var files = Remote is { } remote
            ? (await remote.AllFilesAsync(database, measurement, cancellationToken).ConfigureAwait(false)).Select(f => f.Path)
            : _catalog.Manifest.Files(database, measurement).Select(f => f.Path);
        return files.Where(f => f.EndsWith(".parquet", StringComparison.Ordinal) && !_catalog.Epochs.IsRetired(f))
            .Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>The measurement's columns and types, from its schema file (empty when it has none yet).</summary>
    private List<(string Name, string Type)> SchemaColumns(DuckDbConnection connection, string database, string measurement)
    {
        var schemaFile = _catalog.SchemaFile(database, measurement);
        return File.Exists(schemaFile)
            ? connection.QueryStrings($"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({Names.QuoteLiteral(schemaFile)}))")
                .Select(r => (r[0]!, r[1]!)).ToList()
            : [];
    }

    /// <summary>
    /// The rows of one file as the predicate sees them: the file's columns, the measurement's other columns as typed NULLs
    /// (a file written before a column existed has none of it), and each row's position.
    /// </summary>
    private static (string Cte, List<string> FileColumns) Rows(DuckDbConnection connection, string file, List<(string Name, string Type)> schema)
    {
        var source = $"read_parquet({Names.QuoteLiteral(file)}, file_row_number = true)";
        var columns = connection.QueryStrings($"SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet({Names.QuoteLiteral(file)}))")
            .Select(r => r[0]!).ToList();
        var select = new StringBuilder("SELECT *");
        foreach (var (name, type) in schema.Where(c => !columns.Contains(c.Name, StringComparer.OrdinalIgnoreCase)))
        {
            select.Append(", NULL::").Append(type).Append(" AS ").Append(Names.QuoteIdentifier(name));
        }

        return ($"WITH {QueryEngine.DeleteRowsTable} AS ({select} FROM {source})", columns);
    }

    private static (long Matched, long Total) Count(DuckDbConnection connection, string file, List<(string Name, string Type)> schema, string matchSql)
    {
        var (cte, _) = Rows(connection, file, schema);
        var row = connection.QueryStrings($"{cte} SELECT (SELECT count(*) FROM ({matchSql})), (SELECT count(*) FROM {QueryEngine.DeleteRowsTable})")[0];
        return (long.Parse(row[0]!, CultureInfo.InvariantCulture), long.Parse(row[1]!, CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Whether <paramref name="file"/> is a flush whose LSN range the write-ahead log still holds: such a file is never
    /// removed, only rewritten (empty if need be), or recovery would count its commits as not stored and replay them.
    /// </summary>
    private bool HoldsLoggedCommits(string file) =>
        ParquetFileName.TryParse(Path.GetFileName(file), out var name) && name.LastLsn >= (_ingest.Wal?.OldestRetainedLsn ?? long.MaxValue);

    /// <summary>
    /// A new name for the rewrite of <paramref name="file"/>: a flushed file keeps its flush (stamp, LSN range, part) and
    /// gets a new random part; a compacted or other file gets a new compacted name of its tier.
    /// </summary>
    private static string ReplacementName(string file, string measurement)
    {
        var name = Path.GetFileName(file);
        if (ParquetFileName.TryParse(name, out var parsed))
        {
            return (parsed with { Random = ParquetFileName.NewRandom() }).ToString();
        }

        var suffix = name.EndsWith(CompactionPlanner.DailySuffix, StringComparison.Ordinal) ? CompactionPlanner.DailySuffix : CompactionPlanner.CompactedSuffix;
        return $"{measurement}_{ParquetFileName.NewStamp()}_{ParquetFileName.NewRandom()}{suffix}";
    }

    private string Relative(string path) => Path.GetRelativePath(Store.Root, path);

    private string Full(string relative) => Path.GetFullPath(Path.Combine(Store.Root, relative));

    /// <summary>Runs (or resumes) every step of a delete, then deletes its marker; returns the files rewritten and removed.</summary>
    private async Task<(int Rewritten, int Removed)> RunDeleteAsync(DuckDbConnection connection, DeleteMarker marker)
    {
        var schema = SchemaColumns(connection, marker.Database, marker.Measurement);
        var (rewritten, removed) = (0, 0);
        for (var i = 0; i < marker.Steps.Count; i++)
        {
            switch (await RunStepAsync(connection, marker, i, schema).ConfigureAwait(false))
            {
                case StepOutcome.Rewritten:
                    rewritten++;
                    break;
                case StepOutcome.Removed:
                    removed++;
                    break;
            }
        }

        marker.Delete(Store);
        return (rewritten, removed);
    }

    private enum StepOutcome
    {
        Nothing,
        Rewritten,
        Removed,
    }

    /// <summary>
    /// One file of a delete, idempotent: if the output exists (locally or in object storage) the step had committed and only
    /// the input is left to delete; if the input is gone there is nothing to do; else the input's other rows are copied to
    /// a temporary file, which is uploaded (object storage) and then renamed to the output under the visibility lock, where
    /// the manifest swaps input for output; the input is deleted once no running query reads it, and from the store.
    /// </summary>
    private async Task<StepOutcome> RunStepAsync(DuckDbConnection connection, DeleteMarker marker, int index, List<(string Name, string Type)> schema)
    {
        var step = marker.Steps[index];
        var input = Full(step.Input);
        var output = step.Output is null ? null : Full(step.Output);
        var remote = Remote;
        if (output is not null && (File.Exists(output) || (remote is not null && await remote.ExistsAsync(output, CancellationToken.None).ConfigureAwait(false))))
        {
            await RetireInputAsync(marker, input, null).ConfigureAwait(false);
            return StepOutcome.Rewritten;
        }

        if (!File.Exists(input) && (remote is null || !await remote.ExistsAsync(input, CancellationToken.None).ConfigureAwait(false)))
        {
            return StepOutcome.Nothing;
        }

        using var lease = remote is null ? null : await remote.EnsureFilesAsync([input], CancellationToken.None).ConfigureAwait(false);
        var (cte, columns) = Rows(connection, input, schema);
        var tags = connection.QueryStrings(
            $"SELECT decode(value) FROM parquet_kv_metadata({Names.QuoteLiteral(input)}) WHERE decode(key) = '{ParquetFileWriter.TagsMetadataKey}'");
        var temp = Path.Combine(Store.TempDirectory, $"delete-{marker.Id}-{index}.parquet");
        var keep = $"{cte} SELECT {string.Join(", ", columns.Select(Names.QuoteIdentifier))} FROM {QueryEngine.DeleteRowsTable} " +
                   $"WHERE file_row_number NOT IN (SELECT file_row_number FROM ({marker.MatchSql})) ORDER BY file_row_number";
        if (output is null)
        {
            // Every row matched when the delete was planned; a predicate that now keeps some (now() moved) keeps the file.
            if (connection.QueryStrings($"SELECT count(*) FROM ({keep})")[0][0] != "0")
            {
                return StepOutcome.Nothing;
            }

            await RetireInputAsync(marker, input, null).ConfigureAwait(false);
            return StepOutcome.Removed;
        }

        var metadata = tags.Count > 0 && tags[0][0] is { } json
            ? $", KV_METADATA {{{ParquetFileWriter.TagsMetadataKey}: {Names.QuoteLiteral(json)}}}"
            : "";
        try
        {
            var written = long.Parse(connection.QueryStrings($"COPY ({keep}) TO {Names.QuoteLiteral(temp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880{metadata})")[0][0]!,
                CultureInfo.InvariantCulture); // COPY answers the rows it wrote
            Durability.FsyncFile(temp);
            if (remote is not null)
            {
                await remote.UploadNowAsync(temp, output, CancellationToken.None).ConfigureAwait(false); // the store has it before it loses the input
            }

            RowRange? rows = _catalog.Manifest.TimeOf(input) is { } time ? new RowRange(time.Min, time.Max, written) : null; // the kept rows are some of the input's
            await RetireInputAsync(marker, input, () =>
            {
                LocalStore.EnsureDirectory(Path.GetDirectoryName(output)!);
                File.Move(temp, output, overwrite: false);
                remote?.Placed(output);
                Durability.FsyncDirectory(Path.GetDirectoryName(output)!);
                _catalog.Manifest.Added([output], _catalog.Manifest.ColumnsOf(marker.Database, marker.Measurement, [input]), _ => rows);
            }).ConfigureAwait(false);
            return StepOutcome.Rewritten;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// Under the visibility write lock: places the output (<paramref name="place"/>), forgets the input and schedules its
    /// deletion for when no running query reads it, and moves the measurement's data version (cached results go); then
    /// deletes the input from object storage.
    /// </summary>
    private async Task RetireInputAsync(DeleteMarker marker, string input, Action? place)
    {
        _catalog.Visibility.EnterWriteLock();
        try
        {
            place?.Invoke();
            _catalog.Manifest.Removed([input]);
            if (File.Exists(input))
            {
                _catalog.Epochs.Retire([input], static () => { });
            }

            _catalog.Versions.Bump(marker.Database, marker.Measurement);
        }
        finally
        {
            _catalog.Visibility.ExitWriteLock();
        }

        if (Remote is { } remote)
        {
            await remote.DeleteAsync([input], CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Finishes deletes a crash (or object storage) interrupted: at startup before compaction starts and queries arrive, and
    /// before each delete. One that cannot finish now (object storage away) stays for the next call or start, and keeps
    /// compaction off its measurement meanwhile (<see cref="BlockUnfinishedDeletes"/>), so no merge takes in rows it has yet
    /// to delete.
    /// </summary>
    private async Task ResumeDeletesAsync()
    {
        var markers = DeleteMarker.ReadAll(Store);
        if (markers.Count == 0)
        {
            return;
        }

        using var connection = _pool.Database.Connect();
        foreach (var marker in markers)
        {
            var prefix = $"{marker.Database}/{marker.Measurement}/";
            if (Compaction is not null && _blockedDeletes.Add(marker.Id))
            {
                await Compaction.BlockAsync(prefix, CancellationToken.None).ConfigureAwait(false);
            }

            try
            {
                var (rewritten, removed) = await RunDeleteAsync(connection, marker).ConfigureAwait(false);
                _deleteLogger.LogWarning("Finished the interrupted delete of {Database}.{Measurement} where {Where}: {Rewritten} files rewritten, {Removed} removed",
                    marker.Database, marker.Measurement, marker.Where, rewritten, removed);
            }
            catch (Exception e) when (e is IOException or DuckDbException)
            {
                _deleteLogger.LogError(e, "Could not finish the delete of {Database}.{Measurement} where {Where}; the next delete or start retries it",
                    marker.Database, marker.Measurement, marker.Where);
                continue;
            }

            if (Compaction is not null && _blockedDeletes.Remove(marker.Id))
            {
                Compaction.Unblock(prefix);
            }
        }
    }

    /// <summary>Deletes resumed during startup left unfinished: compaction stays off their measurements until they finish.</summary>
    private async Task BlockUnfinishedDeletes()
    {
        foreach (var marker in DeleteMarker.ReadAll(Store))
        {
            if (_blockedDeletes.Add(marker.Id))
            {
                await Compaction.BlockAsync($"{marker.Database}/{marker.Measurement}/", CancellationToken.None).ConfigureAwait(false);
            }
        }
    }
}

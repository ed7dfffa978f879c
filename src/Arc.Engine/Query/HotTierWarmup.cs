using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using DuckDB.NET.Native;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Query;

/// <summary>
/// Fills the hot tier after a start (<c>query.hot_data_warm</c>): nothing is kept across a restart, so without this a
/// last-hour panel reads Parquet files until an hour of new flushes has filled the tier again. In the background, newest
/// files first (by their newest row), each file's rows are read back through DuckDB sorted by time and handed to the
/// manifest as that file's kept rows, under the visibility write lock and only if the manifest still lists the file cold
/// with as many rows (a merge, delete or retention that replaced it meanwhile wins), in passes until one keeps nothing (a
/// merge of files still cold wrote a cold file meanwhile). It stops at the budget, skips a file
/// whose column types are not the ones its measurement's rows in memory have (a file placed by hand), and stops when the
/// engine does. Local storage only: with object storage a kept file would also be held in the local cache. It yields to
/// queries: each file waits until no query has held a connection for <paramref name="quiet"/>, so a query sent right
/// after a start, or a run of them, never shares the machine with the fill (a file's read, once started, runs to its end).
/// </summary>
/// <param name="pool">The query connections (their gate tells <see cref="QueryPriorityPool.QuietFor"/>).</param>
/// <param name="quiet">How long no query may have run before the next file is read.</param>
internal sealed class HotTierWarmup(Catalog catalog, DuckDbConnectionPool pool, TimeSpan quiet, ILogger logger)
{
    /// <summary>How often the fill looks whether queries are running while it waits for a quiet moment.</summary>
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    /// <summary>Reads files into the tier until the budget is reached or <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        var manifest = catalog.Manifest;
        var (files, rows) = (0, 0L);
        try
        {
            using var connection = pool.Database.Connect();

            // Passes until one keeps nothing: files a merge wrote meanwhile (its inputs were still cold) come in the next.
            for (var kept = -1; kept != 0;)
            {
                kept = 0;
                foreach (var (entry, file) in ColdFilesNewestFirst())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (manifest.HotBytes >= manifest.HotBudget || manifest.SteppedAside.Now)
                    {
                        return;
                    }

                    await QuietAsync(cancellationToken).ConfigureAwait(false);
                    ColumnSet? set;
                    try
                    {
                        set = Read(connection, entry, file.Path);
                    }
                    catch (DuckDbException) when (!File.Exists(file.Path))
                    {
                        continue; // a merge, delete or retention removed it after the list was taken
                    }

                    if (set is null)
                    {
                        continue;
                    }

                    if (manifest.HotBytes + set.ByteSize > manifest.HotBudget)
                    {
                        set.Dispose();
                        return;
                    }

                    if (Keep(entry, file, set))
                    {
                        (kept, files, rows) = (kept + 1, files + 1, rows + set.RowCount);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the engine is stopping
        }
        catch (Exception e) when (e is DuckDbException or IOException or InvalidOperationException)
        {
            logger.LogWarning(e, "Filling the hot tier after the start stopped; queries read the other files from Parquet");
        }
        finally
        {
            logger.LogInformation("Hot tier filled after the start: {Files} files, {Rows} rows, {Bytes} bytes", files, rows, manifest.HotBytes);
        }
    }

    /// <summary>Returns once no query has held or waited for a connection for <c>quiet</c>.</summary>
    private async Task QuietAsync(CancellationToken cancellationToken)
    {
        while (!pool.Slots.QuietFor(quiet))
        {
            await Task.Delay(Poll, cancellationToken).ConfigureAwait(false);
        }
    }

    private List<(Catalog.MeasurementEntry Entry, ManifestFile File)> ColdFilesNewestFirst() =>
        catalog.Databases
            .SelectMany(d => catalog.Measurements(d).SelectMany(m => catalog.Manifest.Files(d, m.Name).Select(f => (Entry: m, File: f))))
            .Where(c => c.File.Retained is null && c.File.Rows is > 0)
            .OrderByDescending(c => c.File.MaxTime)
            .ToList();

    /// <summary>Hands the rows to the manifest if it still lists the file cold with as many rows; else lets them go.</summary>
    private bool Keep(Catalog.MeasurementEntry entry, ManifestFile file, ColumnSet set)
    {
        catalog.Visibility.EnterWriteLock();
        try
        {
            if (catalog.Manifest.Files(entry.Database, entry.Name).FirstOrDefault(f => f.Path == file.Path) is { Retained: null } now
                && now.Rows == set.RowCount)
            {
                catalog.Manifest.Retain(new RetainedSet(set), [(file.Path, 0, set.RowCount, set.MinTime, set.MaxTime)]);
                return true;
            }

            set.Dispose();
            return false;
        }
        finally
        {
            catalog.Visibility.ExitWriteLock();
        }
    }

    /// <summary>The file's rows sorted by time as the measurement's rows in memory are kept; null when a column's type differs.</summary>
    private static ColumnSet? Read(DuckDbConnection connection, Catalog.MeasurementEntry entry, string path)
    {
        using var result = DuckDbQueryResult.Run(connection, $"SELECT * FROM read_parquet({Names.QuoteLiteral(path)}) ORDER BY time");
        var schema = entry.Schema;
        var set = new ColumnSet(entry.Database, entry.Name);
        try
        {
            var columns = new int[result.ColumnCount];
            for (var i = 0; i < columns.Length; i++)
            {
                var name = result.GetColumnName(i);
                var kind = name == ColumnSet.TimeColumn ? ColumnKind.Time : schema.KindOf(name);
                if (kind is not { } k || BufferScan.TypeOf(k) != result.GetColumnTypeId(i))
                {
                    set.Dispose();
                    return null;
                }

                columns[i] = k == ColumnKind.Time ? 0 : set.AddColumn(name, k);
            }

            while (result.FetchChunk() is { } chunk)
            {
                using (chunk)
                {
                    Append(set, chunk, columns);
                }
            }

            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    private static unsafe void Append(ColumnSet set, DuckDBDataChunk chunk, int[] columns)
    {
        var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
        var vectors = new (IntPtr Data, IntPtr Validity)[columns.Length];
        for (var i = 0; i < columns.Length; i++)
        {
            var vector = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, i);
            vectors[i] = ((IntPtr)NativeMethods.Vectors.DuckDBVectorGetData(vector), (IntPtr)NativeMethods.Vectors.DuckDBVectorGetValidity(vector));
        }

        for (var row = 0; row < size; row++)
        {
            var at = set.RowCount;
            var time = 0L;
            for (var i = 0; i < columns.Length; i++)
            {
                var (data, validity) = vectors[i];
                if (validity != IntPtr.Zero && (((ulong*)validity)[row >> 6] & (1UL << (row & 63))) == 0)
                {
                    continue;
                }

                var column = set.Columns[columns[i]];
                switch (column.Kind)
                {
                    case ColumnKind.Boolean:
                        column.SetBoolean(at, ((byte*)data)[row] != 0);
                        break;
                    case ColumnKind.Tag or ColumnKind.String:
                        column.SetBytes(at, DuckDbStrings.Span((byte*)data + (row * 16)));
                        break;
                    default:
                        var value = ((long*)data)[row];
                        column.SetInt64(at, value);
                        if (column.Kind == ColumnKind.Time)
                        {
                            time = value;
                        }

                        break;
                }
            }

            set.EndRow(time);
        }
    }
}

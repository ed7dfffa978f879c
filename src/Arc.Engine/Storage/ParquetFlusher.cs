using Arc.Engine.Buffers;

namespace Arc.Engine.Storage;

/// <summary>
/// Flushes buffered rows to Parquet (<see cref="ParquetFileWriter"/>): one file per UTC hour the rows cover, written under a
/// temporary name, fsynced and renamed into its hour partition. Rows of a measurement whose merges sort by tags then time
/// (<paramref name="bySeries"/>) are written in that order (<see cref="ColumnSet.SortedBySeries"/>), and the file says so,
/// so compaction merges it as a stream without sorting it first; other rows are written in time order.
/// </summary>
internal sealed class ParquetFlusher(LocalStore store, string compression, int rowGroupSize, Func<string, bool> bySeries) : IDisposable
{
    private readonly ParquetFileWriter _writer = new(compression, rowGroupSize);

    /// <summary>Writes <paramref name="data"/> and places it; returns the final paths of the files it created.</summary>
    public List<string> Write(ColumnSet data)
    {
        using var staged = Stage(data);
        return Place(staged);
    }

    /// <summary>
    /// Writes every part of <paramref name="data"/> (one per hour) under a temporary name and syncs it. Nothing is visible
    /// yet; disposing the result removes whatever was not placed.
    /// </summary>
    public StagedFlush Stage(ColumnSet data)
    {
        var unique = false;
        var sorted = bySeries(data.Measurement) && data.Columns.Any(c => c.Kind == ColumnKind.Tag) ? data.SortedBySeries(out unique) : null;
        var series = sorted is not null;
        sorted ??= data.IsSortedByTime ? null : data.SortedByTime();
        var staged = new StagedFlush(sorted ?? data, sorted is not null);
        try
        {
            var rows = staged.Rows;
            var batch = ParquetFileWriter.ToRecordBatch(rows, flush: true, series, unique);
            var hours = HourRanges(rows);
            var stamp = ParquetFileName.NewStamp();
            for (var part = 0; part < hours.Count; part++)
            {
                var (hour, start, end, minTime, maxTime) = hours[part];
                var name = new ParquetFileName(rows.Measurement, stamp, data.FirstLsn, data.LastLsn, part + 1, hours.Count, ParquetFileName.NewRandom());
                var temp = Path.Combine(store.TempDirectory, name + ".tmp");
                staged.Files.Add((temp, Path.Combine(store.PartitionDirectory(rows.Database, rows.Measurement, hour), name.ToString()), start, end, minTime, maxTime));
                _writer.Write(hours.Count == 1 ? batch : batch.Slice(start, end - start), temp);
            }

            return staged;
        }
        catch
        {
            staged.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Renames the staged parts into their partitions (syncing each directory) and returns their paths. If a rename fails
    /// the parts already placed are removed again, so the caller can retry the whole buffer; a crash in between leaves an
    /// incomplete set of parts that recovery recognizes (<see cref="ParquetFileName"/>).
    /// </summary>
    public static List<string> Place(StagedFlush staged)
    {
        var placed = new List<string>();
        try
        {
            foreach (var (temp, final, _, _, _, _) in staged.Files)
            {
                var directory = Path.GetDirectoryName(final)!;
                LocalStore.EnsureDirectory(directory);
                File.Move(temp, final, overwrite: false);
                placed.Add(final);
                Durability.FsyncDirectory(directory);
            }

            return placed;
        }
        catch
        {
            foreach (var file in placed)
            {
                File.Delete(file);
            }

            throw;
        }
    }

    /// <summary>
    /// The hours the rows (in time or series order: by hour first either way) cover, with each hour's row range and its
    /// earliest and latest time (read on the way, so the step that lists the files need not scan them).
    /// </summary>
    private static List<(long Hour, int Start, int End, long MinTime, long MaxTime)> HourRanges(ColumnSet rows)
    {
        var ranges = new List<(long, int, int, long, long)>();
        var time = rows.Time;
        var start = 0;
        while (start < rows.RowCount)
        {
            var first = time.GetInt64(start);
            var hour = LocalStore.HourOf(first);
            var nextHour = (hour + 1) * LocalStore.NanosPerHour;
            var (end, min, max) = (start + 1, first, first);
            for (long t; end < rows.RowCount && (t = time.GetInt64(end)) < nextHour; end++)
            {
                (min, max) = (Math.Min(min, t), Math.Max(max, t));
            }

            ranges.Add((hour, start, end, min, max));
            start = end;
        }

        return ranges;
    }

    public void Dispose() => _writer.Dispose();
}

/// <summary>
/// A flush written under temporary names, waiting to be placed; disposing removes what was not placed, and the sorted copy
/// of the rows unless <see cref="TakeRows"/> took it.
/// </summary>
internal sealed class StagedFlush(ColumnSet rows, bool ownsRows) : IDisposable
{
    private bool _ownsRows = ownsRows;

    /// <summary>Whether <see cref="Rows"/> is a copy (ordered by series, or the flushed buffer was not in time order).</summary>
    public bool RowsAreCopy { get; } = ownsRows;

    /// <summary>Each file: its temporary and final path, the rows of <see cref="Rows"/> it holds and their time range.</summary>
    public List<(string Temp, string Final, int Start, int End, long MinTime, long MaxTime)> Files { get; } = [];

    /// <summary>The rows as written: the flushed buffer itself (in time order), or a sorted copy of it.</summary>
    public ColumnSet Rows => rows;

    /// <summary>The time range and count of the rows the file placed at <paramref name="final"/> holds; null for a path not staged here.</summary>
    public RowRange? RowsOf(string final)
    {
        foreach (var (_, path, start, end, min, max) in Files)
        {
            if (end > start && path == final)
            {
                return new RowRange(min, max, end - start);
            }
        }

        return null;
    }

    /// <summary>Takes over the sorted copy (the hot tier keeps it); the caller disposes it.</summary>
    public ColumnSet TakeRows()
    {
        _ownsRows = false;
        return rows;
    }

    public void Dispose()
    {
        foreach (var (temp, _, _, _, _, _) in Files)
        {
            File.Delete(temp);
        }

        if (_ownsRows)
        {
            rows.Dispose();
        }
    }
}

using Arc.Engine.Buffers;

namespace Arc.Engine.Storage;

/// <summary>
/// The rows of a flush kept in memory after they were written to Parquet (the hot tier): the flushed buffer, sorted by
/// time, shared by the manifest entries of the files it became (a flush spanning hours is one file per hour; a merge of
/// such files keeps their sets). It goes back to the pool (once no query reads it) when the last of those entries lets it
/// go: the file was removed, rewritten or evicted from the tier. Counted under the manifest's lock.
/// </summary>
internal sealed class RetainedSet(ColumnSet rows)
{
    /// <summary>The rows; never written after they were retained.</summary>
    public ColumnSet Rows { get; } = rows;

    /// <summary>The memory its arrays take, as counted against <c>query.hot_data_size_mb</c>.</summary>
    public long Bytes { get; } = rows.ByteSize;

    /// <summary>Manifest entries that read from it.</summary>
    internal int Holders { get; set; }
}

/// <summary>
/// Rows [<paramref name="Start"/>, <paramref name="End"/>) of a retained set, in the order of its file (time, or series
/// when <see cref="ColumnSet.IsSortedByTime"/> is false): what one file holds of it. <paramref name="MinTime"/> and
/// <paramref name="MaxTime"/> are the range's earliest and latest time (Unix ns).
/// </summary>
internal readonly record struct RetainedRange(RetainedSet Set, int Start, int End, long MinTime, long MaxTime);

namespace Arc.Engine.Buffers;

/// <summary>
/// Gives a query a measurement's rows that are accepted but not yet visible in Parquet, and those of flushed files kept in memory: the write path's buffers as the
/// query side's <c>arc_buffer</c> scan reads them, without either knowing the other.
/// </summary>
internal interface IBufferSnapshotSource
{
    /// <summary>
    /// The rows, shared with the buffers (the caller disposes it to let them go), or null when there are none. Rows of
    /// flushed files kept in memory are included when their files are (call under the visibility lock the file list is
    /// read under), those whose time range ends before <paramref name="from"/> (Unix ns) left out.
    /// </summary>
    BufferSnapshot? Snapshot(string database, string measurement, long from);

    /// <summary>
    /// Whether <see cref="Snapshot"/> would give rows with a time in <paramref name="from"/> … <paramref name="to"/> (Unix
    /// ns, inclusive), or a column not in <paramref name="filed"/> (the columns of the measurement's files): when neither,
    /// a statement needs only the files, and its columns are the same. Call under the visibility lock, as for the snapshot.
    /// </summary>
    bool Holds(string database, string measurement, long from, long to, IReadOnlySet<string> filed);
}

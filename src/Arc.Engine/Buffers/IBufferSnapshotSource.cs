namespace Arc.Engine.Buffers;

/// <summary>
/// Gives a query its own copy of a measurement's rows that are accepted but not yet visible in Parquet: the write path's
/// buffers as the query side's <c>arc_buffer</c> scan reads them, without either knowing the other.
/// </summary>
internal interface IBufferSnapshotSource
{
    /// <summary>A copy the caller owns, or null when nothing is buffered.</summary>
    ColumnSet? Snapshot(string database, string measurement);
}

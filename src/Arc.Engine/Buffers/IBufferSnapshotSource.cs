namespace Arc.Engine.Buffers;

/// <summary>
/// Gives a query a measurement's rows that are accepted but not yet visible in Parquet: the write path's buffers as the
/// query side's <c>arc_buffer</c> scan reads them, without either knowing the other.
/// </summary>
internal interface IBufferSnapshotSource
{
    /// <summary>The rows, shared with the buffers (the caller disposes it to let them go), or null when nothing is buffered.</summary>
    BufferSnapshot? Snapshot(string database, string measurement);
}

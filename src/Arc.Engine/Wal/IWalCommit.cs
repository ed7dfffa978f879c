using Arc.Engine.Buffers;

namespace Arc.Engine.Wal;

/// <summary>
/// A commit as the write-ahead log sees it: the rows it logs, per measurement. The log hands the commit back, unchanged,
/// to the callback that applies it, so it needs to know nothing else about it (the ingest engine's write batch is one).
/// </summary>
internal interface IWalCommit
{
    IEnumerable<ColumnSet> Sets { get; }
}

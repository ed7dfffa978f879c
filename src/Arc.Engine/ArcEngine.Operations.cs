using Arc.Engine.Metrics;
using Arc.Engine.Query;
using Arc.Engine.Storage;

namespace Arc.Engine;

/// <summary>What the metrics endpoints read from the engine, and the hooks they attach to.</summary>
public sealed partial class ArcEngine
{
    /// <summary>The admission gate of the query connections: size, priority queues, waits and execution times.</summary>
    public QueryPriorityPool QueryPool => _pool.Slots;

    /// <summary>Query connections opened and not in use.</summary>
    public int IdleQueryConnections => _pool.Idle;

    /// <summary>Per-measurement data versions (commits and compactions move them); the result cache subscribes.</summary>
    public DataVersions DataVersions => Query.Versions;

    /// <summary>Buffers written to Parquet since startup.</summary>
    public long Flushes => _ingest.Flushes;

    public Histogram FlushSeconds => _ingest.FlushSeconds;

    /// <summary>Write-ahead log figures, or null when <c>wal.enabled = false</c>.</summary>
    public WalMetrics? Wal => _ingest.Wal is { } wal
        ? new WalMetrics(wal.AppendedEntries, wal.AppendedBytes, wal.WriteFailures, wal.SegmentCount, wal.LastLsn, wal.WriteSeconds)
        : null;
}

/// <summary>A snapshot of the write-ahead log's counters.</summary>
public sealed record WalMetrics(long Entries, long Bytes, long WriteFailures, int Segments, long LastLsn, Histogram WriteSeconds);

using System.Diagnostics;
using System.Text.Json.Serialization;
using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Engine.Metrics;
using Arc.Engine.Query;
using Arc.Native.Auth;
using Arc.Native.Configuration;

namespace Arc.Native.Http;

/// <summary>
/// <c>GET /metrics</c>: Prometheus text exposition of ingest (per input format, from <see cref="IngestStats"/>), buffers
/// and flushes, the write-ahead log, object storage, compaction, the query pool, the result cache, HTTP latencies and
/// the process. Needs the read permission unless <c>metrics.public = true</c>. <c>GET /metrics/query-pool</c>: the query
/// pool as JSON, with execution and wait times
/// over the rolling window (read permission).
/// </summary>
internal static class MetricsEndpoints
{
    public static void Map(WebApplication app, ArcConfig config)
    {
        var metrics = app.MapGet("/metrics", (ArcEngine engine, HttpMetrics http, IngestStats ingest, ReceiveBlockPoolFactory pools) =>
            Results.Text(Render(engine, http, ingest, engine.ResultCache, pools), PrometheusWriter.ContentType));
        if (config.MetricsPublic)
        {
            metrics.Public();
        }
        else
        {
            metrics.Requires(Permission.Read);
        }

        app.MapGet("/metrics/query-pool", (ArcEngine engine) => Results.Json(PoolResponse.From(engine), MetricsJsonContext.Api.PoolResponse))
            .Requires(Permission.Read);
    }

    internal static string Render(ArcEngine engine, HttpMetrics http, IngestStats ingest, QueryResultCache? cache, ReceiveBlockPoolFactory pools)
    {
        var writer = new PrometheusWriter();
        writer.Family("arc_build_info", "gauge", "Version of the server and of its DuckDB (always 1).")
            .Sample("arc_build_info", 1, ("version", ServerInfo.Version), ("duckdb", ArcEngine.DuckDbVersion));

        WriteIngest(writer, ingest.Snapshot());
        writer.Gauge("arc_buffered_rows", "Rows accepted and not yet in Parquet (buffers and flushes in progress).", engine.BufferedRows);
        writer.Gauge("arc_buffered_bytes", "Buffer memory held by rows not yet in Parquet (ingest.max_memory bounds it).", engine.BufferedBytes);
        writer.Gauge("arc_hot_bytes", "Memory held by flushed rows kept for queries (query.hot_data_size_mb bounds it).", engine.HotBytes);
        var (aside, stepsAside) = engine.HotSteppedAside;
        writer.Gauge("arc_hot_stepped_aside", "1 while the hot tier keeps nothing: rows arrive faster than it could keep them for query.hot_data_min_seconds.",
            aside ? 1 : 0);
        writer.Counter("arc_hot_steps_aside_total", "Times the hot tier stepped aside (query.hot_data_min_seconds).", stepsAside);
        writer.Gauge("arc_buffer_memory_limit_bytes", "ingest.max_memory: writes get 503 above it.", engine.Options.MaxBufferMemory);
        writer.Counter("arc_flushes_total", "Buffers written to Parquet.", engine.Flushes);
        writer.Counter("arc_flushed_rows_total", "Rows written to Parquet.", engine.FlushedRows);
        writer.Counter("arc_flush_failures_total", "Flush attempts that failed (the rows are kept and retried).", engine.FlushFailures);
        writer.Counter("arc_query_files_total", "Parquet files listed to DuckDB by queries (the manifest's files whose time range a query needs).",
            engine.Query.FilesListed);
        writer.Counter("arc_query_files_pruned_total", "Parquet files queries did not open because their time range is outside the query's filter.",
            engine.Query.FilesPruned);
        writer.Counter("arc_query_files_hot_total", "Files queries needed and read from memory (query.hot_data_size_mb) instead of opening them.",
            engine.Query.FilesHot);
        writer.Counter("arc_query_database_renewals_total",
            "Times the query DuckDB was replaced by a fresh one to drop the cached footers of removed files (database.renew_after_files_removed).",
            engine.QueryDatabaseRenewals);
        writer.Family("arc_flush_duration_seconds", "histogram", "Time to write one buffer to Parquet.").Histogram("arc_flush_duration_seconds", engine.FlushSeconds);

        if (engine.Wal is { } wal)
        {
            writer.Counter("arc_wal_entries_total", "Commits appended to the write-ahead log.", wal.Entries);
            writer.Counter("arc_wal_bytes_total", "Bytes appended to the write-ahead log.", wal.Bytes);
            writer.Counter("arc_wal_write_failures_total", "Groups of commits the log could not write (answered 507).", wal.WriteFailures);
            writer.Gauge("arc_wal_segments", "Write-ahead log segment files on disk.", wal.Segments);
            writer.Gauge("arc_wal_last_lsn", "Last log sequence number written.", wal.LastLsn);
            writer.Family("arc_wal_write_duration_seconds", "histogram", "Time to write and sync one group of commits (wal.sync_mode).")
                .Histogram("arc_wal_write_duration_seconds", wal.WriteSeconds);
        }

        if (engine.ObjectStorage is { } store)
        {
            writer.Gauge("arc_object_store_pending_uploads", "Flushed or compacted files not yet in object storage.", store.PendingUploads);
            writer.Gauge("arc_object_store_pending_bytes", "Bytes of the files not yet in object storage.", store.PendingBytes);
            writer.Counter("arc_object_store_uploads_total", "Files uploaded to object storage.", store.Uploaded);
            writer.Counter("arc_object_store_upload_failures_total", "Upload attempts that failed (retried).", store.UploadFailures);
            writer.Gauge("arc_object_store_cache_bytes", "Bytes of object-storage files in the local cache.", store.CachedBytes);
        }

        var compaction = engine.Compaction.Stats;
        writer.Family("arc_compaction_jobs_total", "counter", "Compaction jobs finished, by result.")
            .Sample("arc_compaction_jobs_total", compaction.JobsCompleted, ("result", "completed"))
            .Sample("arc_compaction_jobs_total", compaction.JobsFailed, ("result", "failed"));
        writer.Gauge("arc_compaction_jobs_running", "Compaction jobs running.", engine.Compaction.Jobs.Count);
        writer.Counter("arc_compaction_files_total", "Files merged by completed compaction jobs.", compaction.FilesCompacted);
        writer.Counter("arc_compaction_bytes_before_total", "Bytes of the files completed jobs merged.", compaction.BytesBefore);
        writer.Counter("arc_compaction_bytes_after_total", "Bytes of the files completed jobs wrote.", compaction.BytesAfter);
        writer.Counter("arc_compaction_files_quarantined_total", "Unreadable files moved to quarantine.", compaction.FilesQuarantined);
        writer.Counter("arc_compaction_inputs_sorted_total", "Merge inputs sorted by DuckDB before a streamed merge (not in series order).", compaction.InputsSorted);

        WritePool(writer, engine);
        if (cache is not null)
        {
            WriteCache(writer, cache.Stats());
        }

        http.Write(writer);

        using var process = Process.GetCurrentProcess();
        writer.Gauge("process_resident_memory_bytes", "Resident memory of the process.", process.WorkingSet64);
        writer.Family("process_cpu_seconds_total", "counter", "User and system CPU time of the process.")
            .Sample("process_cpu_seconds_total", process.TotalProcessorTime.TotalSeconds);
        writer.Gauge("process_start_time_seconds", "Start time of the process since the Unix epoch.",
            (process.StartTime.ToUniversalTime() - DateTime.UnixEpoch).TotalSeconds);
        writer.Gauge("dotnet_gc_heap_bytes", "Bytes of the managed heap.", GC.GetTotalMemory(false));
        writer.Gauge("dotnet_gc_committed_bytes", "Memory the garbage collector has committed (the managed heap's share of the resident memory).",
            GC.GetGCMemoryInfo().TotalCommittedBytes);
        (string Instance, (long Used, long Limit) Memory)[] duckDbs = [("query", engine.QueryDuckDbMemory()), ("compaction", engine.Compaction.DuckDbMemory())];
        writer.Labelled("arc_duckdb_memory_bytes", "gauge", "Memory DuckDB's buffer manager holds (duckdb_memory()), by instance.",
            "instance", duckDbs, static m => m.Used);
        writer.Labelled("arc_duckdb_memory_limit_bytes", "gauge", "DuckDB's memory_limit, by instance (database.memory_limit, compaction.memory_limit).",
            "instance", duckDbs, static m => m.Limit);
        var parquet = ArcEngine.ParquetMemoryUsage();
        writer.Family("arc_parquet_memory_bytes", "gauge",
                "Memory the Arrow C++ library writing and merging Parquet holds allocated, by allocator (ARROW_DEFAULT_MEMORY_POOL).")
            .Sample("arc_parquet_memory_bytes", parquet.Bytes, ("pool", parquet.Backend));
        var blocks = pools.Bytes();
        writer.Family("arc_http_pool_bytes", "gauge",
                "Memory of the 64 KiB blocks Kestrel reads requests into and writes responses from: lent out (in_use) and kept for reuse (free).")
            .Sample("arc_http_pool_bytes", blocks.InUse, ("state", "in_use"))
            .Sample("arc_http_pool_bytes", blocks.Free, ("state", "free"));

        return writer.ToString();
    }

    /// <summary>The counters of <c>GET /api/v1/write/stats</c>, per input format.</summary>
    private static void WriteIngest(PrometheusWriter writer, IngestStatsResponse stats)
    {
        (string Protocol, IngestFormatStats Stats)[] formats = [("line_protocol", stats.LineProtocol), ("msgpack", stats.MsgPack)];
        writer.Labelled("arc_ingest_requests_total", "counter", "Write requests answered, by input format.", "protocol", formats, static s => s.Requests);
        writer.Labelled("arc_ingest_errors_total", "counter", "Write requests answered with an error status, by input format.", "protocol", formats,
            static s => s.Errors);
        writer.Labelled("arc_ingest_bytes_total", "counter", "Write request body bytes as received (compressed when sent compressed), by input format.",
            "protocol", formats, static s => s.BytesReceived);
        writer.Family("arc_ingest_records_total", "counter", "Records (points, rows) accepted or rejected, by input format.");
        foreach (var (protocol, s) in formats)
        {
            writer.Sample("arc_ingest_records_total", s.RecordsAccepted, ("protocol", protocol), ("result", "accepted"));
            writer.Sample("arc_ingest_records_total", s.RecordsRejected, ("protocol", protocol), ("result", "rejected"));
        }
    }

    private static void WritePool(PrometheusWriter writer, ArcEngine engine)
    {
        var pool = engine.QueryPool;
        var stats = pool.Stats();
        writer.Gauge("arc_query_pool_size", "Query connections (database.max_connections).", stats.Size);
        writer.Gauge("arc_query_pool_active", "Query connections in use.", stats.Active);
        writer.Gauge("arc_query_pool_idle", "Query connections open and free.", engine.IdleQueryConnections);
        writer.Gauge("arc_query_pool_queue_limit", "Queries that may wait (query.queue_size; critical ones are not counted).", stats.QueueLimit);
        var priorities = Enumerable.Range((int)QueryPriority.Low, QueryPriority.Critical - QueryPriority.Low + 1)
            .Select(p => (Priorities.Name((QueryPriority)p), p)).ToArray();
        writer.Labelled("arc_query_pool_queue_depth", "gauge", "Queries waiting for a connection, by priority.", "priority", priorities,
            p => stats.QueuedByPriority[p]);
        writer.Labelled("arc_query_pool_acquired_total", "counter", "Connections handed to queries, by priority.", "priority", priorities,
            p => stats.AcquiredByPriority[p]);

        writer.Counter("arc_query_pool_waits_total", "Queries that had to wait for a connection.", stats.Waited);
        writer.Family("arc_query_pool_rejected_total", "counter", "Queries answered 503 by the pool, by reason.")
            .Sample("arc_query_pool_rejected_total", stats.Rejected, ("reason", "queue_full"))
            .Sample("arc_query_pool_rejected_total", stats.TimedOut, ("reason", "queue_timeout"));
        writer.Counter("arc_query_pool_cancelled_total", "Waits abandoned because the client went away.", stats.Cancelled);
        writer.Family("arc_query_pool_wait_seconds", "histogram", "Time queries waited for a connection (0 when one was free).")
            .Histogram("arc_query_pool_wait_seconds", pool.WaitSeconds);
        writer.Family("arc_query_execution_seconds", "histogram", "Time a query held its connection (from admission to the connection's return).")
            .Histogram("arc_query_execution_seconds", pool.ExecutionSeconds);
        var window = stats.ExecutionMs;
        writer.Family("arc_query_execution_window_seconds", "summary",
            $"Execution time over the last {stats.Window.TotalSeconds:0} s (rolling window of the latest queries).");
        writer.Sample("arc_query_execution_window_seconds", window.P50 / 1000, ("quantile", "0.5"));
        writer.Sample("arc_query_execution_window_seconds", window.P95 / 1000, ("quantile", "0.95"));
        writer.Sample("arc_query_execution_window_seconds", window.P99 / 1000, ("quantile", "0.99"));
        writer.Sample("arc_query_execution_window_seconds_sum", window.Mean * window.Count / 1000);
        writer.Sample("arc_query_execution_window_seconds_count", window.Count);
    }

    private static void WriteCache(PrometheusWriter writer, QueryCacheStats stats)
    {
        writer.Counter("arc_query_cache_hits_total", "Query results served from the cache.", stats.Hits);
        writer.Counter("arc_query_cache_misses_total", "Cache lookups that found no current entry.", stats.Misses);
        writer.Counter("arc_query_cache_stores_total", "Results stored in the cache.", stats.Stores);
        writer.Family("arc_query_cache_removals_total", "counter", "Entries removed from the cache, by reason.")
            .Sample("arc_query_cache_removals_total", stats.Evictions, ("reason", "evicted"))
            .Sample("arc_query_cache_removals_total", stats.Expirations, ("reason", "expired"))
            .Sample("arc_query_cache_removals_total", stats.Invalidations, ("reason", "invalidated"));
        writer.Gauge("arc_query_cache_entries", "Results in the cache.", stats.Entries);
        writer.Gauge("arc_query_cache_bytes", "Bytes the cached results take (cache.max_size_mb bounds it).", stats.Bytes);
        writer.Gauge("arc_query_cache_max_bytes", "cache.max_size_mb in bytes.", stats.MaxBytes);
    }
}

/// <summary><c>GET /cache/stats</c> (read) and <c>POST /cache/clear</c> (admin).</summary>
internal static class CacheEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/cache/stats", (ArcEngine engine) => Results.Json(CacheStatsResponse.From(engine.ResultCache), MetricsJsonContext.Api.CacheStatsResponse))
            .Requires(Permission.Read);
        app.MapPost("/cache/clear", (ArcEngine engine) =>
                Results.Json(new CacheClearResponse(engine.ResultCache?.Clear() ?? 0), MetricsJsonContext.Api.CacheClearResponse))
            .Requires(Permission.Admin);
    }
}

/// <summary>Mean, percentiles and maximum over the rolling window, in milliseconds.</summary>
public sealed record WindowResponse(
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("avg_ms")] double Mean,
    [property: JsonPropertyName("p50_ms")] double P50,
    [property: JsonPropertyName("p95_ms")] double P95,
    [property: JsonPropertyName("p99_ms")] double P99,
    [property: JsonPropertyName("max_ms")] double Max)
{
    public static WindowResponse From(WindowStats s) =>
        new(s.Count, Math.Round(s.Mean, 3), Math.Round(s.P50, 3), Math.Round(s.P95, 3), Math.Round(s.P99, 3), Math.Round(s.Max, 3));
}

/// <summary>Body of <c>GET /metrics/query-pool</c>.</summary>
public sealed record PoolResponse(
    [property: JsonPropertyName("size")] int Size,
    [property: JsonPropertyName("active")] int Active,
    [property: JsonPropertyName("idle")] int Idle,
    [property: JsonPropertyName("queue_depth")] int QueueDepth,
    [property: JsonPropertyName("queue_depth_by_priority")] IReadOnlyDictionary<string, int> QueueDepthByPriority,
    [property: JsonPropertyName("queue_limit")] int QueueLimit,
    [property: JsonPropertyName("queue_timeout_seconds")] double QueueTimeoutSeconds,
    [property: JsonPropertyName("acquired_by_priority")] IReadOnlyDictionary<string, long> AcquiredByPriority,
    [property: JsonPropertyName("waits_total")] long Waits,
    [property: JsonPropertyName("rejected_queue_full_total")] long RejectedQueueFull,
    [property: JsonPropertyName("rejected_queue_timeout_total")] long RejectedQueueTimeout,
    [property: JsonPropertyName("cancelled_total")] long Cancelled,
    [property: JsonPropertyName("window_seconds")] double WindowSeconds,
    [property: JsonPropertyName("execution")] WindowResponse Execution,
    [property: JsonPropertyName("wait")] WindowResponse Wait)
{
    [JsonPropertyName("success")]
    [JsonPropertyOrder(-1)]
    public bool Success => true;

    public static PoolResponse From(ArcEngine engine)
    {
        var s = engine.QueryPool.Stats();
        var names = Enum.GetValues<QueryPriority>();
        return new PoolResponse(s.Size, s.Active, engine.IdleQueryConnections, s.Queued,
            names.ToDictionary(Priorities.Name, p => s.QueuedByPriority[(int)p]), s.QueueLimit, s.QueueTimeout.TotalSeconds,
            names.ToDictionary(Priorities.Name, p => s.AcquiredByPriority[(int)p]), s.Waited, s.Rejected, s.TimedOut, s.Cancelled,
            s.Window.TotalSeconds, WindowResponse.From(s.ExecutionMs), WindowResponse.From(s.WaitMs));
    }
}

/// <summary>Body of <c>GET /cache/stats</c>.</summary>
public sealed record CacheStatsResponse(
    [property: JsonPropertyName("enabled")] bool Enabled,
    [property: JsonPropertyName("entries")] long Entries,
    [property: JsonPropertyName("size_bytes")] long Bytes,
    [property: JsonPropertyName("max_size_bytes")] long MaxBytes,
    [property: JsonPropertyName("max_entry_bytes")] long MaxEntryBytes,
    [property: JsonPropertyName("ttl_seconds")] double TtlSeconds,
    [property: JsonPropertyName("hits")] long Hits,
    [property: JsonPropertyName("misses")] long Misses,
    [property: JsonPropertyName("hit_ratio")] double HitRatio,
    [property: JsonPropertyName("stores")] long Stores,
    [property: JsonPropertyName("not_stored")] long NotStored,
    [property: JsonPropertyName("evictions")] long Evictions,
    [property: JsonPropertyName("expirations")] long Expirations,
    [property: JsonPropertyName("invalidations")] long Invalidations)
{
    [JsonPropertyName("success")]
    [JsonPropertyOrder(-1)]
    public bool Success => true;

    public static CacheStatsResponse From(QueryResultCache? cache)
    {
        if (cache is null)
        {
            return new CacheStatsResponse(false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        }

        var s = cache.Stats();
        return new CacheStatsResponse(true, s.Entries, s.Bytes, s.MaxBytes, s.MaxEntryBytes, s.Ttl.TotalSeconds, s.Hits, s.Misses,
            Math.Round(s.HitRatio, 4), s.Stores, s.Rejected, s.Evictions, s.Expirations, s.Invalidations);
    }
}

/// <summary>Body of <c>POST /cache/clear</c>.</summary>
public sealed record CacheClearResponse([property: JsonPropertyName("cleared")] int Cleared)
{
    [JsonPropertyName("success")]
    [JsonPropertyOrder(-1)]
    public bool Success => true;
}

[JsonSerializable(typeof(PoolResponse))]
[JsonSerializable(typeof(CacheStatsResponse))]
[JsonSerializable(typeof(CacheClearResponse))]
internal sealed partial class MetricsJsonContext : JsonSerializerContext
{
    public static MetricsJsonContext Api { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

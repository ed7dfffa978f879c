using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Arc.Engine;
using Arc.Engine.Auth;
using Arc.Native.Auth;
using Arc.Native.Configuration;

namespace Arc.Native.Http;

/// <summary>
/// Arc's JSON metrics family, with Arc's routes and field names: <c>GET /api/v1/metrics</c> (a flat snapshot of the
/// counters), <c>/api/v1/metrics/memory</c> (runtime memory and GC), <c>/api/v1/metrics/query-pool</c> (the query
/// connections and query counters), <c>/api/v1/metrics/endpoints</c> (counters grouped by subsystem, plus, as an
/// addition, every route's requests, errors and latency) and <c>/api/v1/metrics/timeseries/{type}</c> (the ring buffer
/// of <see cref="MetricsTimeSeries"/>). Arc's Go runtime figures are filled from .NET's: the GC heap
/// for the heap fields, the process's resident memory for <c>sys_bytes</c>, threads for <c>goroutines</c>. Fields Arc
/// has and arc-native cannot fill truthfully (Go allocator internals, query rows, storage reads, auth cache) are left out
/// rather than reported as zeros that never move. Same permission as <c>GET /metrics</c>: read, or none with
/// <c>metrics.public = true</c> (Arc serves them without a token).
/// </summary>
internal static class JsonMetricsEndpoints
{
    /// <summary>The routes whose requests are queries (Arc counts the JSON, msgpack, Arrow and measurement entry points).</summary>
    private static readonly string[] QueryRoutes =
        ["/api/v1/query", "/api/v1/query/arrow", "/api/v1/query/msgpack", "/api/v1/query/stream", "/api/v1/query/{measurement}"];

    public static void Map(WebApplication app, ArcConfig config)
    {
        // Routes, not a group: a group's "" route would be counted and listed as "/api/v1/metrics/".
        RouteHandlerBuilder[] routes =
        [
            app.MapGet("/api/v1/metrics", (ArcEngine engine, HttpMetrics http, IngestStats ingest) =>
                Results.Json(Figures(engine, http, ingest), JsonMetricsContext.Api.MetricsSnapshot)),
            app.MapGet("/api/v1/metrics/memory", (ArcEngine engine, HttpMetrics http, ReceiveBlockPoolFactory pools) =>
                Results.Json(Memory(engine, http, pools), JsonMetricsContext.Api.MemoryMetricsResponse)),
            app.MapGet("/api/v1/metrics/query-pool", (ArcEngine engine, HttpMetrics http) =>
                Results.Json(QueryPool(engine, http), JsonMetricsContext.Api.QueryPoolMetricsResponse)),
            app.MapGet("/api/v1/metrics/endpoints", (ArcEngine engine, HttpMetrics http, IngestStats ingest) =>
                Results.Json(Endpoints(engine, http, ingest), JsonMetricsContext.Api.EndpointMetricsResponse)),
            app.MapGet("/api/v1/metrics/timeseries/{type}", TimeSeries),
        ];
        foreach (var route in routes)
        {
            if (config.MetricsPublic)
            {
                route.Public();
            }
            else
            {
                route.Requires(Permission.Read);
            }
        }
    }

    /// <summary>
    /// Arc's ring buffer: the points of the last <c>duration_minutes</c> (1 to 1440, default 30); an unknown type is Arc's
    /// 400 listing the valid ones, a bad duration a 400 naming it (Arc takes 30 instead).
    /// </summary>
    private static IResult TimeSeries(MetricsTimeSeries series, string type, string? duration_minutes)
    {
        if (Array.IndexOf(MetricsTimeSeries.Types, type) < 0)
        {
            return Results.Json(new TimeSeriesTypeError("Invalid metric type", MetricsTimeSeries.Types), JsonMetricsContext.Api.TimeSeriesTypeError,
                statusCode: StatusCodes.Status400BadRequest);
        }

        var minutes = 30;
        if (duration_minutes is not null && !(int.TryParse(duration_minutes, NumberStyles.None, CultureInfo.InvariantCulture, out minutes) && minutes is >= 1 and <= 1440))
        {
            return Results.Json(new ErrorResponse($"duration_minutes: expected a whole number of minutes from 1 to 1440, got \"{duration_minutes}\""),
                ApiJsonContext.Api.ErrorResponse, statusCode: StatusCodes.Status400BadRequest);
        }

        var points = series.Recent(type, minutes);
        return Results.Json(new TimeSeriesResponse(Now(series.Time), type, minutes, points.Count, points), JsonMetricsContext.Api.TimeSeriesResponse);
    }

    /// <summary>Arc's timestamp format: RFC 3339 in UTC to the second.</summary>
    private static string Now(TimeProvider time) => time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The figures of <c>GET /api/v1/metrics</c> (also what the time series samples).</summary>
    internal static MetricsSnapshot Figures(ArcEngine engine, HttpMetrics http, IngestStats ingest)
    {
        var gc = GC.GetGCMemoryInfo();
        var routes = http.Routes();
        var (requests, success, errors, latencyUs) = HttpTotals(routes);
        var query = Queries(routes);
        var stats = ingest.Snapshot();
        var pool = engine.QueryPool.Stats();
        var compaction = engine.Compaction.Stats;
        return new MetricsSnapshot
        {
            Timestamp = Now(engine.Options.Time),
            UptimeSeconds = http.Uptime.TotalSeconds,
            Goroutines = ThreadCount(),
            GoVersion = RuntimeInformation.FrameworkDescription,
            NumCpu = Environment.ProcessorCount,
            GoMaxProcs = Environment.ProcessorCount,
            MemoryAllocBytes = GC.GetTotalMemory(false),
            MemoryTotalAllocBytes = GC.GetTotalAllocatedBytes(),
            MemorySysBytes = Environment.WorkingSet,
            MemoryHeapAllocBytes = GC.GetTotalMemory(false),
            MemoryHeapSysBytes = gc.TotalCommittedBytes,
            MemoryHeapInuseBytes = gc.HeapSizeBytes,
            GcCycles = GC.CollectionCount(0),
            GcPauseTotalNs = GC.GetTotalPauseDuration().Ticks * 100,
            HttpRequestsTotal = requests,
            HttpRequestsSuccess = success,
            HttpRequestsError = errors,
            HttpLatencySumUs = latencyUs,
            HttpLatencyCount = requests,
            IngestRecordsTotal = stats.LineProtocol.RecordsAccepted + stats.MsgPack.RecordsAccepted,
            IngestBytesTotal = stats.LineProtocol.BytesReceived + stats.MsgPack.BytesReceived,
            IngestBatchesTotal = stats.LineProtocol.Requests - stats.LineProtocol.Errors + stats.MsgPack.Requests - stats.MsgPack.Errors,
            IngestErrorsTotal = stats.LineProtocol.Errors + stats.MsgPack.Errors,
            MsgPackRequestsTotal = stats.MsgPack.Requests,
            MsgPackRecordsTotal = stats.MsgPack.RecordsAccepted,
            MsgPackBytesTotal = stats.MsgPack.BytesReceived,
            LineProtocolRequestsTotal = stats.LineProtocol.Requests,
            LineProtocolRecordsTotal = stats.LineProtocol.RecordsAccepted,
            LineProtocolBytesTotal = stats.LineProtocol.BytesReceived,
            QueryRequestsTotal = query.Requests,
            QuerySuccessTotal = query.Requests - query.Errors,
            QueryErrorsTotal = query.Errors,
            QueryLatencySumUs = Micros(query.LatencySeconds),
            QueryLatencyCount = query.Requests,
            BufferRecordsBuffered = engine.BufferedRows,
            BufferRecordsWritten = engine.FlushedRows,
            BufferFlushesTotal = engine.Flushes,
            BufferErrorsTotal = engine.FlushFailures,
            BufferFlushFailuresTotal = engine.FlushFailures,
            CompactionJobsTotal = compaction.JobsCompleted + compaction.JobsFailed,
            CompactionJobsSuccess = compaction.JobsCompleted,
            CompactionJobsFailed = compaction.JobsFailed,
            CompactionFilesCompacted = compaction.FilesCompacted,
            CompactionBytesRead = compaction.BytesBefore,
            CompactionBytesWritten = compaction.BytesAfter,
            DbConnectionsMax = pool.Size,
            DbConnectionsOpen = pool.Active + engine.IdleQueryConnections,
            DbConnectionsInUse = pool.Active,
            DbConnectionsIdle = engine.IdleQueryConnections,
            DbWaitCount = pool.Waited,
            DbWaitMicros = Micros(engine.QueryPool.WaitSeconds.Sum),
        };
    }

    private static MemoryMetricsResponse Memory(ArcEngine engine, HttpMetrics http, ReceiveBlockPoolFactory pools)
    {
        var blocks = pools.Bytes();
        var gc = GC.GetGCMemoryInfo();
        var pauses = gc.PauseDurations;
        var query = engine.QueryDuckDbMemory();
        var compaction = engine.Compaction.DuckDbMemory();
        var parquet = ArcEngine.ParquetMemoryUsage();
        return new MemoryMetricsResponse(Now(engine.Options.Time),
            new MemoryFigures(
                AllocBytes: GC.GetTotalMemory(false),
                TotalAllocBytes: GC.GetTotalAllocatedBytes(),
                SysBytes: Environment.WorkingSet,
                HeapAllocBytes: GC.GetTotalMemory(false),
                HeapSysBytes: gc.TotalCommittedBytes,
                HeapIdleBytes: Math.Max(0, gc.TotalCommittedBytes - gc.HeapSizeBytes),
                HeapInuseBytes: gc.HeapSizeBytes,
                GcCycles: GC.CollectionCount(0),
                GcPauseTotalNs: GC.GetTotalPauseDuration().Ticks * 100,
                GcPauseNs: pauses.Length > 0 ? pauses[0].Ticks * 100 : 0,
                GcCpuFraction: Math.Round(gc.PauseTimePercentage / 100, 6),
                FragmentedBytes: gc.FragmentedBytes,
                BufferedBytes: engine.BufferedBytes,
                BufferedRows: engine.BufferedRows,
                BufferMemoryLimitBytes: engine.Options.MaxBufferMemory,
                HotBytes: engine.HotBytes,
                HotLimitBytes: engine.Options.HotDataBytes,
                HotSteppedAside: engine.HotSteppedAside.Now,
                DuckDbQueryMemoryBytes: query.Used,
                DuckDbQueryMemoryLimitBytes: query.Limit,
                DuckDbCompactionMemoryBytes: compaction.Used,
                DuckDbCompactionMemoryLimitBytes: compaction.Limit,
                ParquetMemoryBytes: parquet.Bytes,
                ParquetMemoryPool: parquet.Backend,
                HttpPoolBytes: blocks.InUse,
                HttpPoolFreeBytes: blocks.Free),
            new RuntimeFigures(ThreadCount(), Environment.ProcessorCount, Environment.ProcessorCount, RuntimeInformation.FrameworkDescription,
                OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsMacOS() ? "darwin" : OperatingSystem.IsWindows() ? "windows" : "other",
                Architecture(RuntimeInformation.ProcessArchitecture), http.Uptime.TotalSeconds));
    }

    private static QueryPoolMetricsResponse QueryPool(ArcEngine engine, HttpMetrics http)
    {
        var pool = engine.QueryPool.Stats();
        var query = Queries(http.Routes());
        return new QueryPoolMetricsResponse(Now(engine.Options.Time), new QueryPoolFigures(
            ConnectionsOpen: pool.Active + engine.IdleQueryConnections,
            ConnectionsInUse: pool.Active,
            ConnectionsIdle: engine.IdleQueryConnections,
            QueriesTotal: pool.AcquiredByPriority.Sum(),
            QueryErrorsTotal: query.Errors,
            QueryRequests: query.Requests,
            QuerySuccess: query.Requests - query.Errors,
            QueryErrors: query.Errors,
            QueryLatencySumUs: Micros(query.LatencySeconds),
            QueryLatencyCount: query.Requests,
            ConnectionsMax: pool.Size,
            WaitCount: pool.Waited,
            Queued: pool.Queued));
    }

    private static EndpointMetricsResponse Endpoints(ArcEngine engine, HttpMetrics http, IngestStats ingest)
    {
        var routes = http.Routes();
        var (requests, success, errors, latencyUs) = HttpTotals(routes);
        var query = Queries(routes);
        var stats = ingest.Snapshot();
        var compaction = engine.Compaction.Stats;
        return new EndpointMetricsResponse(Now(engine.Options.Time),
            new HttpFigures(requests, success, errors, AverageMs(latencyUs, requests), latencyUs, requests),
            new IngestionFigures(stats.LineProtocol.RecordsAccepted + stats.MsgPack.RecordsAccepted,
                stats.LineProtocol.BytesReceived + stats.MsgPack.BytesReceived,
                stats.LineProtocol.Requests - stats.LineProtocol.Errors + stats.MsgPack.Requests - stats.MsgPack.Errors,
                stats.LineProtocol.Errors + stats.MsgPack.Errors),
            new FormatFigures(stats.MsgPack.Requests, stats.MsgPack.RecordsAccepted, stats.MsgPack.BytesReceived),
            new FormatFigures(stats.LineProtocol.Requests, stats.LineProtocol.RecordsAccepted, stats.LineProtocol.BytesReceived),
            new QueryFigures(query.Requests, query.Requests - query.Errors, query.Errors, AverageMs(Micros(query.LatencySeconds), query.Requests)),
            new BufferFigures(engine.BufferedRows, engine.FlushedRows, engine.Flushes, engine.FlushFailures, engine.FlushFailures),
            new CompactionFigures(compaction.JobsCompleted + compaction.JobsFailed, compaction.JobsCompleted, compaction.JobsFailed,
                compaction.FilesCompacted, compaction.BytesBefore, compaction.BytesAfter),
            [.. routes.Select(r => new RouteFigures(r.Method, r.Route, r.Requests, r.Errors, AverageMs(Micros(r.LatencySeconds), r.Requests), Micros(r.LatencySeconds)))]);
    }

    private static (long Requests, long Success, long Errors, long LatencyUs) HttpTotals(IReadOnlyList<RouteTotals> routes)
    {
        long requests = 0, errors = 0;
        double seconds = 0;
        foreach (var r in routes)
        {
            requests += r.Requests;
            errors += r.Errors;
            seconds += r.LatencySeconds;
        }

        return (requests, requests - errors, errors, Micros(seconds));
    }

    private static RouteTotals Queries(IReadOnlyList<RouteTotals> routes)
    {
        long requests = 0, errors = 0;
        double seconds = 0;
        foreach (var r in routes)
        {
            if (Array.IndexOf(QueryRoutes, r.Route) >= 0)
            {
                requests += r.Requests;
                errors += r.Errors;
                seconds += r.LatencySeconds;
            }
        }

        return new RouteTotals("", "", requests, errors, seconds);
    }

    private static long Micros(double seconds) => (long)Math.Round(seconds * 1_000_000);

    private static double AverageMs(long sumUs, long count) => count > 0 ? Math.Round(sumUs / (double)count / 1000, 3) : 0;

    /// <summary>
    /// The process's threads. On Linux the 20th field of <c>/proc/self/stat</c> (one read): <c>Process.Threads</c> reads a
    /// file per thread, and the time series takes this every 5 seconds.
    /// </summary>
    private static int ThreadCount()
    {
        if (OperatingSystem.IsLinux())
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat.AsSpan(stat.LastIndexOf(')') + 2); // after "pid (comm) ": field 3 (state) onwards
            for (var field = 3; field < 20; field++)
            {
                fields = fields[(fields.IndexOf(' ') + 1)..];
            }

            return int.Parse(fields[..fields.IndexOf(' ')], CultureInfo.InvariantCulture);
        }

        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.Threads.Count;
    }

    /// <summary>The architecture in Go's spelling (<c>GOARCH</c>), as Arc reports it.</summary>
    private static string Architecture(Architecture architecture) => architecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.X86 => "386",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.Arm => "arm",
        _ => architecture.ToString().ToLowerInvariant(),
    };
}

/// <summary>Body of <c>GET /api/v1/metrics</c>: Arc's flat snapshot (the keys arc-native fills).</summary>
public sealed record MetricsSnapshot
{
    [JsonPropertyName("timestamp")] public required string Timestamp { get; init; }
    [JsonPropertyName("uptime_seconds")] public double UptimeSeconds { get; init; }
    [JsonPropertyName("goroutines")] public int Goroutines { get; init; }
    [JsonPropertyName("go_version")] public required string GoVersion { get; init; }
    [JsonPropertyName("num_cpu")] public int NumCpu { get; init; }
    [JsonPropertyName("gomaxprocs")] public int GoMaxProcs { get; init; }
    [JsonPropertyName("memory_alloc_bytes")] public long MemoryAllocBytes { get; init; }
    [JsonPropertyName("memory_total_alloc_bytes")] public long MemoryTotalAllocBytes { get; init; }
    [JsonPropertyName("memory_sys_bytes")] public long MemorySysBytes { get; init; }
    [JsonPropertyName("memory_heap_alloc_bytes")] public long MemoryHeapAllocBytes { get; init; }
    [JsonPropertyName("memory_heap_sys_bytes")] public long MemoryHeapSysBytes { get; init; }
    [JsonPropertyName("memory_heap_inuse_bytes")] public long MemoryHeapInuseBytes { get; init; }
    [JsonPropertyName("gc_cycles")] public int GcCycles { get; init; }
    [JsonPropertyName("gc_pause_total_ns")] public long GcPauseTotalNs { get; init; }
    [JsonPropertyName("http_requests_total")] public long HttpRequestsTotal { get; init; }
    [JsonPropertyName("http_requests_success")] public long HttpRequestsSuccess { get; init; }
    [JsonPropertyName("http_requests_error")] public long HttpRequestsError { get; init; }
    [JsonPropertyName("http_latency_sum_us")] public long HttpLatencySumUs { get; init; }
    [JsonPropertyName("http_latency_count")] public long HttpLatencyCount { get; init; }
    [JsonPropertyName("ingest_records_total")] public long IngestRecordsTotal { get; init; }
    [JsonPropertyName("ingest_bytes_total")] public long IngestBytesTotal { get; init; }
    [JsonPropertyName("ingest_batches_total")] public long IngestBatchesTotal { get; init; }
    [JsonPropertyName("ingest_errors_total")] public long IngestErrorsTotal { get; init; }
    [JsonPropertyName("msgpack_requests_total")] public long MsgPackRequestsTotal { get; init; }
    [JsonPropertyName("msgpack_records_total")] public long MsgPackRecordsTotal { get; init; }
    [JsonPropertyName("msgpack_bytes_total")] public long MsgPackBytesTotal { get; init; }
    [JsonPropertyName("lineprotocol_requests_total")] public long LineProtocolRequestsTotal { get; init; }
    [JsonPropertyName("lineprotocol_records_total")] public long LineProtocolRecordsTotal { get; init; }
    [JsonPropertyName("lineprotocol_bytes_total")] public long LineProtocolBytesTotal { get; init; }
    [JsonPropertyName("query_requests_total")] public long QueryRequestsTotal { get; init; }
    [JsonPropertyName("query_success_total")] public long QuerySuccessTotal { get; init; }
    [JsonPropertyName("query_errors_total")] public long QueryErrorsTotal { get; init; }
    [JsonPropertyName("query_latency_sum_us")] public long QueryLatencySumUs { get; init; }
    [JsonPropertyName("query_latency_count")] public long QueryLatencyCount { get; init; }
    [JsonPropertyName("buffer_records_buffered")] public long BufferRecordsBuffered { get; init; }
    [JsonPropertyName("buffer_records_written")] public long BufferRecordsWritten { get; init; }
    [JsonPropertyName("buffer_flushes_total")] public long BufferFlushesTotal { get; init; }
    [JsonPropertyName("buffer_errors_total")] public long BufferErrorsTotal { get; init; }
    [JsonPropertyName("buffer_flush_failures_total")] public long BufferFlushFailuresTotal { get; init; }
    [JsonPropertyName("compaction_jobs_total")] public long CompactionJobsTotal { get; init; }
    [JsonPropertyName("compaction_jobs_success")] public long CompactionJobsSuccess { get; init; }
    [JsonPropertyName("compaction_jobs_failed")] public long CompactionJobsFailed { get; init; }
    [JsonPropertyName("compaction_files_compacted")] public long CompactionFilesCompacted { get; init; }
    [JsonPropertyName("compaction_bytes_read")] public long CompactionBytesRead { get; init; }
    [JsonPropertyName("compaction_bytes_written")] public long CompactionBytesWritten { get; init; }
    [JsonPropertyName("db_connections_max")] public long DbConnectionsMax { get; init; }
    [JsonPropertyName("db_connections_open")] public long DbConnectionsOpen { get; init; }
    [JsonPropertyName("db_connections_in_use")] public long DbConnectionsInUse { get; init; }
    [JsonPropertyName("db_connections_idle")] public long DbConnectionsIdle { get; init; }
    [JsonPropertyName("db_wait_count")] public long DbWaitCount { get; init; }
    [JsonPropertyName("db_wait_micros")] public long DbWaitMicros { get; init; }
}

/// <summary>Body of <c>GET /api/v1/metrics/memory</c>: <c>{timestamp, memory, runtime}</c>.</summary>
public sealed record MemoryMetricsResponse(
    [property: JsonPropertyName("timestamp")] string Timestamp,
    [property: JsonPropertyName("memory")] MemoryFigures Memory,
    [property: JsonPropertyName("runtime")] RuntimeFigures Runtime);

/// <summary>
/// Arc's memory fields from the .NET GC and the process, and (arc-native's) the write buffers: bytes and rows held, and
/// <c>ingest.max_memory</c>; what each DuckDB instance (queries, compaction) holds and its memory limit; what the Arrow C++
/// library writing and merging Parquet holds allocated and its allocator (<c>ARROW_DEFAULT_MEMORY_POOL</c>); Kestrel's
/// blocks lent to requests and responses in flight and kept free for reuse.
/// </summary>
public sealed record MemoryFigures(
    [property: JsonPropertyName("alloc_bytes")] long AllocBytes,
    [property: JsonPropertyName("total_alloc_bytes")] long TotalAllocBytes,
    [property: JsonPropertyName("sys_bytes")] long SysBytes,
    [property: JsonPropertyName("heap_alloc_bytes")] long HeapAllocBytes,
    [property: JsonPropertyName("heap_sys_bytes")] long HeapSysBytes,
    [property: JsonPropertyName("heap_idle_bytes")] long HeapIdleBytes,
    [property: JsonPropertyName("heap_inuse_bytes")] long HeapInuseBytes,
    [property: JsonPropertyName("gc_cycles")] int GcCycles,
    [property: JsonPropertyName("gc_pause_total_ns")] long GcPauseTotalNs,
    [property: JsonPropertyName("gc_pause_ns")] long GcPauseNs,
    [property: JsonPropertyName("gc_cpu_fraction")] double GcCpuFraction,
    [property: JsonPropertyName("heap_fragmented_bytes")] long FragmentedBytes,
    [property: JsonPropertyName("buffered_bytes")] long BufferedBytes,
    [property: JsonPropertyName("buffered_rows")] long BufferedRows,
    [property: JsonPropertyName("buffer_memory_limit_bytes")] long BufferMemoryLimitBytes,
    [property: JsonPropertyName("hot_bytes")] long HotBytes,
    [property: JsonPropertyName("hot_limit_bytes")] long HotLimitBytes,
    [property: JsonPropertyName("hot_stepped_aside")] bool HotSteppedAside,
    [property: JsonPropertyName("duckdb_query_memory_bytes")] long DuckDbQueryMemoryBytes,
    [property: JsonPropertyName("duckdb_query_memory_limit_bytes")] long DuckDbQueryMemoryLimitBytes,
    [property: JsonPropertyName("duckdb_compaction_memory_bytes")] long DuckDbCompactionMemoryBytes,
    [property: JsonPropertyName("duckdb_compaction_memory_limit_bytes")] long DuckDbCompactionMemoryLimitBytes,
    [property: JsonPropertyName("parquet_memory_bytes")] long ParquetMemoryBytes,
    [property: JsonPropertyName("parquet_memory_pool")] string ParquetMemoryPool,
    [property: JsonPropertyName("http_pool_bytes")] long HttpPoolBytes,
    [property: JsonPropertyName("http_pool_free_bytes")] long HttpPoolFreeBytes);

/// <summary>Arc's runtime block: threads for goroutines, the .NET runtime for <c>go_version</c>.</summary>
public sealed record RuntimeFigures(
    [property: JsonPropertyName("goroutines")] int Goroutines,
    [property: JsonPropertyName("num_cpu")] int NumCpu,
    [property: JsonPropertyName("gomaxprocs")] int GoMaxProcs,
    [property: JsonPropertyName("go_version")] string GoVersion,
    [property: JsonPropertyName("go_os")] string GoOs,
    [property: JsonPropertyName("go_arch")] string GoArch,
    [property: JsonPropertyName("uptime_secs")] double UptimeSecs);

/// <summary>Body of <c>GET /api/v1/metrics/query-pool</c>: <c>{timestamp, pool}</c>.</summary>
public sealed record QueryPoolMetricsResponse(
    [property: JsonPropertyName("timestamp")] string Timestamp,
    [property: JsonPropertyName("pool")] QueryPoolFigures Pool);

/// <summary>
/// Arc's pool fields (<c>queries_total</c>: connections handed to queries) and arc-native's: the pool size, the waits and
/// the queries queued now.
/// </summary>
public sealed record QueryPoolFigures(
    [property: JsonPropertyName("connections_open")] long ConnectionsOpen,
    [property: JsonPropertyName("connections_in_use")] long ConnectionsInUse,
    [property: JsonPropertyName("connections_idle")] long ConnectionsIdle,
    [property: JsonPropertyName("queries_total")] long QueriesTotal,
    [property: JsonPropertyName("query_errors_total")] long QueryErrorsTotal,
    [property: JsonPropertyName("query_requests")] long QueryRequests,
    [property: JsonPropertyName("query_success")] long QuerySuccess,
    [property: JsonPropertyName("query_errors")] long QueryErrors,
    [property: JsonPropertyName("query_latency_sum_us")] long QueryLatencySumUs,
    [property: JsonPropertyName("query_latency_count")] long QueryLatencyCount,
    [property: JsonPropertyName("connections_max")] long ConnectionsMax,
    [property: JsonPropertyName("wait_count")] long WaitCount,
    [property: JsonPropertyName("queued")] long Queued);

/// <summary>Body of <c>GET /api/v1/metrics/endpoints</c>: Arc's groups, and every route's figures.</summary>
public sealed record EndpointMetricsResponse(
    [property: JsonPropertyName("timestamp")] string Timestamp,
    [property: JsonPropertyName("http")] HttpFigures Http,
    [property: JsonPropertyName("ingestion")] IngestionFigures Ingestion,
    [property: JsonPropertyName("msgpack")] FormatFigures MsgPack,
    [property: JsonPropertyName("lineprotocol")] FormatFigures LineProtocol,
    [property: JsonPropertyName("query")] QueryFigures Query,
    [property: JsonPropertyName("buffer")] BufferFigures Buffer,
    [property: JsonPropertyName("compaction")] CompactionFigures Compaction,
    [property: JsonPropertyName("routes")] IReadOnlyList<RouteFigures> Routes);

public sealed record HttpFigures(
    [property: JsonPropertyName("requests_total")] long RequestsTotal,
    [property: JsonPropertyName("requests_success")] long RequestsSuccess,
    [property: JsonPropertyName("requests_error")] long RequestsError,
    [property: JsonPropertyName("latency_avg_ms")] double LatencyAvgMs,
    [property: JsonPropertyName("latency_sum_us")] long LatencySumUs,
    [property: JsonPropertyName("latency_count")] long LatencyCount);

public sealed record IngestionFigures(
    [property: JsonPropertyName("records_total")] long RecordsTotal,
    [property: JsonPropertyName("bytes_total")] long BytesTotal,
    [property: JsonPropertyName("batches_total")] long BatchesTotal,
    [property: JsonPropertyName("errors_total")] long ErrorsTotal);

public sealed record FormatFigures(
    [property: JsonPropertyName("requests_total")] long RequestsTotal,
    [property: JsonPropertyName("records_total")] long RecordsTotal,
    [property: JsonPropertyName("bytes_total")] long BytesTotal);

public sealed record QueryFigures(
    [property: JsonPropertyName("requests_total")] long RequestsTotal,
    [property: JsonPropertyName("success_total")] long SuccessTotal,
    [property: JsonPropertyName("errors_total")] long ErrorsTotal,
    [property: JsonPropertyName("latency_avg_ms")] double LatencyAvgMs);

public sealed record BufferFigures(
    [property: JsonPropertyName("records_buffered")] long RecordsBuffered,
    [property: JsonPropertyName("records_written")] long RecordsWritten,
    [property: JsonPropertyName("flushes_total")] long FlushesTotal,
    [property: JsonPropertyName("errors_total")] long ErrorsTotal,
    [property: JsonPropertyName("flush_failures_total")] long FlushFailuresTotal);

public sealed record CompactionFigures(
    [property: JsonPropertyName("jobs_total")] long JobsTotal,
    [property: JsonPropertyName("jobs_success")] long JobsSuccess,
    [property: JsonPropertyName("jobs_failed")] long JobsFailed,
    [property: JsonPropertyName("files_compacted")] long FilesCompacted,
    [property: JsonPropertyName("bytes_read")] long BytesRead,
    [property: JsonPropertyName("bytes_written")] long BytesWritten);

/// <summary>One route pattern and method: requests answered, those answered 400 or above, and their latency.</summary>
public sealed record RouteFigures(
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("route")] string Route,
    [property: JsonPropertyName("requests_total")] long RequestsTotal,
    [property: JsonPropertyName("requests_error")] long RequestsError,
    [property: JsonPropertyName("latency_avg_ms")] double LatencyAvgMs,
    [property: JsonPropertyName("latency_sum_us")] long LatencySumUs);

[JsonSerializable(typeof(MetricsSnapshot))]
[JsonSerializable(typeof(MemoryMetricsResponse))]
[JsonSerializable(typeof(QueryPoolMetricsResponse))]
[JsonSerializable(typeof(EndpointMetricsResponse))]
[JsonSerializable(typeof(TimeSeriesResponse))]
[JsonSerializable(typeof(TimeSeriesTypeError))]
internal sealed partial class JsonMetricsContext : JsonSerializerContext
{
    public static JsonMetricsContext Api { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

using System.Globalization;
using System.Text.Json.Serialization;
using Arc.Engine;

namespace Arc.Native.Http;

/// <summary>
/// Arc's metrics ring buffer behind <c>GET /api/v1/metrics/timeseries/{type}</c>: every 5 seconds (on the engine's clock)
/// a point of each kind is taken, <c>system</c> (threads, managed memory in MB, GC), <c>application</c> (ingest, query,
/// buffer and compaction counters) and <c>api</c> (HTTP counters and average latencies, the query pool), and the last
/// 360 of each (30 minutes) are kept, as Arc does by default. A hosted service: sampling starts with the host and stops
/// (waiting for a sample being taken) when the host stops, which is before the engine is disposed.
/// </summary>
internal sealed class MetricsTimeSeries : IHostedService, IDisposable
{
    public const int Capacity = 360;
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    public static readonly string[] Types = ["system", "application", "api"];

    private readonly Lock _lock = new();
    private readonly TimeSeriesPoint?[][] _rings = [new TimeSeriesPoint?[Capacity], new TimeSeriesPoint?[Capacity], new TimeSeriesPoint?[Capacity]];
    private readonly ArcEngine _engine;
    private readonly HttpMetrics _http;
    private readonly IngestStats _ingest;
    private ITimer? _timer;
    private int _next;
    private int _count;

    public MetricsTimeSeries(ArcEngine engine, HttpMetrics http, IngestStats ingest)
    {
        _engine = engine;
        _http = http;
        _ingest = ingest;
    }

    public TimeProvider Time => _engine.Options.Time;

    /// <summary>The points of <paramref name="type"/> (one of <see cref="Types"/>) taken in the last <paramref name="minutes"/>, oldest first.</summary>
    public List<TimeSeriesPoint> Recent(string type, int minutes)
    {
        var ring = _rings[Array.IndexOf(Types, type)];
        var cutoff = Time.GetUtcNow().UtcDateTime.AddMinutes(-minutes);
        var points = new List<TimeSeriesPoint>();
        lock (_lock)
        {
            for (var i = 0; i < _count; i++)
            {
                var point = ring[(_next - _count + i + Capacity) % Capacity]!;
                if (point.Time > cutoff)
                {
                    points.Add(point);
                }
            }
        }

        return points;
    }

    private void Collect()
    {
        var now = Time.GetUtcNow().UtcDateTime;
        var m = JsonMetricsEndpoints.Figures(_engine, _http, _ingest);
        const double Mb = 1024 * 1024;
        var system = new Dictionary<string, double>
        {
            ["goroutines"] = m.Goroutines,
            ["memory_alloc_mb"] = m.MemoryAllocBytes / Mb,
            ["memory_heap_mb"] = m.MemoryHeapAllocBytes / Mb,
            ["memory_sys_mb"] = m.MemorySysBytes / Mb,
            ["gc_cycles"] = m.GcCycles,
            ["gc_pause_ns"] = GC.GetGCMemoryInfo().PauseDurations is { Length: > 0 } pauses ? pauses[0].Ticks * 100 : 0,
        };
        var application = new Dictionary<string, double>
        {
            ["ingest_records_total"] = m.IngestRecordsTotal,
            ["ingest_bytes_total"] = m.IngestBytesTotal,
            ["ingest_batches_total"] = m.IngestBatchesTotal,
            ["ingest_errors_total"] = m.IngestErrorsTotal,
            ["msgpack_requests_total"] = m.MsgPackRequestsTotal,
            ["msgpack_records_total"] = m.MsgPackRecordsTotal,
            ["msgpack_bytes_total"] = m.MsgPackBytesTotal,
            ["lineprotocol_requests_total"] = m.LineProtocolRequestsTotal,
            ["lineprotocol_records_total"] = m.LineProtocolRecordsTotal,
            ["lineprotocol_bytes_total"] = m.LineProtocolBytesTotal,
            ["query_requests_total"] = m.QueryRequestsTotal,
            ["buffer_flushes_total"] = m.BufferFlushesTotal,
            ["buffer_errors_total"] = m.BufferErrorsTotal,
            ["buffer_flush_failures_total"] = m.BufferFlushFailuresTotal,
            ["compaction_jobs_total"] = m.CompactionJobsTotal,
            ["compaction_jobs_success"] = m.CompactionJobsSuccess,
            ["compaction_jobs_failed"] = m.CompactionJobsFailed,
            ["compaction_bytes_read"] = m.CompactionBytesRead,
            ["compaction_bytes_written"] = m.CompactionBytesWritten,
        };
        var api = new Dictionary<string, double>
        {
            ["http_requests_total"] = m.HttpRequestsTotal,
            ["http_requests_success"] = m.HttpRequestsSuccess,
            ["http_requests_error"] = m.HttpRequestsError,
            ["http_latency_avg_us"] = m.HttpLatencyCount > 0 ? (double)m.HttpLatencySumUs / m.HttpLatencyCount : 0,
            ["query_latency_avg_us"] = m.QueryLatencyCount > 0 ? (double)m.QueryLatencySumUs / m.QueryLatencyCount : 0,
            ["db_connections_open"] = m.DbConnectionsOpen,
            ["db_connections_in_use"] = m.DbConnectionsInUse,
            ["db_queries_total"] = _engine.QueryPool.Stats().AcquiredByPriority.Sum(),
            ["db_query_errors_total"] = m.QueryErrorsTotal,
        };
        lock (_lock)
        {
            _rings[0][_next] = new TimeSeriesPoint(now, system);
            _rings[1][_next] = new TimeSeriesPoint(now, application);
            _rings[2][_next] = new TimeSeriesPoint(now, api);
            _next = (_next + 1) % Capacity;
            _count = Math.Min(_count + 1, Capacity);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _timer = Time.CreateTimer(static state => ((MetricsTimeSeries)state!).Collect(), this, Interval, Interval);
        return Task.CompletedTask;
    }

    /// <summary>Stops sampling and waits for a sample being taken, so none runs once the engine is being disposed.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_timer is { } timer)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => _timer?.Dispose();
}

/// <summary>One point: when it was taken (RFC 3339 with fractions, UTC) and its values.</summary>
public sealed record TimeSeriesPoint([property: JsonIgnore] DateTime Time, [property: JsonPropertyName("values")] IReadOnlyDictionary<string, double> Values)
{
    [JsonPropertyName("timestamp")]
    [JsonPropertyOrder(-1)]
    public string Timestamp => Time.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
}

/// <summary>Body of <c>GET /api/v1/metrics/timeseries/{type}</c>.</summary>
public sealed record TimeSeriesResponse(
    [property: JsonPropertyName("timestamp")] string Timestamp,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("duration_minutes")] int DurationMinutes,
    [property: JsonPropertyName("points_count")] int PointsCount,
    [property: JsonPropertyName("data")] IReadOnlyList<TimeSeriesPoint> Data);

/// <summary>Arc's answer to an unknown type: <c>{error, valid_types}</c>.</summary>
public sealed record TimeSeriesTypeError(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("valid_types")] IReadOnlyList<string> ValidTypes);

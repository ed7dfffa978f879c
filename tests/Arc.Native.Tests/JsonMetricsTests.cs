using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Native.Tests;

/// <summary>
/// Arc's JSON metrics family (<c>/api/v1/metrics</c>, <c>/memory</c>, <c>/query-pool</c>, <c>/endpoints</c>): Arc's field
/// names with JSON number or string kinds, and figures that move with the work done (N writes grow the write counters
/// by N). The requests go one after another over one connection, so each is counted before the next is read.
/// </summary>
public sealed class JsonMetricsTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task GoroutinesIsTheProcesssThreadCount()
    {
        // goroutines is the process's thread count (the server runs in this process, on Linux): equal to the kernel's when that
        // did not move while the request ran. A thread can also start and end within the request (the count is the same
        // before and after, the metric saw one more: a CI run), so an attempt that differs is tried again; a wrong metric
        // differs in all of them.
        for (var attempt = 0; ; attempt++)
        {
            var before = KernelThreads();
            var goroutines = (await GetAsync("/api/v1/metrics")).GetProperty("goroutines").GetInt32();
            if ((before == KernelThreads() && goroutines == before) || attempt == 50)
            {
                Assert.Equal(before, goroutines);
                return;
            }
        }
    }

    [Fact]
    public async Task EveryRouteAnswersArcsFieldsWithTheirJsonKinds()
    {
        var snapshot = await GetAsync("/api/v1/metrics");
        AssertTimestamp(snapshot);
        AssertKinds(snapshot, JsonValueKind.Number, "uptime_seconds", "goroutines", "num_cpu", "gomaxprocs", "memory_alloc_bytes",
            "memory_total_alloc_bytes", "memory_sys_bytes", "memory_heap_alloc_bytes", "memory_heap_sys_bytes", "memory_heap_inuse_bytes",
            "gc_cycles", "gc_pause_total_ns", "http_requests_total", "http_requests_success", "http_requests_error", "http_latency_sum_us",
            "http_latency_count", "ingest_records_total", "ingest_bytes_total", "ingest_batches_total", "ingest_errors_total",
            "msgpack_requests_total", "msgpack_records_total", "msgpack_bytes_total", "lineprotocol_requests_total",
            "lineprotocol_records_total", "lineprotocol_bytes_total", "query_requests_total", "query_success_total", "query_errors_total",
            "query_latency_sum_us", "query_latency_count", "buffer_records_buffered", "buffer_records_written", "buffer_flushes_total",
            "buffer_errors_total", "buffer_flush_failures_total", "compaction_jobs_total", "compaction_jobs_success", "compaction_jobs_failed",
            "compaction_files_compacted", "compaction_bytes_read", "compaction_bytes_written", "db_connections_max", "db_connections_open",
            "db_connections_in_use", "db_connections_idle", "db_wait_count", "db_wait_micros");
        AssertKinds(snapshot, JsonValueKind.String, "go_version");
        Assert.Equal(_server.Config.Engine.QueryConnections, snapshot.GetProperty("db_connections_max").GetInt32());
        Assert.Equal(Environment.ProcessorCount, snapshot.GetProperty("num_cpu").GetInt32());
        Assert.True(snapshot.GetProperty("memory_sys_bytes").GetInt64() > snapshot.GetProperty("memory_heap_alloc_bytes").GetInt64() / 2);

        var memory = await GetAsync("/api/v1/metrics/memory");
        AssertTimestamp(memory);
        AssertKinds(memory.GetProperty("memory"), JsonValueKind.Number, "alloc_bytes", "total_alloc_bytes", "sys_bytes", "heap_alloc_bytes",
            "heap_sys_bytes", "heap_idle_bytes", "heap_inuse_bytes", "gc_cycles", "gc_pause_total_ns", "gc_pause_ns", "gc_cpu_fraction",
            "buffered_bytes", "buffered_rows", "buffer_memory_limit_bytes", "hot_bytes", "hot_limit_bytes", "parquet_memory_bytes",
            "http_pool_bytes", "http_pool_free_bytes");
        // The allocator Arrow actually uses for flushes and merges (the server asks for jemalloc before Arrow picks one).
        Assert.Equal(ParquetSharp.MemoryPool.GetDefaultMemoryPool().BackendName,
            memory.GetProperty("memory").GetProperty("parquet_memory_pool").GetString());
        AssertKinds(memory.GetProperty("runtime"), JsonValueKind.Number, "goroutines", "num_cpu", "gomaxprocs", "uptime_secs");
        AssertKinds(memory.GetProperty("runtime"), JsonValueKind.String, "go_version", "go_os", "go_arch");
        Assert.Equal(_server.Config.Engine.MaxBufferMemory, memory.GetProperty("memory").GetProperty("buffer_memory_limit_bytes").GetInt64());
        Assert.Equal(_server.Config.Engine.HotDataBytes, memory.GetProperty("memory").GetProperty("hot_limit_bytes").GetInt64());
        Assert.False(memory.GetProperty("memory").GetProperty("hot_stepped_aside").GetBoolean()); // a few rows a test: the tier keeps them

        var pool = await GetAsync("/api/v1/metrics/query-pool");
        AssertTimestamp(pool);
        AssertKinds(pool.GetProperty("pool"), JsonValueKind.Number, "connections_open", "connections_in_use", "connections_idle", "queries_total",
            "query_errors_total", "query_requests", "query_success", "query_errors", "query_latency_sum_us", "query_latency_count");

        var endpoints = await GetAsync("/api/v1/metrics/endpoints");
        AssertTimestamp(endpoints);
        AssertKinds(endpoints.GetProperty("http"), JsonValueKind.Number, "requests_total", "requests_success", "requests_error", "latency_avg_ms",
            "latency_sum_us", "latency_count");
        AssertKinds(endpoints.GetProperty("ingestion"), JsonValueKind.Number, "records_total", "bytes_total", "batches_total", "errors_total");
        foreach (var format in new[] { "msgpack", "lineprotocol" })
        {
            AssertKinds(endpoints.GetProperty(format), JsonValueKind.Number, "requests_total", "records_total", "bytes_total");
        }

        AssertKinds(endpoints.GetProperty("query"), JsonValueKind.Number, "requests_total", "success_total", "errors_total", "latency_avg_ms");
        AssertKinds(endpoints.GetProperty("buffer"), JsonValueKind.Number, "records_buffered", "records_written", "flushes_total", "errors_total",
            "flush_failures_total");
        AssertKinds(endpoints.GetProperty("compaction"), JsonValueKind.Number, "jobs_total", "jobs_success", "jobs_failed", "files_compacted",
            "bytes_read", "bytes_written");
        // The three GETs before this one, by route.
        var routes = endpoints.GetProperty("routes").EnumerateArray().ToDictionary(r => r.GetProperty("route").GetString()!);
        Assert.Equal(1, routes["/api/v1/metrics"].GetProperty("requests_total").GetInt64());
        Assert.Equal(1, routes["/api/v1/metrics/memory"].GetProperty("requests_total").GetInt64());
        Assert.Equal("GET", routes["/api/v1/metrics/query-pool"].GetProperty("method").GetString());
    }

    [Fact]
    public async Task WritesQueriesAndErrorsMoveTheirCounters()
    {
        const int Writes = 7;
        var before = await GetAsync("/api/v1/metrics/endpoints");
        var snapshotBefore = await GetAsync("/api/v1/metrics");
        for (var i = 0; i < Writes; i++)
        {
            using var response = await _server.WriteAsync("/write?db=metrics", $"cpu,host=a v={i} {i + 1}\ncpu,host=b v={i} {i + 1}\n");
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        using (var bad = await _server.WriteAsync("/write?db=metrics", "not line protocol\n"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        var memory = await GetAsync("/api/v1/metrics/memory");
        Assert.Equal(Writes * 2, memory.GetProperty("memory").GetProperty("buffered_rows").GetInt64());
        Assert.True(memory.GetProperty("memory").GetProperty("buffered_bytes").GetInt64() > 0);

        const int Queries = 3;
        for (var i = 0; i < Queries; i++)
        {
            var (status, body) = await _server.QueryAsync($"SELECT count(*) + {i} AS n FROM cpu", "metrics"); // distinct: not cached
            Assert.Equal(200, status);
            Assert.Equal(Writes * 2 + i, body.GetProperty("data")[0][0].GetInt64());
        }

        Assert.Equal(400, (await _server.QueryAsync("SELECT * FROM no_such_table", "metrics")).Status);

        var after = await GetAsync("/api/v1/metrics/endpoints");
        var lp = Delta(before, after, "lineprotocol");
        Assert.Equal(Writes + 1, lp("requests_total"));
        Assert.Equal(Writes * 2, lp("records_total"));
        var ingestion = Delta(before, after, "ingestion");
        Assert.Equal(Writes, ingestion("batches_total"));
        Assert.Equal(1, ingestion("errors_total"));
        var query = Delta(before, after, "query");
        Assert.Equal(Queries + 1, query("requests_total"));
        Assert.Equal(Queries, query("success_total"));
        Assert.Equal(1, query("errors_total"));

        // Every request between the two readings: the snapshot, the writes, the memory reading and the queries (the first
        // reading itself is counted once it finished, so it is in the difference too).
        var http = Delta(before, after, "http");
        Assert.Equal(1 + 1 + Writes + 1 + 1 + Queries + 1, http("requests_total"));
        Assert.Equal(2, http("requests_error"));
        Assert.True(after.GetProperty("http").GetProperty("latency_avg_ms").GetDouble() > 0);

        var write = after.GetProperty("routes").EnumerateArray().Single(r => r.GetProperty("route").GetString() == "/write");
        Assert.Equal(("POST", Writes + 1L, 1L), (write.GetProperty("method").GetString(), write.GetProperty("requests_total").GetInt64(),
            write.GetProperty("requests_error").GetInt64()));
        Assert.True(write.GetProperty("latency_sum_us").GetInt64() > 0);

        var pool = (await GetAsync("/api/v1/metrics/query-pool")).GetProperty("pool");
        Assert.Equal(Queries + 1, pool.GetProperty("query_requests").GetInt64());
        Assert.Equal(1, pool.GetProperty("query_errors").GetInt64());
        Assert.True(pool.GetProperty("queries_total").GetInt64() >= Queries);

        await _server.Server.Engine.FlushAsync();
        var snapshot = await GetAsync("/api/v1/metrics");
        Assert.Equal(Writes * 2, snapshot.GetProperty("lineprotocol_records_total").GetInt64() - snapshotBefore.GetProperty("lineprotocol_records_total").GetInt64());
        Assert.Equal(0, snapshot.GetProperty("buffer_records_buffered").GetInt64());
        Assert.Equal(Writes * 2, snapshot.GetProperty("buffer_records_written").GetInt64());
        Assert.True(snapshot.GetProperty("buffer_flushes_total").GetInt64() >= 1);
    }

    [Fact]
    public async Task TheFamilyNeedsReadUnlessMetricsArePublicAndPrometheusStillAnswers()
    {
        using var anonymous = _server.NewClient(null);
        foreach (var path in new[] { "/api/v1/metrics", "/api/v1/metrics/memory", "/api/v1/metrics/query-pool", "/api/v1/metrics/endpoints",
                     "/api/v1/metrics/timeseries/api" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using var prometheus = await _server.Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, prometheus.StatusCode);
        Assert.Contains("arc_http_requests_total", await prometheus.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await using var open = await TestServer.StartAsync(c => c.MetricsPublic = true);
        using var client = open.NewClient(null);
        using var snapshot = await client.GetAsync("/api/v1/metrics/endpoints");
        Assert.Equal(HttpStatusCode.OK, snapshot.StatusCode);
    }

    [Fact]
    public async Task TheTimeSeriesKeepsAPointEveryFiveSecondsForThirtyMinutes()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var server = await TestServer.StartAsync(c =>
        {
            c.Engine = c.Engine with { Time = clock };
            c.LogLevel = "info";
        });
        using var client = server.NewClient(TestServer.AdminToken);

        clock.Advance(TimeSpan.FromSeconds(5));
        using (var write = await server.WriteAsync("/write?db=ts", "m v=1 1\nm v=2 2\n"))
        {
            Assert.Equal(HttpStatusCode.NoContent, write.StatusCode);
        }

        clock.Advance(TimeSpan.FromSeconds(5));
        var api = await GetJsonAsync(client, "/api/v1/metrics/timeseries/api");
        Assert.Equal(("api", 30, 2), (api.GetProperty("type").GetString(), api.GetProperty("duration_minutes").GetInt32(), api.GetProperty("points_count").GetInt32()));
        var points = api.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["2025-01-01T00:00:05Z", "2025-01-01T00:00:10Z"], points.Select(p => p.GetProperty("timestamp").GetString()));
        // The responses' own timestamps and the log's entries are read from the engine's clock too.
        Assert.Equal("2025-01-01T00:00:10Z", api.GetProperty("timestamp").GetString());
        foreach (var path in new[] { "/api/v1/metrics", "/api/v1/metrics/memory", "/api/v1/metrics/query-pool", "/api/v1/metrics/endpoints" })
        {
            Assert.Equal("2025-01-01T00:00:10Z", (await GetJsonAsync(client, path)).GetProperty("timestamp").GetString());
        }

        var logs = await GetJsonAsync(client, "/api/v1/logs?since_minutes=1");
        Assert.Equal(new DateTime(2025, 1, 1, 0, 0, 10, DateTimeKind.Utc), logs.GetProperty("timestamp").GetDateTime().ToUniversalTime());
        Assert.NotEmpty(logs.GetProperty("logs").EnumerateArray());
        Assert.All(logs.GetProperty("logs").EnumerateArray(), entry => Assert.InRange(entry.GetProperty("timestamp").GetDateTime().ToUniversalTime(),
            new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2025, 1, 1, 0, 0, 10, DateTimeKind.Utc)));
        // The write came between the two points.
        Assert.Equal(1, points[1].GetProperty("values").GetProperty("http_requests_total").GetInt64() - points[0].GetProperty("values").GetProperty("http_requests_total").GetInt64());
        var application = (await GetJsonAsync(client, "/api/v1/metrics/timeseries/application")).GetProperty("data").EnumerateArray().ToList();
        Assert.Equal([0L, 2L], application.Select(p => p.GetProperty("values").GetProperty("lineprotocol_records_total").GetInt64()));
        var system = (await GetJsonAsync(client, "/api/v1/metrics/timeseries/system")).GetProperty("data")[1].GetProperty("values");
        Assert.True(system.GetProperty("memory_sys_mb").GetDouble() > 1);

        // An hour on: 720 points were taken, the newest 360 kept; the window asked for cuts them further.
        for (var tick = 0; tick < 720; tick++)
        {
            clock.Advance(Arc.Native.Http.MetricsTimeSeries.Interval); // one step per point: a fake clock fires a timer once per Advance at the end time
            // FakeTimeProvider skips firing timers in an Advance while another thread is firing them (the engine's own timers
            // and delays are created on other threads), so move it again by nothing until this step's point is there.
            var stamp = clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
            for (var retry = 0; (await GetJsonAsync(client, "/api/v1/metrics/timeseries/system?duration_minutes=1")).GetProperty("data") is var data
                 && (data.GetArrayLength() == 0 || data[data.GetArrayLength() - 1].GetProperty("timestamp").GetString() != stamp); retry++)
            {
                Assert.True(retry < 1000, $"no point at {stamp}");
                await Task.Delay(1);
                clock.Advance(TimeSpan.Zero);
            }
        }

        Assert.Equal(360, (await GetJsonAsync(client, "/api/v1/metrics/timeseries/api?duration_minutes=1440")).GetProperty("points_count").GetInt32());
        var minute = await GetJsonAsync(client, "/api/v1/metrics/timeseries/system?duration_minutes=1");
        Assert.Equal(12, minute.GetProperty("points_count").GetInt32());
        Assert.Equal("2025-01-01T01:00:10Z", minute.GetProperty("data")[11].GetProperty("timestamp").GetString());

        using var badType = await client.GetAsync("/api/v1/metrics/timeseries/disk");
        Assert.Equal(HttpStatusCode.BadRequest, badType.StatusCode);
        Assert.Equal("""{"error":"Invalid metric type","valid_types":["system","application","api"]}""", await badType.Content.ReadAsStringAsync());
        using var badDuration = await client.GetAsync("/api/v1/metrics/timeseries/api?duration_minutes=0");
        Assert.Equal(HttpStatusCode.BadRequest, badDuration.StatusCode);
        Assert.Contains("duration_minutes", await badDuration.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static async Task<JsonElement> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private async Task<JsonElement> GetAsync(string path)
    {
        using var response = await _server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static Func<string, long> Delta(JsonElement before, JsonElement after, string group) =>
        name => after.GetProperty(group).GetProperty(name).GetInt64() - before.GetProperty(group).GetProperty(name).GetInt64();

    private static void AssertTimestamp(JsonElement body)
    {
        var text = body.GetProperty("timestamp").GetString()!;
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", text);
        Assert.InRange(DateTime.Parse(text, null, System.Globalization.DateTimeStyles.AdjustToUniversal), DateTime.UtcNow.AddMinutes(-1),
            DateTime.UtcNow.AddMinutes(1));
    }

    private static void AssertKinds(JsonElement body, JsonValueKind kind, params string[] names)
    {
        foreach (var name in names)
        {
            Assert.True(body.TryGetProperty(name, out var value), $"missing {name}");
            Assert.True(value.ValueKind == kind, $"{name} is {value.ValueKind}, not {kind}");
        }
    }

    /// <summary>The <c>Threads:</c> line of <c>/proc/self/status</c>.</summary>
    private static int KernelThreads() =>
        int.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal))["Threads:".Length..].Trim(),
            System.Globalization.CultureInfo.InvariantCulture);
}

using System.Net;
using System.Text;
using System.Text.Json;
using static Arc.Native.Tests.ExportTestData;

namespace Arc.Native.Tests;

/// <summary>
/// Continuous queries through the HTTP API with the request shapes of Arc's Python SDK: definitions (create, list, get,
/// partial update, delete), the 400s of bad definitions (among them queries that write or read files), dry runs, runs
/// over a range whose output equals the same aggregation run directly, and the history.
/// </summary>
public sealed class ContinuousQueryTests : IAsyncLifetime
{
    private const string Path = "/api/v1/continuous_queries";

    /// <summary>2025-01-01T00:00:00Z in nanoseconds.</summary>
    private const long T0 = 1_735_689_600_000_000_000;

    private const long Minute = 60_000_000_000;

    /// <summary>10-minute buckets per host: count, sum, mean and maximum.</summary>
    private const string Aggregation =
        "SELECT time_bucket(INTERVAL '10 minutes', time) AS time, host, count(*) AS n, sum(v) AS total, avg(v) AS mean, max(v) AS peak " +
        "FROM cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2";

    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        // Two hours of a point a minute for three hosts, values that make sums and means distinct per bucket.
        var lines = new StringBuilder();
        for (var i = 0; i < 120; i++)
        {
            for (var h = 0; h < 3; h++)
            {
                lines.Append(System.Globalization.CultureInfo.InvariantCulture, $"cpu,host=h{h} v={(i * 7 % 13) + (h * 0.5)} {T0 + (i * Minute)}\n");
            }
        }

        using var response = await _server.Client.PostAsync("/write?db=metrics", new StringContent(lines.ToString()));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task DefinitionsAreCreatedListedUpdatedAndDeletedWithTheSdksShapes()
    {
        var (status, created) = await CreateAsync("cpu_10m", Aggregation, "1h", tags: ["host"], description: "10-minute rollup", retentionDays: 90);
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.True(created.GetProperty("success").GetBoolean());
        var query = created.GetProperty("query");
        var id = query.GetProperty("id").GetInt64();
        Assert.Equal("cpu_10m", query.GetProperty("name").GetString());
        Assert.Equal("metrics", query.GetProperty("database").GetString());
        Assert.Equal("cpu", query.GetProperty("source_measurement").GetString());
        Assert.Equal("cpu_10m", query.GetProperty("destination_measurement").GetString());
        Assert.Equal("1h", query.GetProperty("interval").GetString());
        Assert.Equal("10-minute rollup", query.GetProperty("description").GetString());
        Assert.Equal(90, query.GetProperty("retention_days").GetInt32());
        Assert.Equal(JsonValueKind.Null, query.GetProperty("delete_source_after_days").ValueKind);
        Assert.True(query.GetProperty("is_active").GetBoolean());
        Assert.Equal("host", query.GetProperty("tag_columns")[0].GetString());
        Assert.Equal(JsonValueKind.Null, query.GetProperty("last_execution_status").ValueKind);

        Assert.Equal(HttpStatusCode.Created, (await CreateAsync("paused", Aggregation, "5m", active: false)).Status);

        var list = await GetAsync(Path);
        Assert.True(list.GetProperty("success").GetBoolean());
        Assert.Equal(2, list.GetProperty("count").GetInt32());
        Assert.Equal(["cpu_10m", "paused"], list.GetProperty("queries").EnumerateArray().Select(q => q.GetProperty("name").GetString()));
        Assert.Equal(["paused"], (await GetAsync(Path + "?is_active=false")).GetProperty("queries").EnumerateArray().Select(q => q.GetProperty("name").GetString()));
        Assert.Equal(0, (await GetAsync(Path + "?database=other")).GetProperty("count").GetInt32());

        var one = await GetAsync($"{Path}/{id}");
        Assert.Equal(id, one.GetProperty("query").GetProperty("id").GetInt64());

        // The SDK's update sends only what changes; the rest is kept.
        using (var response = await _server.Client.PutAsync($"{Path}/{id}", Json(w => w.WriteString("interval", "30m"))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var updated = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("query");
            Assert.Equal("30m", updated.GetProperty("interval").GetString());
            Assert.Equal("cpu_10m", updated.GetProperty("name").GetString());
            Assert.Equal(Aggregation, updated.GetProperty("query").GetString());
            Assert.Equal(90, updated.GetProperty("retention_days").GetInt32());
        }

        // An update is validated like a create.
        using (var response = await _server.Client.PutAsync($"{Path}/{id}", Json(w => w.WriteString("query", "SELECT 1 AS x"))))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using (var response = await _server.Client.DeleteAsync($"{Path}/{id}"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("success").GetBoolean());
        }

        Assert.Equal(HttpStatusCode.NotFound, (await _server.Client.GetAsync($"{Path}/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Client.DeleteAsync($"{Path}/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _server.Client.GetAsync($"{Path}/abc")).StatusCode);
        Assert.Equal(1, (await GetAsync(Path)).GetProperty("count").GetInt32());

        // Definitions are durable.
        _server = await _server.RestartAsync();
        Assert.Equal(["paused"], (await GetAsync(Path)).GetProperty("queries").EnumerateArray().Select(q => q.GetProperty("name").GetString()));
    }

    [Theory]
    [InlineData("SELECT time, v FROM cpu", "1h", "placeholders")]
    [InlineData("COPY (SELECT time, v FROM cpu WHERE time >= {start_time} AND time < {end_time}) TO '/tmp/cq-out.csv'", "1h", "query")]
    [InlineData("SELECT count(*) AS n FROM read_parquet('/etc/passwd') WHERE {start_time} < {end_time}", "1h", "query")]
    [InlineData("SELECT count(*) AS n FROM read_text('/etc/hostname') WHERE {start_time} < {end_time}", "1h", "query")]
    [InlineData("SELECT time, v FROM other_db.cpu WHERE time >= {start_time} AND time < {end_time}", "1h", "query")]
    [InlineData("SELECT time, nope FROM cpu WHERE time >= {start_time} AND time < {end_time}", "1h", "query does not bind")]
    [InlineData("SELECT host, count(*) AS n FROM cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY host", "1h", "tag_columns")]
    [InlineData("SELECT 1 AS time, v FROM cpu WHERE time >= {start_time} AND time < {end_time}", "1h", "'time' must be a timestamp")]
    [InlineData("SELECT time, host FROM cpu WHERE time >= {start_time} AND time < {end_time}", "1h", "at least one field")]
    [InlineData(Aggregation, "soon", "invalid interval")]
    [InlineData(Aggregation, "10ms", "invalid interval")]
    public async Task BadDefinitionsAreRefusedWith400NamingTheProblem(string query, string interval, string message)
    {
        string[] tags = message switch
        {
            "tag_columns" => ["region"],
            "at least one field" => ["host"],
            _ => [],
        };
        var (status, body) = await CreateAsync("bad", query, interval, tags: tags);
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains(message, body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, (await GetAsync(Path)).GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task MissingAndConflictingPropertiesAreRefused()
    {
        foreach (var (body, message) in new (Action<Utf8JsonWriter>, string)[]
                 {
                     (w => w.WriteString("database", "metrics"), "name is required"),
                     (w => { w.WriteString("name", "x"); w.WriteString("database", "metrics"); }, "source_measurement is required"),
                     (w => { Definition(w, "x", Aggregation, "1h"); w.WriteString("destination_measurement", "9bad"); }, "invalid destination_measurement"),
                     (w => { Definition(w, "x", Aggregation, "1h"); w.WriteString("destination_measurement", "cpu"); }, "must differ"),
                 })
        {
            var (status, answer) = await PostJsonAsync(_server.Client, Path, body);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains(message, answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.Created, (await CreateAsync("same", Aggregation, "1h", tags: ["host"])).Status);
        var (again, error) = await CreateAsync("same", Aggregation, "1h", tags: ["host"]);
        Assert.Equal(HttpStatusCode.BadRequest, again);
        Assert.Contains("already exists", error.GetProperty("error").GetString(), StringComparison.Ordinal);

        using var malformed = await _server.Client.PostAsync(Path, new StringContent("{\"name\": ", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        using var oversized = await _server.Client.PostAsync(Path, new StringContent(new string(' ', 2 << 20), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, oversized.StatusCode);
    }

    [Fact]
    public async Task ARunWritesWhatTheSameAggregationReturnsDirectlyAndOnlyOnce()
    {
        var (_, created) = await CreateAsync("cpu_10m", Aggregation, "1h", tags: ["host"]);
        var id = created.GetProperty("query").GetProperty("id").GetInt64();
        const string start = "2025-01-01T00:00:00Z";
        const string end = "2025-01-01T02:00:00Z";

        // A dry run computes the rows and writes nothing.
        var dry = await ExecuteAsync(id, start, end, dryRun: true);
        Assert.Equal("dry_run", dry.GetProperty("status").GetString());
        Assert.True(dry.GetProperty("dry_run").GetBoolean());
        Assert.Equal(36, dry.GetProperty("records_read").GetInt64()); // 12 buckets x 3 hosts
        Assert.Equal(0, dry.GetProperty("records_written").GetInt64());
        Assert.Contains("TIMESTAMPTZ '2025-01-01 00:00:00", dry.GetProperty("executed_query").GetString(), StringComparison.Ordinal);
        var first = dry.GetProperty("rows")[0];
        Assert.Equal("2025-01-01T00:00:00Z", first.GetProperty("time").GetString());
        Assert.True(first.TryGetProperty("mean", out _));
        var (missing, _) = await _server.QueryAsync("SELECT count(*) FROM cpu_10m", "metrics");
        Assert.NotEqual(200, missing); // nothing was written: the destination does not exist

        var run = await ExecuteAsync(id, start, end);
        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal(36, run.GetProperty("records_written").GetInt64());
        Assert.Equal("cpu_10m", run.GetProperty("destination_measurement").GetString());

        // The output, read back, is the aggregation run directly (tags as tags, time as the timestamp).
        var written = await _server.RowsAsync("SELECT epoch_ns(time), host, n, total, mean, peak FROM cpu_10m ORDER BY time, host", "metrics");
        var direct = await _server.RowsAsync(
            "SELECT epoch_ns(time_bucket(INTERVAL '10 minutes', time)) AS t, host, count(*), sum(v), avg(v), max(v) FROM cpu " +
            "WHERE time >= '2025-01-01T00:00:00Z' AND time < '2025-01-01T02:00:00Z' GROUP BY 1, 2 ORDER BY 1, 2", "metrics");
        Assert.Equal(36, written.Count);
        Assert.Equal(direct.Select(r => string.Join('|', r)), written.Select(r => string.Join('|', r)));
        using (var asField = await _server.Client.PostAsync("/write?db=metrics", new StringContent("cpu_10m host=\"x\",n=1i 1\n")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, asField.StatusCode); // host is a tag there
        }

        // Running the range again, or a part of it, writes nothing: each window's output is there once.
        Assert.Equal(0, (await ExecuteAsync(id, start, end)).GetProperty("records_written").GetInt64());
        Assert.Equal(0, (await ExecuteAsync(id, "2025-01-01T01:00:00Z", end)).GetProperty("records_written").GetInt64());
        Assert.Equal("36", (await _server.RowsAsync("SELECT count(*) FROM cpu_10m", "metrics"))[0][0]);

        // Also after the output was flushed to Parquet and the server restarted.
        _server = await _server.RestartAsync();
        Assert.Equal(0, (await ExecuteAsync(id, start, end)).GetProperty("records_written").GetInt64());
        Assert.Equal("36", (await _server.RowsAsync("SELECT count(*) FROM cpu_10m", "metrics"))[0][0]);

        var history = await GetAsync($"{Path}/{id}/executions?limit=10");
        Assert.Equal(id, history.GetProperty("query_id").GetInt64());
        var executions = history.GetProperty("executions").EnumerateArray().ToList();
        Assert.Equal(4, executions.Count); // the dry run is not a run
        Assert.All(executions, e => Assert.Equal("completed", e.GetProperty("status").GetString()));
        Assert.Equal([0L, 0, 0, 36], executions.Select(e => e.GetProperty("records_written").GetInt64()));
        Assert.Equal("2025-01-01T00:00:00Z", executions[^1].GetProperty("start_time").GetString());
        var shown = (await GetAsync($"{Path}/{id}")).GetProperty("query");
        Assert.Equal("completed", shown.GetProperty("last_execution_status").GetString());
        Assert.Equal(0, shown.GetProperty("last_records_written").GetInt64());
        Assert.Equal(HttpStatusCode.BadRequest, (await _server.Client.GetAsync($"{Path}/{id}/executions?limit=0")).StatusCode);
    }

    [Fact]
    public async Task ExecuteChecksItsRangeAndTheQueryState()
    {
        var (_, created) = await CreateAsync("cpu_10m", Aggregation, "1h", tags: ["host"]);
        var id = created.GetProperty("query").GetProperty("id").GetInt64();
        var (status, body) = await PostJsonAsync(_server.Client, $"{Path}/{id}/execute", w =>
        {
            w.WriteString("start_time", "2025-01-01T02:00:00Z");
            w.WriteString("end_time", "2025-01-01T01:00:00Z");
        });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("start_time must be before end_time", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostJsonAsync(_server.Client, $"{Path}/{id}/execute", w => w.WriteString("start_time", "yesterday"))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await PostJsonAsync(_server.Client, $"{Path}/999/execute", _ => { })).Status);

        using (var response = await _server.Client.PutAsync($"{Path}/{id}", Json(w => w.WriteBoolean("is_active", false))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var (inactive, error) = await PostJsonAsync(_server.Client, $"{Path}/{id}/execute", _ => { });
        Assert.Equal(HttpStatusCode.BadRequest, inactive);
        Assert.Contains("not active", error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    private Task<(HttpStatusCode Status, JsonElement Body)> CreateAsync(string name, string query, string interval, string[]? tags = null,
        string? description = null, int? retentionDays = null, bool active = true) =>
        PostJsonAsync(_server.Client, Path, w =>
        {
            Definition(w, name, query, interval);
            if (tags is not null)
            {
                w.WriteStartArray("tag_columns");
                foreach (var tag in tags)
                {
                    w.WriteStringValue(tag);
                }

                w.WriteEndArray();
            }

            // The SDK sends every property, null when not set.
            if (description is null)
            {
                w.WriteNull("description");
            }
            else
            {
                w.WriteString("description", description);
            }

            if (retentionDays is { } days)
            {
                w.WriteNumber("retention_days", days);
            }
            else
            {
                w.WriteNull("retention_days");
            }

            w.WriteNull("delete_source_after_days");
            w.WriteBoolean("is_active", active);
        });

    private static void Definition(Utf8JsonWriter writer, string name, string query, string interval)
    {
        writer.WriteString("name", name);
        writer.WriteString("database", "metrics");
        writer.WriteString("source_measurement", "cpu");
        writer.WriteString("destination_measurement", "cpu_10m");
        writer.WriteString("query", query);
        writer.WriteString("interval", interval);
    }

    private async Task<JsonElement> ExecuteAsync(long id, string start, string end, bool dryRun = false)
    {
        var (status, body) = await PostJsonAsync(_server.Client, $"{Path}/{id}/execute", w =>
        {
            w.WriteBoolean("dry_run", dryRun);
            w.WriteString("start_time", start);
            w.WriteString("end_time", end);
        });
        Assert.True(status == HttpStatusCode.OK, $"{status}: {body}");
        return body;
    }

    private async Task<JsonElement> GetAsync(string path)
    {
        using var response = await _server.Client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static ByteArrayContent Json(Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return new ByteArrayContent(buffer.WrittenSpan.ToArray())
        {
            Headers = { ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") },
        };
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Native.Tests;

/// <summary>
/// A server with a 2-second cache TTL on a fake clock (entries age only when a test moves it) and compaction on demand (two
/// files make an hour compactable).
/// </summary>
public sealed class QueryCacheOpsFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    public async Task InitializeAsync() => Server = await TestServer.StartAsync(c =>
    {
        c.CacheTtl = TimeSpan.FromSeconds(2);
        c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false, HourlyMinFiles = 2 }, Time = Clock };
    });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class QueryCacheOpsTests(QueryCacheOpsFixture fixture) : IClassFixture<QueryCacheOpsFixture>
{
    private const long T1 = 1_700_000_000_000_000_000;
    private readonly TestServer _server = fixture.Server;

    [Fact]
    public async Task ARepeatedQueryIsAHitUntilItsMeasurementIsWritten()
    {
        await Write("db1", $"cpu,host=a v=1 {T1}");
        const string sql = "SELECT host, v FROM cpu ORDER BY v";
        var (cache, first) = await Query(_server.Client, sql, "db1");
        Assert.Equal("miss", cache);
        var (again, second) = await Query(_server.Client, "SELECT host,  v\nFROM cpu ORDER BY v;", "db1"); // same query, other spacing
        Assert.Equal("hit", again);
        Assert.Equal(first.GetProperty("data").GetRawText(), second.GetProperty("data").GetRawText());
        Assert.True(second.GetProperty("execution_time_ms").GetDouble() >= 0);
        Assert.Equal("bypass", (await Query(_server.Client, sql, "db1", ("Cache-Control", "no-cache"))).Cache);

        // Read-your-writes: every acknowledged write is in the very next answer, never hidden by the cache.
        for (var i = 2; i <= 30; i++)
        {
            await Write("db1", $"cpu,host=h{i} v={i} {T1 + i}");
            var (status, body) = await Query(_server.Client, sql, "db1");
            Assert.Equal("miss", status);
            Assert.Equal(i, body.GetProperty("row_count").GetInt64());
        }

        // A write to another measurement, or a flush, does not invalidate.
        Assert.Equal("hit", (await Query(_server.Client, sql, "db1")).Cache);
        await Write("db1", $"mem,host=a used=1i {T1}");
        await _server.Server.Engine.FlushAsync();
        Assert.Equal("hit", (await Query(_server.Client, sql, "db1")).Cache);

        // CSV is cached under its own key.
        Assert.Equal("miss", (await Query(_server.Client, sql, "db1", path: "/api/v1/query/stream")).Cache);
        Assert.Equal("hit", (await Query(_server.Client, sql, "db1", path: "/api/v1/query/stream")).Cache);
    }

    [Fact]
    public async Task EntriesExpireAfterTheTtl()
    {
        await Write("db2", $"cpu,host=a v=1 {T1}");
        const string sql = "SELECT count(*) FROM cpu WHERE time < now()::TIMESTAMP";
        Assert.Equal("miss", (await Query(_server.Client, sql, "db2")).Cache);
        Assert.Equal("hit", (await Query(_server.Client, sql, "db2")).Cache);
        fixture.Clock.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Equal("hit", (await Query(_server.Client, sql, "db2")).Cache);
        fixture.Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("miss", (await Query(_server.Client, sql, "db2")).Cache);
    }

    [Fact]
    public async Task CompactionInvalidatesAndUncacheableQueriesAreNotStored()
    {
        await Write("db3", $"m,host=a v=1 {T1}");
        await _server.Server.Engine.CheckpointAsync();
        await Write("db3", $"m,host=a v=2 {T1}"); // the same point again: compaction keeps the last write only
        await _server.Server.Engine.CheckpointAsync();
        const string sql = "SELECT count(*), max(v) FROM m";
        Assert.Equal("[[2,2]]", (await Query(_server.Client, sql, "db3")).Body.GetProperty("data").GetRawText());
        Assert.Equal("hit", (await Query(_server.Client, sql, "db3")).Cache);
        using (var trigger = await _server.Client.PostAsync("/api/v1/compaction/trigger?tier=hourly&database=db3&wait=true", null))
        {
            Assert.Contains("\"succeeded\":true", await trigger.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var (cache, body) = await Query(_server.Client, sql, "db3");
        Assert.Equal("miss", cache);
        Assert.Equal("[[1,2]]", body.GetProperty("data").GetRawText());

        // Volatile functions, table functions and queries reading no measurement are answered but never stored.
        foreach (var uncacheable in new[] { "SELECT random() FROM m", "SELECT 42", "SELECT * FROM range(3)", "SELECT count(*) FROM duckdb_tables()" })
        {
            Assert.Equal("miss", (await Query(_server.Client, uncacheable, "db3")).Cache);
            Assert.Equal("miss", (await Query(_server.Client, uncacheable, "db3")).Cache);
        }
    }

    [Fact]
    public async Task TokenScopesHaveTheirOwnEntriesAndStatsAndClearWork()
    {
        await Write("db4", $"cpu,host=a v=1 {T1}");
        await Write("db5", $"cpu,host=b v=2 {T1}");
        const string sql = "SELECT host FROM cpu";
        Assert.Equal("miss", (await Query(_server.Client, sql, "db4")).Cache);
        Assert.Equal("hit", (await Query(_server.Client, sql, "db4")).Cache);

        using var scoped = _server.NewClient(await Token("[\"read\"]", "[\"db5\"]"));
        using (var forbidden = await Send(scoped, sql, "db4")) // cached for the admin, still refused to a token scoped elsewhere
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        Assert.Equal("miss", (await Query(scoped, sql, "db5")).Cache);
        Assert.Equal("hit", (await Query(scoped, sql, "db5")).Cache);
        Assert.Equal("miss", (await Query(_server.Client, sql, "db5")).Cache); // the admin's scope is another key

        var stats = await Json("/cache/stats");
        Assert.True(stats.GetProperty("enabled").GetBoolean());
        Assert.True(stats.GetProperty("hits").GetInt64() >= 2);
        Assert.True(stats.GetProperty("entries").GetInt64() >= 3);
        Assert.True(stats.GetProperty("size_bytes").GetInt64() > 0);
        using (var clear = await scoped.PostAsync("/cache/clear", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, clear.StatusCode);
        }

        using (var clear = await _server.Client.PostAsync("/cache/clear", null))
        {
            Assert.Equal(HttpStatusCode.OK, clear.StatusCode);
            Assert.True(JsonDocument.Parse(await clear.Content.ReadAsStringAsync()).RootElement.GetProperty("cleared").GetInt32() >= 3);
        }

        Assert.Equal("miss", (await Query(_server.Client, sql, "db4")).Cache);
    }

    [Fact]
    public async Task SmallResultsReleaseTheConnectionBeforeTheClientReadsThem()
    {
        // About 600 KB of JSON: under query.result_buffer_size (1 MB), so it is complete before the response starts.
        const string sql = "SELECT range AS i, repeat('x', 40) AS s FROM range(10000)";
        using var response = await Send(_server.Client, sql, "db6", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(response.Content.Headers.ContentLength);
        var pool = await QueryPoolOpsTests.Pool(_server);
        Assert.Equal(0, pool.GetProperty("active").GetInt32()); // the body is not read yet
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(10_000, body.GetProperty("row_count").GetInt64());

        // A failure at a late row of a buffered result is still a clean 400, not a broken 200.
        using var failing = await Send(_server.Client, "SELECT CASE WHEN range < 3000 THEN range ELSE error('boom ' || range)::BIGINT END FROM range(5000)",
            "db6", HttpCompletionOption.ResponseContentRead);
        Assert.Equal(HttpStatusCode.BadRequest, failing.StatusCode);
        Assert.Contains("boom", await failing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private async Task Write(string database, string line)
    {
        using var response = await _server.WriteAsync($"/write?db={database}", line + "\n");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private async Task<string> Token(string permissions, string databases)
    {
        using var created = await _server.Client.PostAsync("/api/v1/auth/tokens",
            new StringContent($"{{\"name\":\"scoped\",\"permissions\":{permissions},\"databases\":{databases}}}", Encoding.UTF8, "application/json"));
        return JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
    }

    private async Task<JsonElement> Json(string path)
    {
        using var response = await _server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static Task<HttpResponseMessage> Send(HttpClient client, string sql, string database,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead, string path = "/api/v1/query", (string, string)? header = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(TestServer.SqlBody(sql), Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        request.Headers.Add("x-arc-database", database);
        if (header is { } extra)
        {
            request.Headers.Add(extra.Item1, extra.Item2);
        }

        return client.SendAsync(request, completion);
    }

    private static async Task<(string Cache, JsonElement Body)> Query(HttpClient client, string sql, string database, (string, string)? header = null,
        string path = "/api/v1/query")
    {
        using var response = await Send(client, sql, database, HttpCompletionOption.ResponseContentRead, path, header);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{sql}: {(int)response.StatusCode} {text}");
        var cache = response.Headers.TryGetValues("x-arc-cache", out var values) ? values.Single() : "";
        return (cache, path.EndsWith("stream", StringComparison.Ordinal) ? default : JsonDocument.Parse(text).RootElement.Clone());
    }
}

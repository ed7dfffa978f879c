using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

public sealed class QueryTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        var lines = new StringBuilder();
        for (var i = 0; i < 10; i++)
        {
            lines.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"cpu,host=h{i % 3},region=eu usage={i * 1.5},count={i}i,ok={(i % 2 == 0 ? "t" : "f")},note=\"n {i}\" {1700000000000000000L + (i * 1_000_000_000L)}\n");
        }

        lines.Append("mem,host=h0 used=100i 1700000000000000000\nmem,host=h1 used=200i 1700000000000000000\n");
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=metrics", lines.ToString())).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=other", "cpu,host=x usage=99 1700000000000000000\n")).StatusCode);
        await _server.Server.Engine.FlushAsync();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ResponseHasArcShape()
    {
        var (status, body) = await _server.QueryAsync("SELECT host, usage, count, ok, note, time FROM cpu WHERE count < 2 ORDER BY time", "metrics");
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("success").GetBoolean());
        Assert.Equal(["host", "usage", "count", "ok", "note", "time"], body.GetProperty("columns").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(2, body.GetProperty("row_count").GetInt64());
        Assert.True(body.GetProperty("execution_time_ms").GetDouble() >= 0);
        var first = body.GetProperty("data")[0];
        Assert.Equal("h0", first[0].GetString());
        Assert.Equal(0, first[1].GetDouble());
        Assert.Equal(0, first[2].GetInt64());
        Assert.True(first[3].GetBoolean());
        Assert.Equal("n 0", first[4].GetString());
        Assert.Equal("2023-11-14T22:13:20Z", first[5].GetString());
    }

    [Fact]
    public async Task QualifiedNamesJoinsCtesAndSubqueriesResolveThroughDuckDb()
    {
        Assert.Equal([["99"]], await _server.RowsAsync("SELECT usage FROM other.cpu"));
        var joined = await _server.RowsAsync("""
            WITH latest AS (
                SELECT host, max(time) AS t FROM metrics.cpu GROUP BY host
            )
            SELECT c.host, c.count, m.used
            FROM latest l
            JOIN metrics.cpu c ON c.host = l.host AND c.time = l.t
            LEFT JOIN mem m ON m.host = c.host
            WHERE c.host IN (SELECT host FROM cpu WHERE usage > 1)
            ORDER BY c.host
            """, "metrics");
        Assert.Equal([["h0", "9", "100"], ["h1", "7", "200"], ["h2", "8", "null"]], joined);
        Assert.Equal([["11"]], await _server.RowsAsync("SELECT (SELECT count(*) FROM metrics.cpu) + (SELECT count(*) FROM other.cpu)"));
    }

    [Fact]
    public async Task ShowAndDescribe()
    {
        Assert.Equal([["metrics"], ["other"]], await _server.RowsAsync("SHOW DATABASES"));
        var (status, tables) = await _server.QueryAsync("show tables from metrics;");
        Assert.Equal(200, status);
        Assert.Equal(["database", "table_name", "storage_path", "file_count", "total_size_mb"],
            tables.GetProperty("columns").EnumerateArray().Select(c => c.GetString()));
        var rows = tables.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["cpu", "mem"], rows.Select(r => r[1].GetString()));
        Assert.All(rows, r => Assert.Equal(1, r[3].GetInt64()));
        Assert.All(rows, r => Assert.True(r[4].GetDouble() > 0));
        Assert.Equal(Path.Combine(_server.DataPath, "metrics", "cpu"), rows[0][2].GetString());
        Assert.Equal(["mem"], (await _server.RowsAsync("SHOW TABLES", "metrics")).Skip(1).Select(r => r[1]));

        var describe = await _server.RowsAsync("DESCRIBE metrics.cpu");
        Assert.Equal(["time", "TIMESTAMP_NS"], describe[0][..2]);
        Assert.Contains(describe, r => r[0] == "count" && r[1] == "BIGINT");
        Assert.Contains(describe, r => r[0] == "ok" && r[1] == "BOOLEAN");
    }

    [Fact]
    public async Task ListingsComeInNameOrderWhateverOrderTheNamesWereWrittenIn()
    {
        // The listings are written in the catalog's order with no ORDER BY for DuckDB to run: names written out of order
        // (capitals sort first, as DuckDB orders VARCHAR) must still come back sorted.
        await using var server = await TestServer.StartAsync();
        string[] databases = ["zulu", "Bravo", "alpha-2", "alpha_1", "Zeta"];
        string[] measurements = ["zeta", "beta", "Alpha", "B-2", "a_1", "b_1", "A9"];
        foreach (var database in databases)
        {
            var body = string.Concat(measurements.Select((m, i) => $"{m},host=h v={i} {1_700_000_000 + i}000000000\n"));
            Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync($"/write?db={database}", body)).StatusCode);
        }

        Assert.Equal(databases.Order(StringComparer.Ordinal).Select(d => new[] { d }), await server.RowsAsync("SHOW DATABASES"));
        var tables = await server.RowsAsync("SHOW MEASUREMENTS FROM zulu");
        Assert.Equal(["A9", "Alpha", "B-2", "a_1", "b_1", "beta", "zeta"], tables.Select(r => r[1]));
        Assert.Equal(tables.Select(r => r[1]), (await server.RowsAsync(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'zulu' ORDER BY view_name")).Select(r => r[0]));
    }

    [Theory]
    [InlineData("VALUES (1), (2)", 2)]
    [InlineData("FROM metrics.cpu LIMIT 3", 3)]
    [InlineData("SUMMARIZE metrics.cpu", 7)]
    [InlineData("EXPLAIN SELECT * FROM metrics.cpu", 1)]
    [InlineData("SHOW metrics.cpu", 7)]
    [InlineData("SELECT * FROM duckdb_settings() WHERE name = 'threads'", 1)]
    public async Task ReadOnlyStatementFormsRun(string sql, int rows)
    {
        Assert.Equal(rows, (await _server.RowsAsync(sql)).Count);
    }

    [Theory]
    [InlineData("INSERT INTO t VALUES (1)", "")]
    [InlineData("CREATE TABLE t (a INT)", "CREATE")]
    [InlineData("DROP VIEW metrics.cpu", "DROP")]
    [InlineData("COPY (SELECT 1) TO '/tmp/x.csv'", "")]
    [InlineData("ATTACH '/tmp/x.db'", "ATTACH")]
    [InlineData("SET threads = 1", "SET")]
    [InlineData("PRAGMA enable_profiling", "PRAGMA")]
    [InlineData("CREATE TEMP TABLE t AS SELECT 1", "CREATE")]
    [InlineData("UPDATE t SET a = 1", "")]
    [InlineData("CALL pragma_version()", "CALL")]
    [InlineData("USE other", "USE")]
    [InlineData("DETACH memory", "DETACH")]
    [InlineData("LOAD httpfs", "LOAD")]
    [InlineData("INSTALL httpfs", "")]
    public async Task StatementsThatWriteOrChangeStateAreRefused(string sql, string kind)
    {
        var (status, body) = await _server.QueryAsync(sql);
        Assert.Equal(400, status);
        Assert.False(body.GetProperty("success").GetBoolean());
        var error = body.GetProperty("error").GetString()!;
        if (kind.Length > 0)
        {
            Assert.Contains("only read-only queries are accepted", error, StringComparison.Ordinal);
            Assert.Contains($"this is a {kind} statement", error, StringComparison.Ordinal);
        }

        Assert.Equal([["10"]], await _server.RowsAsync("SELECT count(*) FROM metrics.cpu"));
    }

    [Theory]
    [InlineData("INSERT INTO metrics.cpu (host) VALUES ('x')")]
    [InlineData("DELETE FROM metrics.cpu")]
    [InlineData("UPDATE metrics.cpu SET host = 'x'")]
    public async Task WritesToMeasurementsFailInDuckDbsBinderAndChangeNothing(string sql)
    {
        // DuckDB refuses these while binding (a measurement is a view), before the statement type can be read.
        var (status, body) = await _server.QueryAsync(sql);
        Assert.Equal(400, status);
        Assert.False(body.GetProperty("success").GetBoolean());
        Assert.Equal([["10", "0"]], await _server.RowsAsync("SELECT count(*), count(*) FILTER (WHERE host = 'x') FROM metrics.cpu"));
    }

    [Fact]
    public async Task MultipleStatementsAndErrorsReturnDuckDbMessages()
    {
        var (status, body) = await _server.QueryAsync("SELECT 1; DROP VIEW metrics.cpu");
        Assert.Equal(400, status);
        Assert.Contains("one statement per query", body.GetProperty("error").GetString(), StringComparison.Ordinal);

        (status, body) = await _server.QueryAsync("SELEC 1");
        Assert.Equal(400, status);
        Assert.Contains("syntax error", body.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);

        (status, body) = await _server.QueryAsync("SELECT * FROM nope", "metrics");
        Assert.Equal(400, status);
        Assert.Contains("nope", body.GetProperty("error").GetString(), StringComparison.Ordinal);

        (status, body) = await _server.QueryAsync("SELECT 1/0::INTEGER AS x, 'a'::INTEGER");
        Assert.Equal(400, status);
        Assert.Contains("Conversion Error", body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadRequestBodiesAreRejected()
    {
        using var notJson = await _server.Client.PostAsync("/api/v1/query", new StringContent("{sql:", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Contains("invalid JSON", await notJson.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var empty = await _server.Client.PostAsync("/api/v1/query", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        var huge = TestServer.SqlBody("SELECT '" + new string('x', 2 << 20) + "'");
        using var tooLarge = await _server.Client.PostAsync("/api/v1/query", new StringContent(huge, Encoding.UTF8, new MediaTypeHeaderValue("application/json")));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
    }

    [Fact]
    public async Task ValuesOfEveryCommonTypeAreWrittenAsJson()
    {
        var (status, body) = await _server.QueryAsync("""
            SELECT 1::TINYINT, 2::SMALLINT, 3::INTEGER, 9223372036854775807::BIGINT, 255::UTINYINT, 18446744073709551615::UBIGINT,
                   170141183460469231731687303715884105727::HUGEINT, 1.5::FLOAT, 'NaN'::DOUBLE, 123.4500::DECIMAL(9,4),
                   -0.05::DECIMAL(18,3), 'é"\'::VARCHAR, '\xAA\xBB'::BLOB, DATE '2024-02-29', TIME '13:45:01.5',
                   TIMESTAMP '2024-01-02 03:04:05.123456', TIMESTAMPTZ '2024-01-02 03:04:05+00', '2024-01-02 03:04:05.000000001'::TIMESTAMP_NS,
                   TIMESTAMP_MS '2024-01-02 03:04:05.120', TIMESTAMP_S '1969-12-31 23:59:59', INTERVAL '1 month 2 days 3.5 seconds',
                   '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID, [1, NULL, 3], {'a': 1, 'b': 'x'}, MAP {'k': 1}, [1, 2]::INTEGER[2],
                   'infinity'::TIMESTAMP, NULL
            """);
        Assert.Equal(200, status);
        var row = body.GetProperty("data")[0].EnumerateArray().Select(v => v.GetRawText()).ToArray();
        Assert.Equal([
            "1", "2", "3", "9223372036854775807", "255", "18446744073709551615", "170141183460469231731687303715884105727", "1.5", "null",
            "123.4500", "-0.050", "\"é\\\"\\\\\"", "\"qrs=\"", "\"2024-02-29\"", "\"13:45:01.5\"", "\"2024-01-02T03:04:05.123456Z\"",
            "\"2024-01-02T03:04:05Z\"", "\"2024-01-02T03:04:05.000000001Z\"", "\"2024-01-02T03:04:05.12Z\"", "\"1969-12-31T23:59:59Z\"",
            "\"P1M2DT3.5S\"", "\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\"", "[1,null,3]", "{\"a\":1,\"b\":\"x\"}", "{\"k\":1}", "[1,2]",
            "\"infinity\"", "null",
        ], row);
    }

    [Fact]
    public async Task LargeResultsStreamAcrossManyChunks()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/query")
        {
            Content = new StringContent("{\"sql\":\"SELECT i, i * 2 AS j, 'row ' || i AS s FROM range(300000) t(i)\"}", Encoding.UTF8, "application/json"),
        };
        using var response = await _server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(response.Content.Headers.ContentLength); // chunked: streamed, not buffered
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var json = await JsonDocument.ParseAsync(stream);
        Assert.Equal(300_000, json.RootElement.GetProperty("row_count").GetInt64());
        var data = json.RootElement.GetProperty("data");
        Assert.Equal(300_000, data.GetArrayLength());
        Assert.Equal("row 299999", data[299_999][2].GetString());
    }

    [Fact]
    public async Task InfluxHandshakesAndHealth()
    {
        using var ping = await _server.Client.GetAsync("/ping");
        Assert.Equal(HttpStatusCode.NoContent, ping.StatusCode);
        Assert.True(ping.Headers.Contains("X-Influxdb-Version"));
        using var create = await _server.Client.PostAsync("/query?q=CREATE+DATABASE+%22telegraf%22", null);
        Assert.Equal(HttpStatusCode.OK, create.StatusCode);
        using var influxql = await _server.Client.GetAsync("/query?q=SELECT+*+FROM+cpu");
        Assert.Equal(HttpStatusCode.BadRequest, influxql.StatusCode);
        using var health = await _server.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var ready = await _server.Client.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("\"ready\"", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}

using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>
/// The query endpoints attacked as a client would: every statement that writes or changes state, plain and wrapped in
/// every EXPLAIN form, on every query endpoint with read, read-write, database-scoped and admin tokens; DuckDB's catalog
/// through views, functions, CTE shadowing and macros with non-admin tokens. Each attack must be refused (4xx, never
/// 500), and afterwards nothing may have changed: the files on disk, the views' SQL, the data, the logs, and the search
/// path of every pooled connection; a restart after the whole suite starts cleanly on the same data.
/// </summary>
[LongRunning(24)]
public sealed class SqlAttackTests : IAsyncLifetime
{
    private static readonly string[] Endpoints =
        ["/api/v1/query", "/api/v1/query/arrow", "/api/v1/query/msgpack", "/api/v1/query/stream", "/api/v1/query/estimate"];

    /// <summary>The attack forms ({root} is replaced by the storage root). Each runs plain and inside EXPLAIN ANALYZE.</summary>
    private static readonly string[] StateChanges =
    [
        "COPY (SELECT TIMESTAMP_NS '2023-11-14 22:13:22' AS time, 'injected' AS host, 999.0::DOUBLE AS v) TO '{root}/alpha/cpu/2023/11/14/22/x.parquet' (FORMAT parquet)",
        "COPY (SELECT 1 AS a, 2 AS b) TO '{root}/victim/m' (FORMAT parquet, PARTITION_BY (a), OVERWRITE true)",
        "COPY (SELECT 1 AS x, 'a' AS p) TO '{root}/prod/zzz' (FORMAT parquet, PARTITION_BY (p))",
        "COPY (SELECT 'a,b') TO '{root}/alpha/cpu/2023/11/14/22/y.parquet' (FORMAT csv)",
        "COPY alpha.cpu TO '{root}/alpha/cpu/2023/11/14/22/z.parquet'",
        "DROP VIEW beta.secret",
        "CREATE OR REPLACE VIEW alpha.cpu AS SELECT * FROM read_parquet('{root}/beta/secret/*/*/*/*/*.parquet')",
        "SET search_path = 'beta'",
        "USE beta",
        "RESET search_path",
        "SET VARIABLE x = 1",
        "CALL enable_logging()",
        "PRAGMA enable_profiling",
        "PRAGMA enable_profiling = 'json'",
        "EXPORT DATABASE '{root}/beta/x'",
        "ATTACH ':memory:' AS other",
        "DETACH memory",
        "CREATE TABLE t AS SELECT 1",
        "CREATE MACRO m(a) AS a",
        "CREATE SEQUENCE s",
        "CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')",
        "INSERT INTO alpha.cpu (host) VALUES ('x')",
        "UPDATE alpha.cpu SET host = 'x'",
        "DELETE FROM alpha.cpu",
        "ALTER VIEW alpha.cpu RENAME TO cpu2",
        "CHECKPOINT",
        "VACUUM",
        "ANALYZE",
        "LOAD parquet",
        "INSTALL httpfs",
        "PREPARE p AS SELECT 1",
        "BEGIN TRANSACTION",
        "SUMMARIZE (COPY (SELECT 1) TO '{root}/w.csv')",
    ];

    /// <summary>Reaching the catalog, the files or server state through SELECT forms: refused to every non-admin token.</summary>
    private static readonly string[] CatalogReads =
    [
        "FROM pg_views",
        "FROM duckdb_views",
        "SELECT * FROM duckdb_views()",
        "FROM duckdb_columns",
        "FROM pg_namespace",
        "FROM pg_catalog.pg_class",
        "FROM information_schema.tables",
        "FROM information_schema.views",
        "FROM sqlite_master",
        "FROM system.main.duckdb_views",
        "SHOW ALL TABLES",
        "SHOW SCHEMAS",
        "SELECT current_setting('allowed_directories')",
        "SELECT getvariable('x')",
        "SELECT pg_get_viewdef(1)",
        "SELECT format_type(1, 1)",
        "WITH duckdb_views AS (SELECT * FROM duckdb_views) SELECT * FROM duckdb_views",
        "WITH a AS (SELECT * FROM duckdb_views), duckdb_views AS (SELECT 1) SELECT * FROM a",
        "SELECT * FROM (WITH duckdb_views AS (SELECT 1) SELECT * FROM duckdb_views) a, duckdb_views b",
        "WITH duckdb_views AS MATERIALIZED (SELECT * FROM duckdb_views) SELECT * FROM duckdb_views",
        "SELECT * FROM histogram('beta.secret', v)",
        "FROM pragma_table_info('beta.secret')",
        "FROM query_table('beta.secret')",
        "FROM query('SELECT * FROM beta.secret')",
        "SELECT * FROM read_blob('{root}/*')",
        "SELECT * FROM read_parquet('{root}/beta/secret/*/*/*/*/*.parquet')",
        "FROM '{root}/beta/secret/2023/11/14/22/*.parquet'",
        "FROM glob('{root}/**')",
        "FROM duckdb_settings()",
    ];

    /// <summary>Refused to every token, admin included: they change server state, run SQL text or read other sessions.</summary>
    private static readonly string[] RefusedToAll =
    [
        "SELECT * FROM enable_logging()",
        "SELECT * FROM disable_logging()",
        "SELECT * FROM enable_profiling()",
        "SELECT * FROM checkpoint()",
        "SELECT * FROM force_checkpoint()",
        "SELECT * FROM query('COPY (SELECT 1) TO ''{root}/q.csv''')",
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
        "SELECT * FROM duckdb_logs()",
        "SELECT * FROM duckdb_variables()",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM duckdb_prepared_statements()",
        "SELECT * FROM arrow_scan(0, 0, 0)",
        "SELECT * FROM read_duckdb('{root}/x.db')",
        "SELECT * FROM arc_buffer('beta', 'secret')",
        "SELECT arc_files('beta', 'secret')",
        "SELECT arc_union('beta', 'secret')",
        "SELECT arc_source('beta', 'secret')",
        "SELECT * FROM query(arc_source('beta', 'secret'))",
        "SELECT setseed(0.5)",
        "SELECT nextval('s')",
        "SELECT write_log('x')",
        "SELECT sleep_ms(1)",
        "SELECT current_query()",
    ];

    private TestServer _server = null!;
    private string _read = "";
    private string _readWrite = "";
    private string _alpha = "";
    private string _default = "";

    public async Task InitializeAsync()
    {
        // Flushed rows are read from their files (not kept in memory), so EXPLAIN ANALYZE shows the files read.
        _server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false }, HotDataBytes = 0 });
        foreach (var (database, line) in new[]
                 {
                     ("alpha", "cpu,host=a v=1 1700000000000000000"), ("beta", "secret,host=b v=42,word=\"zebra\" 1700000000000000000"),
                     ("victim", "m,host=c v=3 1700000000000000000"), ("prod", "x,host=d v=4 1700000000000000000"),
                     ("default", "mem,host=e v=5 1700000000000000000"),
                 })
        {
            Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync($"/write?db={database}", line + "\n")).StatusCode);
        }

        await _server.Server.Engine.FlushAsync();
        _read = await _server.CreateTokenAsync("read", ["read"]);
        _readWrite = await _server.CreateTokenAsync("read-write", ["read", "write"]);
        _alpha = await _server.CreateTokenAsync("alpha", ["read"], ["alpha"]);
        _default = await _server.CreateTokenAsync("default", ["read"], ["default"]);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task EveryStateChangeIsRefusedEverywhereAndChangesNothingAndTheServerRestarts()
    {
        var before = await Snapshot();
        var tokens = new[] { _read, _readWrite, _alpha, TestServer.AdminToken };
        var wrappers = new[] { "", "EXPLAIN ANALYZE ", "EXPLAIN " };
        var oddWrappers = new[]
        {
            "explain analyse ", "EXPLAIN (ANALYZE) ", "EXPLAIN (FORMAT json, ANALYZE true) ", "EXPLAIN /* c */ ANALYZE ",
            "-- c\nEXPLAIN ANALYZE ", "  EXPLAIN\tANALYZE\n", "EXPLAIN /* /* nested */ */ ANALYZE ", "EXPLAIN (ANALYZE, FORMAT 'json') ",
        };
        var attempts = 0;
        foreach (var statement in StateChanges)
        {
            foreach (var wrapper in wrappers)
            {
                foreach (var token in tokens)
                {
                    foreach (var endpoint in Endpoints)
                    {
                        await AssertRefused(token, endpoint, wrapper + statement);
                        attempts++;
                    }
                }
            }

            foreach (var wrapper in oddWrappers)
            {
                await AssertRefused(_read, "/api/v1/query", wrapper + statement);
                await AssertRefused(TestServer.AdminToken, "/api/v1/query", wrapper + statement);
                attempts += 2;
            }
        }

        foreach (var statement in RefusedToAll)
        {
            foreach (var token in tokens)
            {
                await AssertRefused(token, "/api/v1/query", statement);
                await AssertRefused(token, "/api/v1/query", "EXPLAIN ANALYZE " + statement);
                attempts += 2;
            }
        }

        Assert.True(attempts > 2000, $"{attempts} attempts");
        Assert.Equal(before, await Snapshot());
        Assert.False(Directory.Exists(Path.Combine(_server.DataPath, "beta", "x")), "EXPORT DATABASE created its directory");

        // No pooled connection carries another search path: a token scoped to 'default' never reaches beta's 'secret'.
        for (var i = 0; i < _server.Config.Engine.QueryConnections * 3; i++)
        {
            var (status, body) = await Query(_default, "/api/v1/query", "SELECT * FROM secret", "default");
            Assert.True(status is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden, $"{(int)status} {body}");
            Assert.DoesNotContain("zebra", body, StringComparison.Ordinal);
        }

        var restarted = await _server.RestartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false } });
        _server = restarted;
        Assert.Equal(before.Data, (await Snapshot()).Data);
    }

    [Fact]
    public async Task NonAdminTokensSeeNeitherTheCatalogNorFilesAndAdminsDo()
    {
        foreach (var sql in CatalogReads)
        {
            foreach (var (token, database) in new[] { (_read, "alpha"), (_readWrite, "default"), (_alpha, "alpha") })
            {
                foreach (var endpoint in Endpoints)
                {
                    var (status, body) = await Query(token, endpoint, sql, database);
                    Assert.True(status is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden, $"{endpoint} {sql}: {(int)status} {body}");
                    Assert.DoesNotContain("zebra", body, StringComparison.Ordinal);
                    if (!sql.Contains("{root}", StringComparison.Ordinal))
                    {
                        Assert.DoesNotContain(_server.DataPath, body, StringComparison.Ordinal);
                    }
                }
            }
        }

        // An admin without a database scope may read the catalog and files under the storage root.
        foreach (var sql in new[] { "FROM duckdb_views", "SHOW ALL TABLES", "FROM information_schema.tables", "FROM duckdb_settings()",
                     "SELECT current_setting('memory_limit')", $"SELECT count(*) FROM read_parquet('{_server.DataPath}/beta/secret/*/*/*/*/*.parquet')" })
        {
            var (status, body) = await Query(TestServer.AdminToken, "/api/v1/query", sql, "alpha");
            Assert.True(status == HttpStatusCode.OK, $"{sql}: {(int)status} {body}");
        }
    }

    [Fact]
    public async Task ScopedTokensKeepEverythingLegitimate()
    {
        string[] allowed =
        [
            "SELECT count(*) FROM cpu",
            "SELECT count(*) FROM alpha.cpu",
            "SELECT count(*) FROM ALPHA.CPU",
            "SELECT count(*) FROM memory.alpha.cpu",
            "DESCRIBE cpu",
            "SUMMARIZE cpu",
            "SHOW cpu",
            "EXPLAIN SELECT * FROM cpu",
            "EXPLAIN ANALYZE SELECT count(*) FROM cpu",
            "EXPLAIN (FORMAT json) SELECT * FROM cpu",
            "WITH t AS (SELECT * FROM cpu) SELECT count(*) FROM t",
            "WITH a AS (SELECT 1 AS n), b AS (SELECT * FROM a) SELECT * FROM b",
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT count(*) FROM t",
            "SELECT time_bucket(INTERVAL 1 HOUR, time) AS h, avg(v), random() FROM cpu GROUP BY h",
            "SELECT * FROM range(3) r, generate_series(1, 2) g",
            "SELECT list_transform([1, 2], x -> x + 1), unnest([1, 2]), row_number() OVER (), sum(1) OVER ()",
            "PIVOT cpu ON host IN ('a') USING sum(v)",
            "SHOW TABLES",
            "SHOW DATABASES",
        ];
        foreach (var sql in allowed)
        {
            var (status, body) = await Query(_alpha, "/api/v1/query", sql, "alpha");
            Assert.True(status == HttpStatusCode.OK, $"{sql}: {(int)status} {body}");
        }

        foreach (var sql in new[] { "SELECT * FROM beta.secret", "SELECT * FROM Beta.Secret", "SELECT * FROM memory.beta.secret",
                     "SELECT * FROM \"BETA\".secret", "WITH x AS (SELECT 1) SELECT * FROM beta.secret" })
        {
            var (status, body) = await Query(_alpha, "/api/v1/query", sql, "alpha");
            Assert.True(status == HttpStatusCode.Forbidden, $"{sql}: {(int)status} {body}");
        }
    }

    [Theory]
    [InlineData("EXPLAIN ANALYZE ")]
    [InlineData("EXPLAIN (ANALYZE, FORMAT json) ")]
    [InlineData("EXPLAIN (ANALYZE, FORMAT html) ")]
    [InlineData("EXPLAIN (ANALYZE, FORMAT graphviz) ")]
    public async Task ExplainAnalyzeShowsTheFilesReadWithoutTheDataDirectoryToNonAdminTokens(string explain)
    {
        // EXPLAIN ANALYZE names the files it read; DuckDB's text format wraps them over the lines of the operator's box,
        // so each box column is read top to bottom, spaces left out, as a person reads it. (Its yaml format has no ANALYZE:
        // DuckDB answers "No mapping from ExplainFormat::YAML to ProfilerPrintFormat", and a plain EXPLAIN reads no file.)
        var root = _server.DataPath.Replace(" ", "", StringComparison.Ordinal);
        foreach (var token in new[] { _alpha, _read, _readWrite })
        {
            var (status, body) = await Query(token, "/api/v1/query", explain + "SELECT count(*) FROM cpu", "alpha");
            Assert.True(status == HttpStatusCode.OK, $"{(int)status} {body}");
            var plan = Readable(body);
            Assert.DoesNotContain(root, plan, StringComparison.Ordinal);
            Assert.Contains("<data>/alpha/cpu/2023/11/14/22/", plan, StringComparison.Ordinal);
        }

        var (adminStatus, adminBody) = await Query(TestServer.AdminToken, "/api/v1/query", explain + "SELECT count(*) FROM cpu", "alpha");
        Assert.Equal(HttpStatusCode.OK, adminStatus);
        Assert.Contains(root + "/alpha/cpu/2023/11/14/22/", Readable(adminBody), StringComparison.Ordinal);

        static string Readable(string body)
        {
            using var json = JsonDocument.Parse(body);
            var text = json.RootElement.GetProperty("data")[0][1].GetString()!;
            if (!text.Contains('┌', StringComparison.Ordinal))
            {
                return text;
            }

            var lines = text.Split('\n');
            var columns = new StringBuilder();
            for (var start = 0; start < lines.Max(l => l.Length); start += 29)
            {
                foreach (var line in lines.Where(l => l.Length > start))
                {
                    columns.Append(line.AsSpan(start, Math.Min(29, line.Length - start)).ToString().Replace(" ", "", StringComparison.Ordinal).Trim('│'));
                }

                columns.Append('\n');
            }

            return columns.ToString();
        }
    }

    /// <summary>
    /// DuckDB's errors name files by absolute path; a file gone from under the server (removed by hand) fails the query
    /// with its path, which only an unrestricted admin reads whole.
    /// </summary>
    [Fact]
    public async Task ErrorsShowTheDataDirectoryOnlyToAnUnrestrictedAdmin()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { HotDataBytes = 0 }); // the file is read, not memory
        var read = await server.CreateTokenAsync("read", ["read"]);
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=gone", "cpu,host=a v=1 1700000000000000000\n")).StatusCode);
        await server.Server.Engine.FlushAsync();
        File.Delete(Assert.Single(server.ParquetFiles()));

        foreach (var (token, sees) in new[] { (read, false), (TestServer.AdminToken, true) })
        {
            var (status, body) = await Query(server, token, "/api/v1/query", "SELECT count(*) FROM cpu", "gone");
            Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {body}");
            Assert.Equal(sees, body.Contains(server.DataPath, StringComparison.Ordinal));
            Assert.Equal(!sees, body.Contains("<data>/gone/cpu/2023/11/14/22/", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("setseed(0.5) IS NULL", "setseed")]
    [InlineData("getvariable('x') IS NULL", "getvariable")]
    [InlineData("current_setting('allowed_directories') IS NULL", "current_setting")]
    [InlineData("pg_get_viewdef(1) IS NULL", "pg_get_viewdef")]
    public async Task MeasurementFiltersCallOnlyAllowedFunctions(string where, string function)
    {
        using var client = _server.NewClient(_read);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/query/cpu?where={Uri.EscapeDataString(where)}");
        request.Headers.Add("x-arc-database", "alpha");
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {body}");
        Assert.Contains($"function {function}()", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HugeQueriesAreRefusedBeforeDuckDbPlansThem()
    {
        // A 20,000-branch UNION took DuckDB 79 s and 7.5 GB to plan and start (its planner cannot be interrupted).
        var union = string.Join(" UNION ALL ", Enumerable.Repeat("SELECT 1", 20_000));
        var clock = Stopwatch.StartNew();
        var (status, body) = await Query(_read, "/api/v1/query", union, "alpha");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("query.max_query_blocks", body, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"answered after {clock.Elapsed}");

        var huge = "SELECT '" + new string('x', (1 << 20) + 1) + "'";
        (status, body) = await Query(_read, "/api/v1/query", huge, "alpha");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("query.max_sql_length", body, StringComparison.Ordinal);

        (status, body) = await Query(_read, "/api/v1/query", "SELECT " + string.Join('+', Enumerable.Repeat("1", 5000)), "alpha");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("expression depth", body, StringComparison.Ordinal);

        // Still serving.
        Assert.Equal(HttpStatusCode.OK, (await Query(_read, "/api/v1/query", "SELECT 1", "alpha")).Status);
    }

    [Fact]
    public async Task DuckDbMemoryAndSpillingAreBoundedAndExceedingThemIsACleanError()
    {
        // The default: half of the memory available to the process (DuckDB's own default is 80%).
        var limit = (await _server.RowsAsync("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"))[0][0];
        var expected = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2.0 / (1L << 30);
        Assert.True(limit.EndsWith(" GiB", StringComparison.Ordinal) &&
                    Math.Abs(double.Parse(limit[..^4], System.Globalization.CultureInfo.InvariantCulture) - expected) < 0.1, $"{limit} vs {expected:0.0} GiB");

        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with
        {
            DuckDbMemoryLimit = "64MB",
            DuckDbMaxTempDirectorySize = "1MB",
        });
        foreach (var sql in new[]
                 {
                     "SELECT length(string_agg(i::VARCHAR, ',')) FROM range(30000000) t(i)",
                     "SELECT count(*) FROM (SELECT DISTINCT i::VARCHAR || 'x' FROM range(20000000) t(i))",
                 })
        {
            var (status, body) = await server.QueryAsync(sql);
            Assert.True(status == 400, $"{sql}: {status} {body}");
            Assert.Contains("Out of Memory", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal([["1"]], await server.RowsAsync("SELECT 1"));
    }

    [Fact]
    public async Task TheTimeLimitCoversPlanning()
    {
        // Without the block limit, the same UNION is stopped by query.timeout although DuckDB spends it binding and planning.
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { MaxQueryBlocks = 100_000, QueryTimeout = TimeSpan.FromSeconds(1) });
        var clock = Stopwatch.StartNew();
        var (status, body) = await server.QueryAsync(string.Join(" UNION ALL ", Enumerable.Repeat("SELECT 1", 20_000)));
        Assert.Equal(400, status);
        Assert.Contains("query.timeout", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"answered after {clock.Elapsed}");
        Assert.Equal([["1"]], await server.RowsAsync("SELECT 1"));
    }

    private async Task AssertRefused(string token, string endpoint, string sql)
    {
        var (status, body) = await Query(token, endpoint, sql, "alpha");
        Assert.True((int)status is >= 400 and < 500 and not 401, $"{endpoint} {sql}: {(int)status} {body}");
    }

    private Task<(HttpStatusCode Status, string Body)> Query(string token, string endpoint, string sql, string database) =>
        Query(_server, token, endpoint, sql, database);

    private static async Task<(HttpStatusCode Status, string Body)> Query(TestServer server, string token, string endpoint, string sql, string database)
    {
        using var client = server.NewClient(token);
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint)
        {
            Content = new StringContent(TestServer.SqlBody(sql.Replace("{root}", server.DataPath, StringComparison.Ordinal)), Encoding.UTF8,
                "application/json"),
        };
        request.Headers.Add("x-arc-database", database);
        using var response = await client.SendAsync(request);
        return (response.StatusCode, Encoding.UTF8.GetString(await response.Content.ReadAsByteArrayAsync()));
    }

    private sealed record State(string Files, string Views, string Data, string Logs)
    {
        public override string ToString() => $"{Files}\n{Views}\n{Data}\n{Logs}";
    }

    /// <summary>Everything an attack could have changed: the files under the data path, the views' SQL, the rows, DuckDB's log.</summary>
    private async Task<State> Snapshot()
    {
        var files = string.Join('\n', Directory.GetFileSystemEntries(_server.Root, "*", SearchOption.AllDirectories)
            .Where(p => !p.Contains("/.tmp/", StringComparison.Ordinal) && !p.Contains("/auth/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(p => File.Exists(p) ? $"{p} {new FileInfo(p).Length} {File.GetLastWriteTimeUtc(p):O}" : p));
        var views = Rows(await _server.RowsAsync("SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY ALL"));
        var data = Rows(await _server.RowsAsync(
            "SELECT (SELECT count(*) FROM alpha.cpu), (SELECT count(*) FROM alpha.cpu WHERE host <> 'a'), (SELECT count(*) FROM beta.secret), " +
            "(SELECT count(*) FROM victim.m), (SELECT count(*) FROM prod.x), (SELECT count(*) FROM \"default\".mem)"));
        var logs = Rows(await _server.RowsAsync("SELECT count(*) FROM duckdb_logs"));
        return new State(files, views, data, logs);

        static string Rows(List<string[]> rows) => string.Join('\n', rows.Select(r => string.Join('|', r)));
    }
}

using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>
/// Arc's bulk imports (<c>/api/v1/import/{lp,csv,parquet}</c>) through a real server, with the multipart body Basekick's
/// <c>tsm2arc</c> builds (Go's <c>multipart.Writer.CreateFormFile("file", ...)</c>, gzip, <c>x-arc-database</c>,
/// <c>Expect: 100-continue</c>); every import is read back by a query and compared exactly.
/// </summary>
[LongRunning(18)]
public sealed class ImportTests
{
    private const string Boundary = "4b9d7a1e2f0c6d8e3a5b7c9d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d";

    [Fact]
    public async Task LineProtocolImportAsTsm2arcSendsIt()
    {
        await using var server = await TestServer.StartAsync();
        var lp = new StringBuilder();
        for (var i = 0; i < 1000; i++)
        {
            lp.Append(System.Globalization.CultureInfo.InvariantCulture, $"cpu,host=h{i % 3} usage={i}.5,n={i}i {1_700_000_000_000_000_000L + i * 1_000_000_000L}\n");
        }

        lp.Append("mem,host=h0 free=7i 1700000000000000000\n");
        using var response = await PostAsync(server, "/api/v1/import/lp?precision=ns", Gzip(lp.ToString()), "chunk.lp.gz", database: "migrated");
        var body = await JsonAsync(response, HttpStatusCode.OK);
        Assert.Equal("ok", body.GetProperty("status").GetString());
        var result = body.GetProperty("result");
        Assert.Equal("migrated", result.GetProperty("database").GetString());
        Assert.Equal(["cpu", "mem"], result.GetProperty("measurements").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(1001, result.GetProperty("rows_imported").GetInt64());
        Assert.Equal("ns", result.GetProperty("precision").GetString());
        Assert.Equal(0, result.GetProperty("rows_rejected").GetInt64());
        Assert.True(result.GetProperty("duration_ms").GetInt64() >= 0);

        Assert.Equal([["1000", "500000", "499500", "3"]],
            await server.RowsAsync("SELECT count(*), sum(usage), sum(n), count(DISTINCT host) FROM cpu", "migrated"));
        Assert.Equal([["h0", "7", "2023-11-14T22:13:20Z"]],
            await server.RowsAsync("SELECT host, free, strftime(time, '%Y-%m-%dT%H:%M:%SZ') FROM mem", "migrated"));
    }

    [Fact]
    public async Task LineProtocolImportKeepsGoodLinesAndReportsTheBadOnesWithTheirPositions()
    {
        await using var server = await TestServer.StartAsync();
        const string lp = "m v=1 1000\nm v= 2000\nm v=3 3000\nm v=\"text\" 4000\n";
        using var response = await PostAsync(server, "/api/v1/import/lp?db=p&precision=s", Encoding.UTF8.GetBytes(lp), "data.lp");
        var result = (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result");
        Assert.Equal(2, result.GetProperty("rows_imported").GetInt64());
        Assert.Equal(2, result.GetProperty("rows_rejected").GetInt64());
        var errors = result.GetProperty("errors").EnumerateArray().ToList();
        Assert.Equal([2L, 4L], errors.Select(e => e.GetProperty("line").GetInt64()));
        Assert.Equal(3, errors[1].GetProperty("column").GetInt32());
        Assert.Equal([["1", "1000"], ["3", "3000"]], await server.RowsAsync("SELECT v, epoch(time)::BIGINT FROM m ORDER BY time", "p"));
    }

    [Fact]
    public async Task LineProtocolImportTakesZstdAndAMeasurementFilter()
    {
        await using var server = await TestServer.StartAsync();
        const string lp = "keep v=1i 1\nskip v=2i 2\nkeep v=3i 3\n";
        var zstd = CompressedBodyTests.Compress("zstd", Encoding.UTF8.GetBytes(lp));
        using var response = await PostAsync(server, "/api/v1/import/lp?measurement=keep", zstd, "data.lp.zst", database: "z");
        var result = (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result");
        Assert.Equal(2, result.GetProperty("rows_imported").GetInt64());
        Assert.Equal(1, result.GetProperty("rows_skipped").GetInt64());
        Assert.Equal([["2", "4"]], await server.RowsAsync("SELECT count(*), sum(v) FROM keep", "z"));
        Assert.Equal([["0"]], await server.RowsAsync("SELECT count(*) FROM (SHOW TABLES) WHERE name = 'skip'", "z"));

        using var none = await PostAsync(server, "/api/v1/import/lp?measurement=other", zstd, "data.lp.zst", database: "z");
        Assert.Contains("no records found for measurement 'other'", (await JsonAsync(none, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task CsvColumnsAreTypedAsArcInfersThem()
    {
        await using var server = await TestServer.StartAsync();
        const string csv = "\uFEFFtime,host,count,ratio,up,note,empty\n" +
                           "2024-01-01T00:00:00Z,a,1,0.5,true,\"hello, world\",\n" +
                           "2024-01-01 00:30:00.123456789,b,,2,false,\"say \"\"hi\"\"\",\n" +
                           "1704070800,c,-3,1e3,1,plain,\n";
        using var response = await PostAsync(server, "/api/v1/import/csv?measurement=readings", Encoding.UTF8.GetBytes(csv), "readings.csv",
            database: "csvdb");
        var result = (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result");
        Assert.Equal("readings", result.GetProperty("measurement").GetString());
        Assert.Equal(3, result.GetProperty("rows_imported").GetInt64());
        Assert.Equal(2, result.GetProperty("partitions_created").GetInt32());
        Assert.Equal("2024-01-01T00:00:00Z", result.GetProperty("time_range_min").GetString());
        Assert.Equal("2024-01-01T01:00:00Z", result.GetProperty("time_range_max").GetString());
        Assert.Equal(["time", "host", "count", "ratio", "up", "note", "empty"],
            result.GetProperty("columns").EnumerateArray().Select(c => c.GetString()));

        Assert.Equal([["VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "VARCHAR", "VARCHAR"]],
            await server.RowsAsync("SELECT typeof(host), typeof(count), typeof(ratio), typeof(up), typeof(note), typeof(empty) FROM readings LIMIT 1", "csvdb"));
        Assert.Equal(
            [
                ["1704067200000000000", "a", "1", "0.5", "true", "hello, world", ""],
                ["1704069000123456789", "b", "null", "2", "false", "say \"hi\"", ""],
                ["1704070800000000000", "c", "-3", "1000", "true", "plain", ""],
            ],
            await server.RowsAsync("SELECT epoch_ns(time)::VARCHAR, host, count, ratio, up, note, empty FROM readings ORDER BY time", "csvdb"));
    }

    [Fact]
    public async Task CsvRejectsBadRowsWithTheirLineAndKeepsTheGoodOnes()
    {
        await using var server = await TestServer.StartAsync();
        // v exists as an integer: the file's values are read as integers, so 3.5 is refused (inference alone would make v a float).
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=rej&precision=ms", "m v=0i 0\n")).StatusCode);
        const string csv = "time,v,label\n" +
                           "1000,1,\"two\nlines\"\n" +   // record on lines 2-3
                           "not-a-time,2,x\n" +          // line 4: bad time
                           "3000,3.5,x\n" +              // line 5: not an integer
                           "4000,4,x,extra\n" +          // line 6: too many fields
                           "5000,5\n";                   // line 7: missing trailing field (null)
        using var response = await PostAsync(server, "/api/v1/import/csv?db=rej&measurement=m&time_format=epoch_ms",
            Encoding.UTF8.GetBytes(csv), "m.csv");
        var result = (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result");
        Assert.Equal(2, result.GetProperty("rows_imported").GetInt64());
        Assert.Equal(3, result.GetProperty("rows_rejected").GetInt64());
        var errors = result.GetProperty("errors").EnumerateArray()
            .Select(e => (e.GetProperty("line").GetInt64(), e.GetProperty("column").GetInt32(), e.GetProperty("message").GetString()!)).ToList();
        Assert.Equal([4L, 5L, 6L], errors.Select(e => e.Item1));
        Assert.Equal([1, 2, 4], errors.Select(e => e.Item2));
        Assert.Contains("not-a-time", errors[0].Item3);
        Assert.Contains("column 'v': '3.5' is not an integer", errors[1].Item3);
        Assert.Equal("the record has 4 fields, the header 3", errors[2].Item3);
        Assert.Equal([["0", "null"], ["1", "two\nlines"], ["5", "null"]], await server.RowsAsync("SELECT v, label FROM m ORDER BY time", "rej"));
    }

    [Fact]
    public async Task CsvTakesArcsOptionsAndTagColumns()
    {
        await using var server = await TestServer.StartAsync();
        const string csv = "exported by tool\nversion 2\nts;site;temp\n1700000000000;north;20.5\n1700000001000;south;21\n";
        using var response = await PostAsync(server,
            "/api/v1/import/csv?db=opts&measurement=weather&time_column=ts&time_format=epoch_ms&delimiter=;&skip_rows=2&tag_columns=site",
            Encoding.UTF8.GetBytes(csv), "w.csv");
        var result = (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result");
        Assert.Equal(["time", "site", "temp"], result.GetProperty("columns").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal([["1700000000000", "north", "20.5"], ["1700000001000", "south", "21"]],
            await server.RowsAsync("SELECT epoch_ms(time), site, temp FROM weather ORDER BY time", "opts"));
        await server.Server.Engine.FlushAsync();
        var file = Assert.Single(server.ParquetFiles());
        var tags = TestServer.ReadParquet($"SELECT decode(value) FROM parquet_kv_metadata('{file}') WHERE decode(key) = 'arc_tags'");
        Assert.Equal("[\"site\"]", Assert.Single(tags)[0]);
    }

    [Fact]
    public async Task ParquetImportKeepsItsColumnTypes()
    {
        await using var server = await TestServer.StartAsync();
        var file = Path.Combine(server.Root, "source.parquet");
        TestServer.ReadParquet($"""
            COPY (SELECT * FROM (VALUES
                (TIMESTAMP '2024-03-01 10:00:00.123456', 7::INTEGER, 9000000000::BIGINT, 1.25::DOUBLE, 2.5::FLOAT, 'x', true, 18446744073709551615::UBIGINT, 3::TINYINT),
                (TIMESTAMP '2024-03-01 11:30:00', NULL, -1::BIGINT, 0.1::DOUBLE, NULL, NULL, false, 0::UBIGINT, 4::TINYINT))
                AS t(time, i32, i64, d, f, s, b, u, small)) TO '{file}' (FORMAT PARQUET)
            """);
        using var response = await PostAsync(server, "/api/v1/import/parquet?measurement=typed", await File.ReadAllBytesAsync(file), "source.parquet",
            database: "pq");
        var result = (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result");
        Assert.Equal(2, result.GetProperty("rows_imported").GetInt64());
        Assert.Equal("2024-03-01T10:00:00.123456Z", result.GetProperty("time_range_min").GetString());
        Assert.Equal([["TIMESTAMP_NS", "BIGINT", "BIGINT", "DOUBLE", "DOUBLE", "VARCHAR", "BOOLEAN", "UBIGINT", "BIGINT"]],
            await server.RowsAsync("SELECT typeof(time), typeof(i32), typeof(i64), typeof(d), typeof(f), typeof(s), typeof(b), typeof(u), typeof(small) FROM typed LIMIT 1", "pq"));
        Assert.Equal(
            [
                ["1709287200123456000", "7", "9000000000", "1.25", "2.5", "x", "true", "18446744073709551615", "3"],
                ["1709292600000000000", "null", "-1", "0.1", "null", "null", "false", "0", "4"],
            ],
            await server.RowsAsync("SELECT epoch_ns(time)::VARCHAR, i32, i64, d, f, s, b, u::VARCHAR, small FROM typed ORDER BY time", "pq"));
        Assert.Empty(Directory.GetFiles(Path.Combine(server.DataPath, ".tmp"), "import-*"));
    }

    [Fact]
    public async Task ParquetRowsThatCannotBeStoredAreRefusedInRowOrderAndTheRestMatchTheFile()
    {
        // 20,000 rows (three of the reader's 8,192-row batches) of every importable type with nulls, and rows refused for
        // their time (null), text that is not UTF-8 (in the first batch; in the last, two values valid only together), a timestamp past
        // 2262 (nanoseconds overflow) and a decimal beyond .NET's; a row is refused for its first problem in column order.
        await using var server = await TestServer.StartAsync();
        var file = Path.Combine(server.Root, "mixed.parquet");
        TestServer.ReadParquet($"""
            COPY (SELECT
                CASE WHEN i % 997 = 5 THEN NULL ELSE (TIMESTAMP '2024-01-01' + to_milliseconds(i * 1500))::TIMESTAMP_MS END AS time,
                i,
                CASE WHEN i % 17 = 9 THEN NULL ELSE 'ß-' || i END AS s,
                CASE WHEN i < 8192 AND i % 1500 = 7 THEN '\xFF'::BLOB WHEN i = 17000 THEN '\xC3'::BLOB WHEN i = 17001 THEN '\xA9'::BLOB
                     WHEN i % 3 = 0 THEN NULL ELSE encode('b-é-' || i) END AS b,
                CASE WHEN i % 2000 = 11 THEN TIMESTAMP_S '2300-01-01 00:00:00' WHEN i % 4 = 1 THEN NULL
                     ELSE (TIMESTAMP '2020-01-01' + to_minutes(i))::TIMESTAMP_S END AS ts,
                CASE WHEN i % 2500 = 13 THEN 1000000000000000000000000000000::DECIMAL(38,0) WHEN i % 5 = 2 THEN NULL
                     ELSE (i * 1.5)::DECIMAL(38,1) END AS d,
                CASE WHEN i % 7 = 3 THEN NULL ELSE (i % 30000 - 15000)::SMALLINT END AS i16,
                (i * 100000)::UINTEGER AS u32,
                CASE WHEN i % 11 = 4 THEN NULL ELSE (i / 8)::FLOAT END AS f,
                CASE WHEN i % 13 = 6 THEN NULL ELSE i % 2 = 0 END AS bl
            FROM range(20000) t(i)) TO '{file}' (FORMAT PARQUET)
            """);
        static (int Column, string Message)? Refusal(long i) =>
            i % 997 == 5 ? (1, "the time value is null")
            : (i < 8192 && i % 1500 == 7) || i is 17000 or 17001 ? (4, "column 'b': the value is not valid UTF-8")
            : i % 2000 == 11 ? (5, "column 'ts': the value is out of range")
            : i % 2500 == 13 ? (6, "column 'd': the value is out of range")
            : null;
        var refused = Enumerable.Range(0, 20000).Where(i => Refusal(i) is not null).ToList();

        using var response = await PostAsync(server, "/api/v1/import/parquet?measurement=mixed", await File.ReadAllBytesAsync(file), "mixed.parquet",
            database: "pq");
        var result = (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result");
        Assert.Equal(20000 - refused.Count, result.GetProperty("rows_imported").GetInt64());
        Assert.Equal(refused.Count, result.GetProperty("rows_rejected").GetInt64());
        Assert.Equal(refused.Take(100).Select(i => $"{i + 1}/{Refusal(i)!.Value.Column}/{Refusal(i)!.Value.Message}"),
            result.GetProperty("errors").EnumerateArray().Select(e =>
                $"{e.GetProperty("line").GetInt64()}/{e.GetProperty("column").GetInt32()}/{e.GetProperty("message").GetString()}"));
        Assert.True(refused.Count <= 100);
        Assert.Contains(17001, refused); // the two halves of one character are each refused, in a batch whose text is otherwise valid

        // Each row as one text, nulls spelled out (concat_ws skips them): the file's values as stored, through the same casts.
        static string Row(string b, string ts) => "concat_ws('|', " + string.Join(", ",
            new[] { "i", "epoch_ns(time)", "s", b, ts, "d::DOUBLE", "i16::BIGINT", "u32::BIGINT", "f::DOUBLE", "bl" }
                .Select(e => $"coalesce(({e})::VARCHAR, 'NULL')")) + ")";
        var accepted = string.Join(" AND ", "time IS NOT NULL", "NOT (i < 8192 AND i % 1500 = 7)", "i NOT IN (17000, 17001)", "i % 2000 <> 11", "i % 2500 <> 13");
        var expected = TestServer.ReadParquet($"SELECT {Row("decode(b)", "CASE WHEN i % 2000 = 11 THEN NULL ELSE epoch_us(ts) * 1000 END")} FROM read_parquet('{file}') WHERE {accepted} ORDER BY i");
        Assert.Equal(20000 - refused.Count, expected.Count);
        var stored = await server.RowsAsync($"SELECT {Row("b", "ts")} FROM mixed ORDER BY i", "pq");
        Assert.Equal(expected.Select(r => r[0]), stored.Select(r => r[0]));
        Assert.Equal([["BIGINT", "VARCHAR", "BIGINT", "DOUBLE", "BIGINT", "BIGINT", "DOUBLE", "BOOLEAN"]],
            await server.RowsAsync("SELECT typeof(i), typeof(b), typeof(ts), typeof(d), typeof(i16), typeof(u32), typeof(f), typeof(bl) FROM mixed LIMIT 1", "pq"));
    }

    [Fact]
    public async Task ParquetWithoutTheTimeColumnIsRefusedNamingIt()
    {
        await using var server = await TestServer.StartAsync();
        var file = Path.Combine(server.Root, "no-time.parquet");
        TestServer.ReadParquet($"COPY (SELECT 1 AS a, 'b' AS ts) TO '{file}' (FORMAT PARQUET)");
        using var response = await PostAsync(server, "/api/v1/import/parquet?db=pq&measurement=m", await File.ReadAllBytesAsync(file), "f.parquet");
        Assert.Equal("time column 'time' not found in file; available columns: a, ts",
            (await JsonAsync(response, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        // A column the measurement has with another type: refused naming it, nothing stored.
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=pq", "m a=1.5 1\n")).StatusCode);
        var typed = Path.Combine(server.Root, "typed.parquet");
        TestServer.ReadParquet($"COPY (SELECT TIMESTAMP '2024-01-01' AS time, 1 AS a) TO '{typed}' (FORMAT PARQUET)");
        using var conflict = await PostAsync(server, "/api/v1/import/parquet?db=pq&measurement=m", await File.ReadAllBytesAsync(typed), "t.parquet");
        Assert.Contains("column 'a'", (await JsonAsync(conflict, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        Assert.Equal([["1"]], await server.RowsAsync("SELECT count(*) FROM m", "pq"));

        using var garbage = await PostAsync(server, "/api/v1/import/parquet?db=pq&measurement=m", "not parquet"u8.ToArray(), "f.parquet");
        Assert.Contains("not a readable Parquet file", (await JsonAsync(garbage, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task ImportsNeedTheWritePermissionAndTheDatabase()
    {
        await using var server = await TestServer.StartAsync();
        using var created = await server.Client.PostAsync("/api/v1/auth/tokens",
            new StringContent("{\"name\":\"reader\",\"permissions\":[\"read\"]}", Encoding.UTF8, "application/json"));
        var token = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString();
        using var reader = server.NewClient(token);
        foreach (var format in new[] { "lp", "csv", "parquet" })
        {
            using var request = Request($"/api/v1/import/{format}?db=x&measurement=m", "m v=1 1\n"u8.ToArray(), "f");
            using var response = await reader.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        using var stats = await reader.GetAsync("/api/v1/import/stats");
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);

        using var noDatabase = await PostAsync(server, "/api/v1/import/lp", "m v=1 1\n"u8.ToArray(), "f");
        Assert.Equal("database is required (set x-arc-database header or db query param)",
            (await JsonAsync(noDatabase, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        using var noMeasurement = await PostAsync(server, "/api/v1/import/csv?db=x", "time,v\n1,2\n"u8.ToArray(), "f");
        Assert.Equal("measurement query parameter is required", (await JsonAsync(noMeasurement, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        using var notMultipart = await server.Client.PostAsync("/api/v1/import/lp?db=x", new ByteArrayContent("m v=1 1\n"u8.ToArray()));
        Assert.Equal("no file uploaded: use multipart/form-data with field name 'file'",
            (await JsonAsync(notMultipart, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task EverySizeIsBoundedAndTheAnswerNamesTheLimit()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with
        {
            Writes = c.Engine.Writes with { MaxImportBytes = 64 * 1024, MaxImportColumns = 3, MaxLineLength = 1024 },
        });
        var big = new StringBuilder();
        for (var i = 0; big.Length < 100 * 1024; i++)
        {
            big.Append(System.Globalization.CultureInfo.InvariantCulture, $"m v={i} {i + 1}\n");
        }

        using var tooBig = await PostAsync(server, "/api/v1/import/lp?db=lim", Encoding.UTF8.GetBytes(big.ToString()), "f.lp");
        Assert.Contains("import.max_file_size (65536 bytes)", (await JsonAsync(tooBig, HttpStatusCode.RequestEntityTooLarge)).GetProperty("error").GetString());

        using var bomb = await PostAsync(server, "/api/v1/import/lp?db=lim", Gzip(big.ToString()), "f.lp.gz");
        Assert.Contains("import.max_file_size", (await JsonAsync(bomb, HttpStatusCode.RequestEntityTooLarge)).GetProperty("error").GetString());

        using var wide = await PostAsync(server, "/api/v1/import/csv?db=lim&measurement=m", "time,a,b,c\n1,2,3,4\n"u8.ToArray(), "f.csv");
        Assert.Equal("the file has 4 columns, more than import.max_columns (3)",
            (await JsonAsync(wide, HttpStatusCode.BadRequest)).GetProperty("error").GetString());

        var longLine = "time,v\n1,1\n2," + new string('9', 5000) + "\n";
        using var tooLong = await PostAsync(server, "/api/v1/import/csv?db=lim&measurement=m", Encoding.UTF8.GetBytes(longLine), "f.csv");
        var message = (await JsonAsync(tooLong, HttpStatusCode.RequestEntityTooLarge)).GetProperty("error").GetString();
        Assert.Contains("line 3 is longer than ingest.max_line_length (1024 bytes)", message);
        Assert.Contains("the first 1 rows were stored", message);

        var parquet = new byte[100 * 1024];
        using var bigParquet = await PostAsync(server, "/api/v1/import/parquet?db=lim&measurement=m", parquet, "f.parquet");
        Assert.Contains("import.max_file_size", (await JsonAsync(bigParquet, HttpStatusCode.RequestEntityTooLarge)).GetProperty("error").GetString());
        Assert.Empty(Directory.GetFiles(Path.Combine(server.DataPath, ".tmp"), "import-*"));
    }

    [Fact]
    public async Task StatsShowARunningImportsProgress()
    {
        await using var server = await TestServer.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var content = new StreamedFile("f.lp", async stream =>
        {
            var lines = new StringBuilder();
            for (var i = 0; i < 20_000; i++)
            {
                lines.Append(System.Globalization.CultureInfo.InvariantCulture, $"prog v={i}i {i + 1}\n");
            }

            await stream.WriteAsync(Encoding.UTF8.GetBytes(lines.ToString()));
            await stream.FlushAsync();
            await release.Task;
            await stream.WriteAsync("prog v=-1i 0\n"u8.ToArray());
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/import/lp?db=prog") { Content = content };
        var sending = server.Client.SendAsync(request);

        JsonElement running = default;
        for (var attempt = 0; attempt < 600; attempt++)
        {
            var stats = JsonDocument.Parse(await server.Client.GetStringAsync("/api/v1/import/stats")).RootElement;
            Assert.Equal("success", stats.GetProperty("status").GetString());
            var list = stats.GetProperty("stats").GetProperty("running").EnumerateArray().ToList();
            if (list.Count == 1 && list[0].GetProperty("rows_imported").GetInt64() > 0)
            {
                running = list[0];
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal(JsonValueKind.Object, running.ValueKind);
        Assert.Equal("lp", running.GetProperty("format").GetString());
        Assert.Equal("prog", running.GetProperty("database").GetString());
        Assert.True(running.GetProperty("bytes_read").GetInt64() > 0);
        Assert.InRange(running.GetProperty("rows_imported").GetInt64(), 1, 20_000);
        release.SetResult();

        using var response = await sending;
        Assert.Equal(20_001, (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result").GetProperty("rows_imported").GetInt64());
        var after = JsonDocument.Parse(await server.Client.GetStringAsync("/api/v1/import/stats")).RootElement.GetProperty("stats");
        Assert.Equal(1, after.GetProperty("total_requests").GetInt64());
        Assert.Equal(20_001, after.GetProperty("total_records").GetInt64());
        Assert.Equal(0, after.GetProperty("total_errors").GetInt64());
        Assert.Empty(after.GetProperty("running").EnumerateArray());
    }

    [Fact]
    public async Task AHugeLineProtocolFileStreamsThroughTheWriteBudget()
    {
        const long budget = 48L << 20;
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { MaxBufferMemory = budget });
        const int lines = 2_500_000; // about 200 MB
        long sent = 0;
        var content = new StreamedFile("big.lp", async stream =>
        {
            var chunk = new StringBuilder();
            for (var i = 0; i < lines; i++)
            {
                chunk.Append(System.Globalization.CultureInfo.InvariantCulture,
                    $"big,host=server-{i % 100:D3},region=eu-west-{i % 4} usage_user={i % 1000}.25,usage_system={i % 77}.5,count={i}i {1_700_000_000_000_000_000L + i * 1_000_000L}\n");
                if (chunk.Length > 256 * 1024 || i == lines - 1)
                {
                    var bytes = Encoding.UTF8.GetBytes(chunk.ToString());
                    sent += bytes.Length;
                    await stream.WriteAsync(bytes);
                    chunk.Clear();
                }
            }
        });

        long peak = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, server.Server.Engine.BufferedBytes);
                await Task.Delay(5);
            }
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/import/lp?db=big") { Content = content };
        using var client = server.NewClient(TestServer.AdminToken);
        client.Timeout = TimeSpan.FromMinutes(10);
        using var response = await client.SendAsync(request);
        await sampling.CancelAsync();
        await sampler;

        Assert.True(sent > 190_000_000, $"{sent} bytes sent");
        Assert.Equal(lines, (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("result").GetProperty("rows_imported").GetInt64());
        // The buffers never held more than the budget plus the part being committed (a bulk body commits every max_buffer_size rows).
        Assert.True(peak < budget + (32L << 20), $"peak buffered {peak} bytes with a budget of {budget}");
        Assert.Equal([[lines.ToString(System.Globalization.CultureInfo.InvariantCulture), "100", ((long)lines * (lines - 1) / 2).ToString(System.Globalization.CultureInfo.InvariantCulture)]],
            await server.RowsAsync("SELECT count(*), count(DISTINCT host), sum(count)::VARCHAR FROM big", "big"));
    }

    internal static async Task<HttpResponseMessage> PostAsync(TestServer server, string path, byte[] file, string fileName, string? database = null)
    {
        using var request = Request(path, file, fileName);
        if (database is not null)
        {
            request.Headers.Add("x-arc-database", database);
        }

        return await server.Client.SendAsync(request);
    }

    /// <summary>What tsm2arc sends: Go's multipart writer with one form file, and <c>Expect: 100-continue</c>.</summary>
    private static HttpRequestMessage Request(string path, byte[] file, string fileName)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(Multipart(file, fileName)) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        request.Headers.ExpectContinue = true;
        return request;
    }

    private static byte[] Multipart(byte[] file, string fileName)
    {
        using var body = new MemoryStream();
        body.Write(Encoding.ASCII.GetBytes(Head(fileName)));
        body.Write(file);
        body.Write(Encoding.ASCII.GetBytes(Tail));
        return body.ToArray();
    }

    private static string Head(string fileName) =>
        $"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{fileName}\"\r\nContent-Type: application/octet-stream\r\n\r\n";

    private const string Tail = $"\r\n--{Boundary}--\r\n";

    private static byte[] Gzip(string text)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>A multipart body whose file part is written by a callback as the request goes out (chunked, never held whole).</summary>
    private sealed class StreamedFile : HttpContent
    {
        private readonly string _fileName;
        private readonly Func<Stream, Task> _writeFile;

        public StreamedFile(string fileName, Func<Stream, Task> writeFile)
        {
            _fileName = fileName;
            _writeFile = writeFile;
            Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(Head(_fileName)));
            await _writeFile(stream);
            await stream.WriteAsync(Encoding.ASCII.GetBytes(Tail));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

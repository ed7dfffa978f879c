using System.Text.Json;
using static Arc.Native.Tests.QueryOutputHelpers;

namespace Arc.Native.Tests;

public sealed class MsgPackOutputTests(QueryOutputFixture fixture) : IClassFixture<QueryOutputFixture>
{
    private const string Path = "/api/v1/query/msgpack";
    private readonly TestServer _server = fixture.Server;

    private const string ManyRowsSql = """
        SELECT range AS i, 'row ' || range AS s, make_timestamp_ns(range * 1000000001) AS t, CASE WHEN range % 7 = 0 THEN NULL ELSE range * 0.5 END AS f
        FROM range(10000) ORDER BY range
        """;

    [Fact]
    public async Task EveryColumnTypeHasArcsTypeNameAndValue()
    {
        var (status, body, response) = await PostAsync(_server, Path, AllTypesSql);
        Assert.Equal(200, status);
        Assert.Equal("application/msgpack", response.Content.Headers.ContentType!.MediaType);
        var document = DecodeMsgPack(body);
        Assert.Equal(["success", "columns", "types", "data", "row_count", "execution_time_ms"],
            ((List<KeyValuePair<object?, object?>>)document!).Select(p => (string)p.Key!));
        Assert.Equal(true, Get(document, "success"));
        Assert.Equal(1L, Get(document, "row_count"));
        Assert.IsType<double>(Get(document, "execution_time_ms"));

        var columns = List(Get(document, "columns")).Cast<string>().ToList();
        var types = List(Get(document, "types")).Cast<string>().ToList();
        var data = List(Get(document, "data"));
        Assert.Equal(columns.Count, data.Count);
        Assert.All(data, column => Assert.Single(List(column)));
        var column = columns.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => (Type: types[p.i], Value: List(data[p.i])[0]));

        Assert.Equal(("bool", (object?)true), column["b"]);
        Assert.Equal(("int8", (object?)1L), column["i8"]);
        Assert.Equal(("int16", (object?)-2L), column["i16"]);
        Assert.Equal(("int32", (object?)3L), column["i32"]);
        Assert.Equal(("int64", (object?)long.MaxValue), column["i64"]);
        Assert.Equal(("uint8", (object?)255L), column["u8"]);
        Assert.Equal(("uint16", (object?)65535L), column["u16"]);
        Assert.Equal(("uint32", (object?)4294967295L), column["u32"]);
        Assert.Equal(("uint64", (object?)ulong.MaxValue), column["u64"]);
        Assert.Equal(("int64", (object?)1.7014118346046923E+38), column["i128"]); // past 64 bits: the nearest float64
        Assert.Equal("float32", column["f32"].Type);
        Assert.Equal(1.5f, Assert.IsType<float>(column["f32"].Value));
        Assert.Equal("float64", column["f64"].Type);
        Assert.True(double.IsNaN((double)column["f64"].Value!));
        Assert.Equal(("float64", (object?)123.45), column["dec"]);
        Assert.Equal(("int64", (object?)42L), column["dec0"]);
        Assert.Equal(("utf8", (object?)"é\",x\ny"), column["s"]);
        Assert.Equal("binary", column["bin"].Type);
        Assert.Equal(new byte[] { 0xAA, 0xBB }, (byte[])column["bin"].Value!);
        Assert.Equal(("date32", (object?)new MsgPackTimestamp(1709164800, 0)), column["d"]);
        Assert.Equal(("string_encoded", (object?)"13:45:01.5"), column["t"]);
        Assert.Equal(("timestamp[us]", (object?)new MsgPackTimestamp(1704164645, 123456000)), column["ts"]);
        Assert.Equal(("timestamp[us]", (object?)new MsgPackTimestamp(1704164645, 0)), column["tstz"]);
        Assert.Equal(("timestamp[ns]", (object?)new MsgPackTimestamp(1704164645, 1)), column["tsns"]);
        Assert.Equal(("timestamp[ms]", (object?)new MsgPackTimestamp(1704164645, 120000000)), column["tsms"]);
        Assert.Equal(("timestamp[s]", (object?)new MsgPackTimestamp(-1, 0)), column["tss"]);
        Assert.Equal(("string_encoded", (object?)"P1M2DT3.5S"), column["iv"]);
        Assert.Equal(("utf8", (object?)"6ba7b810-9dad-11d1-80b4-00c04fd430c8"), column["u"]);
        Assert.Equal("list", column["l"].Type);
        Assert.Equal([1L, null, 3L], List(column["l"].Value));
        Assert.Equal("struct", column["st"].Type);
        Assert.Equal([new KeyValuePair<object?, object?>("a", 1L), new KeyValuePair<object?, object?>("b", "x")],
            (List<KeyValuePair<object?, object?>>)column["st"].Value!);
        Assert.Equal("map", column["m"].Type);
        Assert.Equal([new KeyValuePair<object?, object?>("k", 1L)], (List<KeyValuePair<object?, object?>>)column["m"].Value!);
        Assert.Equal("list", column["arr"].Type);
        Assert.Equal([1L, 2L], List(column["arr"].Value));
        Assert.Equal(("utf8", (object?)"b"), column["e"]);
        Assert.Equal(("int32", (object?)null), column["n"]);
    }

    [Fact]
    public async Task TimestampsUseTheSmallestExtensionForm()
    {
        var (status, body, _) = await PostAsync(_server, Path, """
            SELECT * FROM (VALUES ('1970-01-01 00:00:01'::TIMESTAMP), ('2106-02-07 06:28:15'::TIMESTAMP), ('2023-11-14 22:13:20.000001'::TIMESTAMP),
                                  ('2514-05-30 01:53:03.999999'::TIMESTAMP), ('2514-05-30 01:53:04'::TIMESTAMP), ('1969-12-31 23:59:59.999999'::TIMESTAMP)) AS t(v)
            """);
        Assert.Equal(200, status);
        // timestamp 32 = fixext 4 (d6 ff), timestamp 64 = fixext 8 (d7 ff), timestamp 96 = ext 8 of 12 bytes (c7 0c ff).
        var hex = Convert.ToHexString(body);
        Assert.Contains("D6FF00000001", hex, StringComparison.Ordinal);
        Assert.Contains("D6FFFFFFFFFF", hex, StringComparison.Ordinal);
        Assert.Contains("D7FF", hex, StringComparison.Ordinal);
        Assert.Contains("C70CFF", hex, StringComparison.Ordinal);
        var values = List(List(Get(DecodeMsgPack(body), "data"))[0]);
        Assert.Equal([
            new MsgPackTimestamp(1, 0), new MsgPackTimestamp(uint.MaxValue, 0), new MsgPackTimestamp(1700000000, 1000),
            new MsgPackTimestamp((1L << 34) - 1, 999999000), new MsgPackTimestamp(1L << 34, 0), new MsgPackTimestamp(-1, 999999000),
        ], values.Cast<MsgPackTimestamp>());
    }

    [Fact]
    public async Task ManyChunksAreOneArrayPerColumn()
    {
        var (status, body, _) = await PostAsync(_server, Path, ManyRowsSql);
        Assert.Equal(200, status);
        AssertManyRows(DecodeMsgPack(body));
    }

    private static void AssertManyRows(object? document)
    {
        Assert.Equal(10000L, Get(document, "row_count"));
        Assert.Equal(["int64", "utf8", "timestamp[ns]", "float64"], List(Get(document, "types")).Cast<string>());
        var data = List(Get(document, "data"));
        var (i, s, t, f) = (List(data[0]), List(data[1]), List(data[2]), List(data[3]));
        Assert.Equal(Enumerable.Range(0, 10000).Select(n => (object?)(long)n), i);
        Assert.Equal(Enumerable.Range(0, 10000).Select(n => (object?)$"row {n}"), s);
        Assert.Equal(Enumerable.Range(0, 10000).Select(n => (object?)new MsgPackTimestamp(n + (n / 1_000_000_000), (uint)(n % 1_000_000_000))), t);
        Assert.Equal(Enumerable.Range(0, 10000).Select(n => n % 7 == 0 ? null : (object?)(n * 0.5)), f);
    }

    [Fact]
    public async Task MeasurementRows()
    {
        var (status, body, _) = await PostAsync(_server, Path, "SELECT time, host, count, ok, note FROM cpu WHERE count < 2 ORDER BY time", "metrics");
        Assert.Equal(200, status);
        var document = DecodeMsgPack(body);
        Assert.Equal(["timestamp[ns]", "utf8", "int64", "bool", "utf8"], List(Get(document, "types")).Cast<string>());
        var data = List(Get(document, "data"));
        Assert.Equal([new MsgPackTimestamp(1700000000, 0), new MsgPackTimestamp(1700000001, 1)], List(data[0]).Cast<MsgPackTimestamp>());
        Assert.Equal(["h0", "h1"], List(data[1]).Cast<string>());
        Assert.Equal([0L, 1L], List(data[2]).Cast<long>());
        Assert.Equal([true, false], List(data[3]).Cast<bool>());
        Assert.Equal(["n, \"0\"", "n, \"1\""], List(data[4]).Cast<string>());
    }

    [Fact]
    public async Task EmptyResult()
    {
        var (status, body, _) = await PostAsync(_server, Path, "SELECT host, usage FROM cpu WHERE false", "metrics");
        Assert.Equal(200, status);
        var document = DecodeMsgPack(body);
        Assert.Equal(0L, Get(document, "row_count"));
        Assert.Equal([[], []], List(Get(document, "data")).Select(List));
    }

    [Theory]
    [InlineData("SELEC 1", "syntax error")]
    [InlineData("SELECT * FROM nope", "nope")]
    [InlineData(ArrowOutputTests.FailingSql, "boom")]
    [InlineData("SELECT 1::BIT", "not supported")]
    public async Task ErrorsAreJson400sEvenAfterManyRows(string sql, string message)
    {
        // The result is spooled before the response starts, so even a failure at row 1,000,000 is a clean 400.
        var (status, body, response) = await PostAsync(_server, Path, sql, "metrics");
        Assert.Equal(400, status);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains(message, JsonDocument.Parse(body).RootElement.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task ResultsLargerThanTheSpoolMemorySpillToDiskAndMatch()
    {
        await using var server = await TestServer.StartAsync(c => c.MsgPackSpoolMemoryBytes = 4096);
        var (status, body, _) = await PostAsync(server, Path, ManyRowsSql);
        Assert.Equal(200, status);
        AssertManyRows(DecodeMsgPack(body));
        var spool = System.IO.Path.Combine(server.DataPath, ".tmp", "query");
        Assert.True(Directory.Exists(spool), "the result should have spilled");
        Assert.Empty(Directory.GetFiles(spool)); // spill files are deleted on close
    }

    [Fact]
    public async Task ResultsPastTheSizeLimitAreRefused()
    {
        await using var server = await TestServer.StartAsync(c =>
        {
            c.MsgPackSpoolMemoryBytes = 4096;
            c.MsgPackMaxResultBytes = 64 * 1024;
        });
        var (status, body, _) = await PostAsync(server, Path, ManyRowsSql);
        Assert.Equal(400, status);
        Assert.Contains("query.msgpack_max_result_size", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(System.IO.Path.Combine(server.DataPath, ".tmp", "query")));
        (status, _, _) = await PostAsync(server, Path, "SELECT 1");
        Assert.Equal(200, status);
    }
}

using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Compression;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using static Arc.Native.Tests.QueryOutputHelpers;

namespace Arc.Native.Tests;

public sealed class ArrowOutputTests(QueryOutputFixture fixture) : IClassFixture<QueryOutputFixture>
{
    private const string Path = "/api/v1/query/arrow";

    /// <summary>
    /// Fails at row 1,000,000 of 3,000,000: well after the first chunk (DuckDB runs at most its streaming buffer, ~1 MB,
    /// ahead of the client), so the failure happens after the response started.
    /// </summary>
    internal const string FailingSql = "SELECT CASE WHEN range < 1000000 THEN range ELSE error('boom ' || range)::BIGINT END AS v FROM range(3000000)";
    private readonly TestServer _server = fixture.Server;

    private static async Task<List<RecordBatch>> ReadWithArrowDotNet(byte[] body)
    {
        using var reader = new ArrowStreamReader(new MemoryStream(body), new CompressionCodecFactory());
        var batches = new List<RecordBatch>();
        while (await reader.ReadNextRecordBatchAsync() is { } batch)
        {
            batches.Add(batch);
        }

        return batches;
    }

    [Fact]
    public async Task EveryColumnTypeIsReadByArrowJs()
    {
        var (status, body, response) = await PostAsync(_server, Path, AllTypesSql);
        Assert.Equal(200, status);
        Assert.Equal("application/vnd.apache.arrow.stream", response.Content.Headers.ContentType!.MediaType);
        var js = ReadWithArrowJs(body);
        var types = js.GetProperty("fields").EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!, f => f.GetProperty("type").GetString()!);
        Assert.Equal(new Dictionary<string, string>
        {
            ["b"] = "Bool",
            ["i8"] = "Int8",
            ["i16"] = "Int16",
            ["i32"] = "Int32",
            ["i64"] = "Int64",
            ["u8"] = "Uint8",
            ["u16"] = "Uint16",
            ["u32"] = "Uint32",
            ["u64"] = "Uint64",
            ["i128"] = "Decimal[38e0]",
            ["f32"] = "Float32",
            ["f64"] = "Float64",
            ["dec"] = "Decimal[9e+4]",
            ["dec0"] = "Decimal[18e0]",
            ["s"] = "Utf8",
            ["bin"] = "Binary",
            ["d"] = "Date32<DAY>",
            ["t"] = "Time64<MICROSECOND>",
            ["ts"] = "Timestamp<MICROSECOND>",
            ["tstz"] = types["tstz"],
            ["tsns"] = "Timestamp<NANOSECOND>",
            ["tsms"] = "Timestamp<MILLISECOND>",
            ["tss"] = "Timestamp<SECOND>",
            ["iv"] = "Interval<MONTH_DAY_NANO>",
            ["u"] = "Utf8",
            ["l"] = "List<Int32>",
            ["st"] = "Struct<{a:Int32, b:Utf8}>",
            ["m"] = "Map<{key:Utf8, value:Int32}>",
            ["arr"] = "FixedSizeList[2]<Int32>",
            ["e"] = "Dictionary<Uint8, Utf8>",
            ["n"] = "Int32",
        }, types);
        Assert.StartsWith("Timestamp<MICROSECOND, ", types["tstz"], StringComparison.Ordinal);

        Assert.Equal(1, js.GetProperty("numRows").GetInt32());
        var names = js.GetProperty("fields").EnumerateArray().Select(f => f.GetProperty("name").GetString()!).ToList();
        var row = js.GetProperty("rows")[0].EnumerateArray().Select((v, i) => (names[i], v)).ToDictionary(p => p.Item1, p => p.v);
        Assert.True(row["b"].GetBoolean());
        Assert.Equal(-2, row["i16"].GetInt32());
        Assert.Equal("9223372036854775807", row["i64"].GetString());
        Assert.Equal(4294967295, row["u32"].GetInt64());
        Assert.Equal("18446744073709551615", row["u64"].GetString());
        Assert.Equal(1.5, row["f32"].GetDouble());
        Assert.Equal("NaN", row["f64"].GetString());
        Assert.Equal("é\",x\ny", row["s"].GetString());
        Assert.Equal("qrs=", row["bin"].GetString());
        Assert.Equal(1709164800000, row["d"].GetInt64()); // Arrow JS gives Date32 as epoch milliseconds
        Assert.Equal("6ba7b810-9dad-11d1-80b4-00c04fd430c8", row["u"].GetString());
        Assert.Equal("[1,null,3]", row["l"].GetRawText());
        Assert.Equal("{\"a\":1,\"b\":\"x\"}", row["st"].GetRawText());
        Assert.Equal("{\"k\":1}", row["m"].GetRawText());
        Assert.Equal("[1,2]", row["arr"].GetRawText());
        Assert.Equal("b", row["e"].GetString());
        Assert.Equal(JsonValueKind.Null, row["n"].ValueKind);

        // Timestamps keep their unit: the raw int64 values, nanoseconds included.
        var raw = js.GetProperty("raw");
        Assert.Equal("1704164645000000001", raw.GetProperty("tsns")[0].GetString());
        Assert.Equal("1704164645123456", raw.GetProperty("ts")[0].GetString());
        Assert.Equal("1704164645120", raw.GetProperty("tsms")[0].GetString());
        Assert.Equal("-1", raw.GetProperty("tss")[0].GetString());
    }

    [Fact]
    public async Task EveryColumnTypeIsReadByArrowDotNet()
    {
        var (status, body, _) = await PostAsync(_server, Path, AllTypesSql);
        Assert.Equal(200, status);
        var batch = Assert.Single(await ReadWithArrowDotNet(body));
        Assert.Equal(1, batch.Length);
        Assert.Equal(9223372036854775807, ((Int64Array)batch.Column("i64")).GetValue(0));
        Assert.Equal(ulong.MaxValue, ((UInt64Array)batch.Column("u64")).GetValue(0));
        Assert.Equal(123.45m, ((Decimal128Array)batch.Column("dec")).GetValue(0));
        Assert.Equal(TimeUnit.Nanosecond, ((TimestampType)batch.Schema.GetFieldByName("tsns").DataType).Unit);
        Assert.Equal(1704164645000000001, ((TimestampArray)batch.Column("tsns")).GetValue(0));
        Assert.Equal(new byte[] { 0xAA, 0xBB }, ((BinaryArray)batch.Column("bin")).GetBytes(0).ToArray());
        Assert.Equal("é\",x\ny", ((StringArray)batch.Column("s")).GetString(0));
        Assert.Equal(ArrowTypeId.Dictionary, batch.Column("e").Data.DataType.TypeId);
        Assert.True(batch.Column("n").IsNull(0));
    }

    [Fact]
    public async Task MeasurementTimesKeepNanoseconds()
    {
        var (status, body, _) = await PostAsync(_server, Path, "SELECT time, host, usage, count, ok, note FROM cpu ORDER BY time", "metrics");
        Assert.Equal(200, status);
        var js = ReadWithArrowJs(body);
        Assert.Equal(10, js.GetProperty("numRows").GetInt32());
        Assert.Equal("Timestamp<NANOSECOND>", js.GetProperty("fields")[0].GetProperty("type").GetString());
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (1700000000000000000L + (i * 1_000_000_001L)).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            js.GetProperty("raw").GetProperty("time").EnumerateArray().Select(v => v.GetString()));
        var third = js.GetProperty("rows")[3];
        Assert.Equal("h0", third[1].GetString());
        Assert.Equal(4.5, third[2].GetDouble());
        Assert.Equal("3", third[3].GetString());
        Assert.False(third[4].GetBoolean());
        Assert.Equal("n, \"3\"", third[5].GetString());
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("lz4")]
    [InlineData("")]
    public async Task ManyBatchesAreReadByArrowJsAndArrowDotNetWithAndWithoutCompression(string compression)
    {
        const string sql = """
            SELECT range AS i, 'row ' || range AS s, make_timestamp_ns(range * 1000000001) AS t,
                   (CASE WHEN range % 3 = 0 THEN 'a' ELSE 'b' END)::ENUM('a', 'b') AS e, CASE WHEN range % 7 = 0 THEN NULL ELSE range * 0.5 END AS f
            FROM range(10000) ORDER BY range
            """;
        var headers = compression.Length == 0 ? [] : new[] { ("x-arc-arrow-compression", compression) };
        var (status, body, response) = await PostAsync(_server, Path, sql, null, headers);
        Assert.Equal(200, status);
        if (compression.Length > 0)
        {
            Assert.Equal(compression, response.Headers.GetValues("x-arc-arrow-compression").Single());
        }

        var js = ReadWithArrowJs(body, maxRows: 10000);
        Assert.Equal(10000, js.GetProperty("numRows").GetInt32());
        Assert.True(js.GetProperty("numBatches").GetInt32() > 1);
        var rows = js.GetProperty("rows").EnumerateArray().ToList();
        for (var i = 0; i < rows.Count; i += 997)
        {
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), rows[i][0].GetString());
            Assert.Equal($"row {i}", rows[i][1].GetString());
            Assert.Equal(i % 3 == 0 ? "a" : "b", rows[i][3].GetString());
            if (i % 7 == 0)
            {
                Assert.Equal(JsonValueKind.Null, rows[i][4].ValueKind);
            }
        }

        Assert.Equal(((long)9999 * 1000000001).ToString(System.Globalization.CultureInfo.InvariantCulture),
            js.GetProperty("raw").GetProperty("t")[9999].GetString());

        var batches = await ReadWithArrowDotNet(body);
        Assert.Equal(10000, batches.Sum(b => b.Length));
        Assert.Equal(Enumerable.Range(0, 10000).Sum(i => (long)i), batches.Sum(b => ((Int64Array)b.Column("i")).Values.ToArray().Sum()));
        if (compression.Length > 0)
        {
            var (_, plain, _) = await PostAsync(_server, Path, sql);
            Assert.True(body.Length < plain.Length, $"compressed {body.Length} bytes, uncompressed {plain.Length}");
        }
    }

    [Fact]
    public async Task EmptyResultIsASchemaOnlyStream()
    {
        var (status, body, _) = await PostAsync(_server, Path, "SELECT host, usage FROM cpu WHERE false", "metrics");
        Assert.Equal(200, status);
        var js = ReadWithArrowJs(body);
        Assert.Equal(0, js.GetProperty("numRows").GetInt32());
        Assert.Equal(["host", "usage"], js.GetProperty("fields").EnumerateArray().Select(f => f.GetProperty("name").GetString()));
        Assert.Empty(await ReadWithArrowDotNet(body));
    }

    [Theory]
    [InlineData("SELEC 1", "syntax error")]
    [InlineData("SELECT * FROM nope", "nope")]
    [InlineData("SELECT 'a'::INTEGER", "Conversion Error")]
    [InlineData("DROP VIEW metrics.cpu", "only read-only queries")]
    public async Task ErrorsBeforeTheFirstRowAreJson400s(string sql, string message)
    {
        var (status, body, response) = await PostAsync(_server, Path, sql, "metrics");
        Assert.Equal(400, status);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        var error = JsonDocument.Parse(body).RootElement;
        Assert.False(error.GetProperty("success").GetBoolean());
        Assert.Contains(message, error.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task UnknownCompressionIsRefused()
    {
        var (status, body, _) = await PostAsync(_server, Path, "SELECT 1", null, ("x-arc-arrow-compression", "brotli"));
        Assert.Equal(400, status);
        Assert.Contains("x-arc-arrow-compression", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFailureAfterTheFirstBatchAbortsTheResponse()
    {
        // The first chunk is fine; a later one fails, after the response started: the client must see a broken body.
        var request = Request(Path, FailingSql);
        using var response = await _server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        await AssertTruncatedAsync(response, async bytes => (await ReadWithArrowDotNet(bytes)).Sum(b => (long)b.Length));
        Assert.Equal([["1"]], await _server.RowsAsync("SELECT 1"));
    }

    /// <summary>
    /// The body of an aborted response: reading it fails, or (if the transport ended it quietly) what arrived is not a
    /// complete result of 3,000,000 rows.
    /// </summary>
    internal static async Task AssertTruncatedAsync(HttpResponseMessage response, Func<byte[], Task<long>> rowsIn)
    {
        byte[] bytes;
        try
        {
            bytes = await response.Content.ReadAsByteArrayAsync();
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return;
        }

        long rows;
        try
        {
            rows = await rowsIn(bytes);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            return;
        }

        Assert.True(rows < 3_000_000, $"an aborted response decoded as {rows} rows");
    }
}

using System.Net;
using System.Text.Json;
using MessagePack;
using MessagePack.Resolvers;

namespace Arc.Native.Tests.MessagePack;

/// <summary>
/// <c>POST /api/v1/write/msgpack</c> against a real server, with bodies built by independent encoders (MessagePack-CSharp,
/// and a byte-exact copy of what Telegraf's outputs.arc sends): every shape and column type read back through SQL and from
/// the Parquet files, compression by magic bytes, limits, all-or-nothing rejections with offsets, stats and spec.
/// </summary>
public sealed class MsgPackWriteTests
{
    private const string Path = "/api/v1/write/msgpack";

    [Fact]
    public async Task ColumnarRecordRoundTripsEveryColumnType()
    {
        await using var server = await TestServer.StartAsync();
        var body = Serialize(Map(
            ("m", "cpu"),
            ("columns", Map(
                ("time", Arr(1700000000000L, 1700000001000L, 1700000002000L)),
                ("host", Arr("a", "b", null)),
                ("usage", Arr(0.5, 2L, null)),
                ("count", Arr(1L, -2L, 300000L)),
                ("big", Arr(ulong.MaxValue, 1UL, null)),
                ("ok", Arr(true, false, null)),
                ("note", Arr("x", null, "é")),
                ("nothing", Arr(null, null, null)))),
            ("tags", Arr("host"))));
        using (var response = await Post(server, body, database: "mp"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        var rows = await server.RowsAsync(
            "SELECT epoch_ms(time), host, usage, count, big, ok, note FROM cpu ORDER BY time", "mp");
        Assert.Equal(["1700000000000", "a", "0.5", "1", "18446744073709551615", "true", "x"], rows[0]);
        Assert.Equal(["1700000001000", "b", "2", "-2", "1", "false", "null"], rows[1]);
        Assert.Equal(["1700000002000", "null", "null", "300000", "null", "null", "é"], rows[2]);

        var file = Assert.Single(server.ParquetFiles());
        var types = TestServer.ReadParquet($"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{file}') ORDER BY column_name");
        Assert.Equal(
            [["big", "UBIGINT"], ["count", "BIGINT"], ["host", "VARCHAR"], ["note", "VARCHAR"], ["ok", "BOOLEAN"], ["time", "TIMESTAMP_NS"], ["usage", "DOUBLE"]],
            types);
        var tags = TestServer.ReadParquet($"SELECT decode(value) FROM parquet_kv_metadata('{file}') WHERE decode(key) = 'arc_tags'");
        Assert.Equal("[\"host\"]", Assert.Single(tags)[0]);
    }

    [Fact]
    public async Task RowBatchAndTopLevelArrayShapesAreStored()
    {
        await using var server = await TestServer.StartAsync();
        var row = Map(("m", "sys"), ("t", 1700000000L), ("h", "server01"), ("tags", Map(("region", "eu"))),
            ("fields", Map(("load", 1.5), ("procs", 12L), ("up", true), ("state", "ok"))));
        var compact = Map(("m", "sys"), ("t", 1700000001000000000L), ("h", "server02"), ("f", Arr(2.5, 7L)));
        var columnar = Map(("m", "sys"), ("columns", Map(("time", Arr(1700000002000000L)), ("host", Arr("server03")), ("load", Arr(3L)))),
            ("tags", Arr("host")));
        using (var response = await Post(server, Serialize(Map(("batch", Arr(row, compact)))), database: "shapes"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        using (var response = await Post(server, Serialize(Arr(columnar)), database: "shapes"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        var rows = await server.RowsAsync(
            "SELECT epoch(time)::BIGINT, host, region, load, procs, up, state, field_0, field_1 FROM sys ORDER BY time", "shapes");
        Assert.Equal(["1700000000", "server01", "eu", "1.5", "12", "true", "ok", "null", "null"], rows[0]);
        Assert.Equal(["1700000001", "server02", "null", "null", "null", "null", "null", "2.5", "7"], rows[1]);
        Assert.Equal(["1700000002", "server03", "null", "3", "null", "null", "null", "null", "null"], rows[2]);
        var file = server.ParquetFiles().First();
        var tags = TestServer.ReadParquet($"SELECT decode(value) FROM parquet_kv_metadata('{file}') WHERE decode(key) = 'arc_tags'");
        Assert.Contains("host", Assert.Single(tags)[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task TelegrafOutputsArcPayloadIsStored()
    {
        await using var server = await TestServer.StartAsync();
        // Two measurements, so Telegraf sends an array; Go map order is arbitrary, time is Unix ms, tags are plain strings,
        // the second cpu metric lacks usage_guest (nil), and its fields are float64 even when whole.
        var payload = new TelegrafArcEncoder()
            .ArrayHeader(2)
            .MapHeader(2).String("m").String("cpu").String("columns").MapHeader(5)
            .String("usage_idle").ArrayHeader(2).Float64(97.5).Float64(0)
            .String("cpu").ArrayHeader(2).String("cpu-total").String("cpu0")
            .String("usage_guest").ArrayHeader(2).Float64(0.25).Nil()
            .String("host").ArrayHeader(2).String("telegraf-host").String("telegraf-host")
            .String("time").ArrayHeader(2).Int64(1700000000000).Int64(1700000010000)
            .MapHeader(2).String("columns").MapHeader(6)
            .String("time").ArrayHeader(1).Int64(1700000000000)
            .String("used").ArrayHeader(1).Int64(8_589_934_592)
            .String("free").ArrayHeader(1).UInt64(300)
            .String("active").ArrayHeader(1).Int64(-40_000)
            .String("swap_on").ArrayHeader(1).Bool(true)
            .String("host").ArrayHeader(1).String("telegraf-host")
            .String("m").String("mem")
            .ToArray();
        var content = new ByteArrayContent(TelegrafArcEncoder.Gzip(payload));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/msgpack");
        using (var response = await server.SendAsync(Path, content, "gzip", "telegraf"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        Assert.Equal(
            [["2023-11-14T22:13:20Z", "cpu-total", "telegraf-host", "97.5", "0.25"], ["2023-11-14T22:13:30Z", "cpu0", "telegraf-host", "0", "null"]],
            await server.RowsAsync("SELECT time, cpu, host, usage_idle, usage_guest FROM cpu ORDER BY time", "telegraf"));
        Assert.Equal([["8589934592", "300", "-40000", "true"]],
            await server.RowsAsync("SELECT used, free, active, swap_on FROM mem", "telegraf"));
    }

    [Fact]
    public async Task CompressionIsDetectedFromMagicBytesAndCapped()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Writes = c.Engine.Writes with { MaxDecompressedBytes = 64 * 1024 } });
        var body = Serialize(Map(("m", "z"), ("columns", Map(("time", Arr(1700000000L, 1700000001L)), ("v", Arr(1L, 2L))))));
        using (var gzip = await Post(server, TelegrafArcEncoder.Gzip(body), database: "z")) // no Content-Encoding header
        {
            Assert.Equal(HttpStatusCode.NoContent, gzip.StatusCode);
        }

        using (var zstd = await Post(server, Zstd(body), database: "z", encoding: "zstd"))
        {
            Assert.Equal(HttpStatusCode.NoContent, zstd.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        Assert.Equal([["4", "6"]], await server.RowsAsync("SELECT count(*), sum(v) FROM z", "z"));

        // Bombs: small compressed bodies that inflate past the cap are 413, not an out-of-memory.
        var values = Enumerable.Repeat((object?)0L, 200_000).ToArray();
        var bomb = Serialize(Map(("m", "z"), ("columns", Map(("v", values)))));
        foreach (var compressed in new[] { TelegrafArcEncoder.Gzip(bomb), Zstd(bomb) })
        {
            Assert.True(compressed.Length < 16 * 1024, $"{compressed.Length} bytes");
            using var response = await Post(server, compressed, database: "z");
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            Assert.Contains("the decompressed body is larger than ingest.max_decompressed_size (65536 bytes)", await response.Content.ReadAsStringAsync(),
                StringComparison.Ordinal);
        }

        using (var raw = await Post(server, bomb, database: "z"))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, raw.StatusCode);
        }

        var corrupt = TelegrafArcEncoder.Gzip(body);
        corrupt[12] ^= 0xff;
        corrupt[13] ^= 0xff;
        using (var response = await Post(server, corrupt, database: "z"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using (var response = await Post(server, [0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5], database: "z"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("zstd", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var brotli = await Post(server, body, database: "z", encoding: "br"))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, brotli.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        Assert.Equal([["4"]], await server.RowsAsync("SELECT count(*) FROM z", "z"));
    }

    [Fact]
    public async Task BodiesOverMaxPayloadSizeAndEmptyBodiesAreRefused()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Writes = c.Engine.Writes with { MaxBodyBytes = 4096 } });
        var values = Enumerable.Range(0, 1000).Select(i => (object?)(double)i).ToArray();
        using (var large = await Post(server, Serialize(Map(("m", "p"), ("columns", Map(("v", values))))), database: "p"))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, large.StatusCode);
            Assert.Contains("server.max_payload_size", await large.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var empty = await Post(server, [], database: "p");
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Contains("the body is empty", await empty.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMalformedBodyIsRejectedWithItsOffsetAndNothingIsStoredOrClaimed()
    {
        await using var server = await TestServer.StartAsync();
        // The first record is fine and introduces column "fresh"; the second has arrays of different lengths.
        var body = Serialize(Arr(
            Map(("m", "bad"), ("columns", Map(("time", Arr(1700000000L)), ("fresh", Arr(1L))))),
            Map(("m", "other"), ("columns", Map(("a", Arr(1L, 2L)), ("b", Arr(1L)))))));
        using var response = await Post(server, body, database: "aon");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(json.RootElement.GetProperty("success").GetBoolean());
        Assert.Contains("column 'b' has 1 values but 'a' has 2", json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        var offset = json.RootElement.GetProperty("offset").GetInt64();
        Assert.Equal(0x91, body[offset]); // the one-element array of 'b'

        await server.Server.Engine.FlushAsync();
        Assert.Empty(server.ParquetFiles());
        Assert.Equal(0, server.Server.Engine.BufferedRows);

        // "fresh" was not claimed as an integer: a later body may make it a string.
        using var later = await Post(server, Serialize(Map(("m", "bad"), ("columns", Map(("fresh", Arr("text")))))), database: "aon");
        Assert.Equal(HttpStatusCode.NoContent, later.StatusCode);
    }

    [Fact]
    public async Task SchemaRulesOfTheMeasurementApply()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent,
            (await server.WriteAsync("/api/v1/write/line-protocol", "m,host=a i=1i,f=1.5,u=1u 1700000000000000000\n", database: "s")).StatusCode);

        // Integers go into the existing float column; non-negative integers into the unsigned one.
        using (var widened = await Post(server, Serialize(Map(("m", "m"), ("columns", Map(("time", Arr(1700000001L)), ("f", Arr(2L)), ("u", Arr(3L)))))), database: "s"))
        {
            Assert.Equal(HttpStatusCode.NoContent, widened.StatusCode);
        }

        async Task Rejected(object payload, string expected)
        {
            using var response = await Post(server, Serialize(payload), database: "s");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var text = await response.Content.ReadAsStringAsync();
            Assert.Contains(expected, text, StringComparison.Ordinal);
            Assert.Contains("\"offset\":", text, StringComparison.Ordinal);
        }

        await Rejected(Map(("m", "m"), ("columns", Map(("i", Arr(1.5))))), "field type conflict: 'i' is integer in m, got float");
        await Rejected(Map(("m", "m"), ("columns", Map(("u", Arr(-1L))))), "'u' is unsigned in m, got integer");
        await Rejected(Map(("m", "m"), ("columns", Map(("host", Arr(1L))))), "'host' is a tag of m");
        await Rejected(Map(("m", "m"), ("columns", Map(("Host", Arr("x")), ("v", Arr(1L)))), ("tags", Arr("Host"))), "differs only in case");
        await Rejected(Map(("m", "m"), ("columns", Map(("TIME", Arr(1L))))), "reserved");
        await Rejected(Map(("m", "9bad"), ("columns", Map(("v", Arr(1L))))), "invalid measurement name");
        await Rejected(Map(("m", "m"), ("columns", Map(("a", Arr(1L)), ("A", Arr(1L))))), "differs only in case from 'a' in the same request");
        await Rejected(Map(("m", "m"), ("columns", Map(("time", Arr(1700000000L, null)), ("f", Arr(1.0, 2.0))))), "'time' must be a number");

        using (var database = await Post(server, Serialize(Map(("m", "m"), ("columns", Map(("v", Arr(1L)))))), database: "system"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, database.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        Assert.Equal([["1", "1.5", "1"], ["null", "2", "3"]], await server.RowsAsync("SELECT i, f, u FROM m ORDER BY time", "s"));
    }

    [Fact]
    public async Task TokensNeedWritePermissionAndTheDatabaseInTheirScope()
    {
        await using var server = await TestServer.StartAsync(c => c.AuthCacheTtl = TimeSpan.Zero);
        using var created = await server.Client.PostAsync("/api/v1/auth/tokens", new StringContent(
            "{\"name\":\"telegraf\",\"permissions\":[\"write\"],\"databases\":[\"alpha\"]}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var token = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        var body = Serialize(Map(("m", "a"), ("columns", Map(("v", Arr(1L))))));

        async Task<HttpStatusCode> Send(string? apiKey, string database)
        {
            using var client = server.NewClient(null);
            using var request = new HttpRequestMessage(HttpMethod.Post, Path) { Content = new ByteArrayContent(body) };
            request.Headers.Add("x-arc-database", database);
            if (apiKey is not null)
            {
                request.Headers.Add("x-api-key", apiKey); // as Telegraf's outputs.arc sends it
            }

            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await Send(null, "alpha"));
        Assert.Equal(HttpStatusCode.NoContent, await Send(token, "alpha"));
        Assert.Equal(HttpStatusCode.Forbidden, await Send(token, "beta"));
    }

    [Fact]
    public async Task StatsCountBothFormatsAndSpecDescribesTheFormat()
    {
        await using var server = await TestServer.StartAsync();
        var good = Serialize(Map(("m", "st"), ("columns", Map(("v", Arr(1L, 2L, 3L))))));
        Assert.Equal(HttpStatusCode.NoContent, (await Post(server, good)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Post(server, [0x91, 0x01])).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=st", "lp v=1\nlp v=2\n")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await server.WriteAsync("/write?db=st", "lp v=1\nlp v=oops\n")).StatusCode);

        foreach (var path in new[] { "/api/v1/write/stats", Path + "/stats" })
        {
            using var json = JsonDocument.Parse(await server.Client.GetStringAsync(path));
            var msgpack = json.RootElement.GetProperty("msgpack");
            Assert.Equal(2, msgpack.GetProperty("requests").GetInt64());
            Assert.Equal(3, msgpack.GetProperty("records_accepted").GetInt64());
            Assert.Equal(1, msgpack.GetProperty("errors").GetInt64());
            Assert.Equal(good.Length + 2, msgpack.GetProperty("bytes_received").GetInt64());
            var lp = json.RootElement.GetProperty("line_protocol");
            Assert.Equal(2, lp.GetProperty("requests").GetInt64());
            Assert.Equal(3, lp.GetProperty("records_accepted").GetInt64());
            Assert.Equal(1, lp.GetProperty("records_rejected").GetInt64());
            Assert.Equal(1, lp.GetProperty("errors").GetInt64());
            Assert.Equal(31, lp.GetProperty("bytes_received").GetInt64());
        }

        using var spec = JsonDocument.Parse(await server.Client.GetStringAsync(Path + "/spec"));
        Assert.Equal("/api/v1/write/msgpack", spec.RootElement.GetProperty("endpoint").GetString()![5..]);
        Assert.True(spec.RootElement.GetProperty("shapes").TryGetProperty("columnar", out _));
    }

    [Fact]
    public async Task HostileBodiesNeverGetA500()
    {
        await using var server = await TestServer.StartAsync();
        var body = Serialize(Arr(
            Map(("m", "f"), ("columns", Map(("time", Arr(1700000000000L, 1700000001000L)), ("host", Arr("a", null)), ("v", Arr(1.5, 2L)))),
                ("tags", Arr("host"))),
            Map(("m", "f"), ("t", 1700000002L), ("h", "b"), ("fields", Map(("v", 3.5), ("s", "x"))))));
        var statuses = new HashSet<HttpStatusCode>();
        for (var length = 0; length < body.Length; length++)
        {
            using var response = await Post(server, body[..length], database: "fz");
            statuses.Add(response.StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        var random = new Random(7);
        for (var i = 0; i < 300; i++)
        {
            var mutated = (byte[])body.Clone();
            mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
            using var response = await Post(server, random.Next(4) == 0 ? TelegrafArcEncoder.Gzip(mutated) : mutated, database: "fz");
            Assert.True(response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.BadRequest,
                $"status {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        using var ok = await Post(server, body, database: "fz");
        Assert.Equal(HttpStatusCode.NoContent, ok.StatusCode);
    }

    internal static Task<HttpResponseMessage> Post(TestServer server, byte[] body, string? database = null, string? encoding = null) =>
        server.SendAsync(Path, new ByteArrayContent(body), encoding, database);

    internal static byte[] Serialize(object? value) => MessagePackSerializer.Serialize(value, ContractlessStandardResolver.Options);

    internal static byte[] Zstd(byte[] body)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(body).ToArray();
    }

    internal static Dictionary<string, object?> Map(params (string Key, object? Value)[] entries) =>
        entries.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

    internal static object?[] Arr(params object?[] items) => items;
}

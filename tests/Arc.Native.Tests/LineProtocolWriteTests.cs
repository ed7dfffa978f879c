using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

[LongRunning(17)]
public sealed class LineProtocolWriteTests
{
    [Fact]
    public async Task Influx1WriteIsStoredAsParquetInTheHourPartitionAndQueryable()
    {
        await using var server = await TestServer.StartAsync();
        using var response = await server.WriteAsync("/write?db=telegraf",
            "cpu,host=server01,region=us-west usage_idle=97.5,usage_user=1.25 1700000000123456789\n" +
            "cpu,host=server02,region=us-west usage_idle=88,usage_user=3.5 1700000001000000000\n");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);

        await server.Server.Engine.FlushAsync();
        var file = Assert.Single(server.ParquetFiles());
        Assert.Equal(Path.Combine(server.DataPath, "telegraf", "cpu", "2023", "11", "14", "22"), Path.GetDirectoryName(file));

        // The file stands on its own: nanosecond time, typed columns, tags named in the key-value metadata.
        var rows = TestServer.ReadParquet(
            $"SELECT epoch_ns(time), typeof(time), host, region, usage_idle, usage_user FROM '{file}' ORDER BY time");
        Assert.Equal(new[] { "1700000000123456789", "TIMESTAMP_NS", "server01", "us-west", "97.5", "1.25" }, rows[0]);
        Assert.Equal(new[] { "1700000001000000000", "TIMESTAMP_NS", "server02", "us-west", "88", "3.5" }, rows[1]);
        var tags = TestServer.ReadParquet($"SELECT decode(value) FROM parquet_kv_metadata('{file}') WHERE decode(key) = 'arc_tags'");
        Assert.Equal("[\"host\",\"region\"]", Assert.Single(tags)[0]);

        var query = await server.RowsAsync("SELECT time, host, usage_idle FROM cpu ORDER BY time", "telegraf");
        Assert.Equal(["2023-11-14T22:13:20.123456789Z", "server01", "97.5"], query[0]);
        Assert.Equal(["2023-11-14T22:13:21Z", "server02", "88"], query[1]);
    }

    [Fact]
    public async Task AllThreeWriteUrlsAndTheirDatabaseParametersWork()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=one&precision=s", "m v=1 1700000000\n")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent,
            (await server.WriteAsync("/api/v2/write?org=x&bucket=two/autogen&precision=ms", "m v=2 1700000000000\n")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/api/v1/write/line-protocol", "m v=3 1700000000000000000\n",
            database: "three")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/api/v1/write/line-protocol", "m v=4 1700000000000000000\n")).StatusCode);
        await server.Server.Engine.FlushAsync();

        foreach (var (db, value) in new[] { ("one", "1"), ("two", "2"), ("three", "3"), ("default", "4") })
        {
            var rows = await server.RowsAsync("SELECT time, v FROM m", db);
            Assert.Equal(["2023-11-14T22:13:20Z", value], Assert.Single(rows));
        }

        var databases = await server.RowsAsync("SHOW DATABASES");
        Assert.Equal(["default", "one", "three", "two"], databases.Select(r => r[0]));
    }

    [Theory]
    [InlineData("n", "1700000000000000000")]
    [InlineData("ns", "1700000000000000000")]
    [InlineData("u", "1700000000000000")]
    [InlineData("us", "1700000000000000")]
    [InlineData("ms", "1700000000000")]
    [InlineData("s", "1700000000")]
    public async Task PrecisionScalesTimestampsToNanoseconds(string precision, string timestamp)
    {
        await using var server = await TestServer.StartAsync();
        using var response = await server.WriteAsync($"/write?db=p&precision={precision}", $"m v=1 {timestamp}\n");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await server.Server.Engine.FlushAsync();
        Assert.Equal("1700000000000000000", Assert.Single(await server.RowsAsync("SELECT epoch_ns(time)::VARCHAR FROM m", "p"))[0]);
    }

    [Fact]
    public async Task AWriteWithoutADatabaseGoesToTheHeadersOrDefaultAsInArc()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write", "m v=1 1\n")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/api/v2/write?org=o", "m v=2 2\n")).StatusCode);
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = new StringContent("m v=3 3\n") })
        {
            request.Headers.Add("x-arc-database", "fromheader");
            Assert.Equal(HttpStatusCode.NoContent, (await server.Client.SendAsync(request)).StatusCode);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Post, "/write?db=fromurl") { Content = new StringContent("m v=4 4\n") })
        {
            request.Headers.Add("x-arc-database", "fromheader");
            Assert.Equal(HttpStatusCode.NoContent, (await server.Client.SendAsync(request)).StatusCode);
        }

        Assert.Equal([["2", "3"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM m", "default"));
        Assert.Equal([["1", "3"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM m", "fromheader"));
        Assert.Equal([["1", "4"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM m", "fromurl"));
    }

    [Fact]
    public async Task BadPrecisionAndBadDatabaseAreRejectedWithReasons()
    {
        await using var server = await TestServer.StartAsync();
        using var precision = await server.WriteAsync("/write?db=p&precision=weeks", "m v=1\n");
        Assert.Equal(HttpStatusCode.BadRequest, precision.StatusCode);
        Assert.Contains("precision", await precision.Content.ReadAsStringAsync(), StringComparison.Ordinal);


        using var reserved = await server.WriteAsync("/write?db=system", "m v=1\n");
        Assert.Equal(HttpStatusCode.BadRequest, reserved.StatusCode);
        Assert.Contains("reserved", await reserved.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var path = await server.WriteAsync("/write?db=../etc", "m v=1\n");
        Assert.Equal(HttpStatusCode.BadRequest, path.StatusCode);
        Assert.Empty(server.ParquetFiles());
    }

    [Fact]
    public async Task PartialWriteStoresGoodLinesAndReportsEachBadLineWithItsPosition()
    {
        await using var server = await TestServer.StartAsync();
        const string body =
            "m,host=a v=1 1700000000000000000\n" +
            "m,host=b v=oops 1700000000000000000\n" +
            "# a comment\n" +
            "m,host=c v=3 1700000002000000000\n" +
            "9bad v=1\n" +
            "m,host=d v=4i 1700000003000000000\n" + // type conflict: v is a float
            "m,host=e v=5 1700000004000000000\n";
        using var response = await server.WriteAsync("/write?db=w", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        Assert.Equal(3, root.GetProperty("accepted").GetInt64());
        Assert.Equal(3, root.GetProperty("rejected").GetInt64());
        Assert.StartsWith("partial write", root.GetProperty("error").GetString(), StringComparison.Ordinal);
        var errors = root.GetProperty("errors").EnumerateArray().ToList();
        Assert.Equal([2L, 5L, 6L], errors.Select(e => e.GetProperty("line").GetInt64()));
        Assert.Equal(12, errors[0].GetProperty("column").GetInt32()); // the value after "v="
        Assert.Equal(1, errors[1].GetProperty("column").GetInt32());
        Assert.Contains("invalid measurement name", errors[1].GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(10, errors[2].GetProperty("column").GetInt32()); // the field "v=4i"
        Assert.Contains("field type conflict", errors[2].GetProperty("message").GetString(), StringComparison.Ordinal);

        await server.Server.Engine.FlushAsync();
        var rows = await server.RowsAsync("SELECT host, v FROM m ORDER BY time", "w");
        Assert.Equal([["a", "1"], ["c", "3"], ["e", "5"]], rows);
    }

    [Fact]
    public async Task TypeConflictsAreCheckedAgainstDataAlreadyOnDiskAfterARestart()
    {
        var first = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent, (await first.WriteAsync("/write?db=r", "m,host=a v=1i,s=\"x\" 1700000000000000000\n")).StatusCode);
        await using var server = await first.RestartAsync();

        using var conflict = await server.WriteAsync("/write?db=r", "m,host=a v=1.5 1700000001000000000\nm,s=x v=2i\nm,host=b v=3i 1700000002000000000\n");
        Assert.Equal(HttpStatusCode.BadRequest, conflict.StatusCode);
        var text = await conflict.Content.ReadAsStringAsync();
        Assert.Contains("'v' is integer", text, StringComparison.Ordinal);
        Assert.Contains("'s' is a string field of m and cannot be written as a tag", text, StringComparison.Ordinal);
        await server.Server.Engine.FlushAsync();
        Assert.Equal([["a", "1"], ["b", "3"]], await server.RowsAsync("SELECT host, v FROM m ORDER BY time", "r"));
    }

    [Fact]
    public async Task NamesThatDifferOnlyInCaseAreRejected()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=c", "cpu,Host=a Usage=1\n")).StatusCode);
        using var fields = await server.WriteAsync("/write?db=c", "cpu,host=a usage=1\nCPU v=1\n");
        var text = await fields.Content.ReadAsStringAsync();
        Assert.Contains("'host' differs only in case from the existing column 'Host'", text, StringComparison.Ordinal);
        Assert.Contains("measurement 'CPU' differs only in case", text, StringComparison.Ordinal);
        using var database = await server.WriteAsync("/write?db=C", "cpu v=1\n");
        Assert.Contains("database 'C' differs only in case", await database.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReservedTimeNameDuplicateTagsAndInvalidUtf8AreRejected()
    {
        await using var server = await TestServer.StartAsync();
        // A line whose keys match the columns the previous line's keys resolved to skips the full resolution, and must still
        // be checked: the repeated tag twice in a row (the first, rejected, leaves both tag slots on 'host'), and bad values
        // on lines shaped like the accepted one before them.
        byte[] bad = [0xC3, 0x28];
        var body = Encoding.UTF8.GetBytes("m,time=x v=1\nm,host=ok v=1,s=\"x\"\nm,host=a,host=b v=1,s=\"x\"\nm,host=a,host=b v=2,s=\"x\"\n"
                + "m,host=ok v=1,s=\"x\"\nm,host=")
            .Concat(bad).Concat(Encoding.UTF8.GetBytes(" v=1,s=\"x\"\nm,host=ok v=1,s=\"")).Concat(bad).Concat(Encoding.UTF8.GetBytes("\"\n")).ToArray();
        using var response = await server.SendAsync("/write?db=t", new ByteArrayContent(body));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var messages = json.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("message").GetString()!).ToList();
        Assert.Equal(5, messages.Count);
        Assert.Contains("reserved", messages[0], StringComparison.Ordinal);
        Assert.Contains("duplicate tag 'host'", messages[1], StringComparison.Ordinal);
        Assert.Contains("duplicate tag 'host'", messages[2], StringComparison.Ordinal);
        Assert.Contains("value of tag 'host' is not valid UTF-8", messages[3], StringComparison.Ordinal);
        Assert.Contains("value of field 's' is not valid UTF-8", messages[4], StringComparison.Ordinal);
        Assert.Equal(2, json.RootElement.GetProperty("accepted").GetInt64());
    }

    [Fact]
    public async Task GzipBodiesAreAcceptedAndDecompressedSizeIsLimited()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Writes = c.Engine.Writes with { MaxDecompressedBytes = 64 * 1024 } });
        var body = string.Concat(Enumerable.Range(0, 100).Select(i => $"g,host=h{i % 7} v={i} {1700000000000000000L + i}\n"));
        using (var response = await server.SendAsync("/write?db=z", new ByteArrayContent(Gzip(body)), "gzip"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        Assert.Equal("100", (await server.RowsAsync("SELECT count(*) FROM g", "z"))[0][0]);

        // A small gzip body that inflates past the limit: 413, and the server stays healthy.
        var bomb = string.Concat(Enumerable.Repeat("b v=1 1700000000000000000\n", 10_000));
        using var rejected = await server.SendAsync("/write?db=z", new ByteArrayContent(Gzip(bomb)), "gzip");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, rejected.StatusCode);
        Assert.Contains("the decompressed body is larger than ingest.max_decompressed_size (65536 bytes)", await rejected.Content.ReadAsStringAsync(),
            StringComparison.Ordinal);

        using var brotli = await server.SendAsync("/write?db=z", new ByteArrayContent([1, 2, 3]), "br");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, brotli.StatusCode);
    }

    [Fact]
    public async Task BodyLargerThanMaxPayloadIsRejectedWith413()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Writes = c.Engine.Writes with { MaxBodyBytes = 4096 } });
        var body = string.Concat(Enumerable.Repeat("big v=1 1700000000000000000\n", 1000));
        using var response = await server.WriteAsync("/write?db=big", body);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task LinesWithoutTimestampGetTheServerTime()
    {
        await using var server = await TestServer.StartAsync();
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=now", "m v=1\n")).StatusCode);
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await server.Server.Engine.FlushAsync();
        var millis = long.Parse(Assert.Single(await server.RowsAsync("SELECT epoch_ms(time) FROM m", "now"))[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(millis, before, after);
    }

    [Fact]
    public async Task RowsSpanningSeveralHoursAreSplitIntoHourPartitions()
    {
        await using var server = await TestServer.StartAsync();
        var body = string.Concat(Enumerable.Range(0, 30).Select(i => $"h,k=x v={i} {1700000000000000000L + (i * 600_000_000_000L)}\n"));
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=hours", body)).StatusCode);
        await server.Server.Engine.FlushAsync();
        var directories = server.ParquetFiles().Select(f => Path.GetRelativePath(server.DataPath, Path.GetDirectoryName(f)!)).Distinct().Order().ToList();
        Assert.Equal(6, directories.Count);
        Assert.Equal(Path.Combine("hours", "h", "2023", "11", "14", "22"), directories[0]);
        Assert.Equal(Path.Combine("hours", "h", "2023", "11", "15", "03"), directories[^1]);
        foreach (var file in server.ParquetFiles())
        {
            var hour = Path.GetDirectoryName(file)![^2..];
            var rows = TestServer.ReadParquet($"SELECT DISTINCT hour(time) FROM '{file}'");
            Assert.Equal(int.Parse(hour, System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture), Assert.Single(rows)[0]);
        }

        Assert.Equal([["30", "435"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM h", "hours"));
    }

    [Fact]
    public async Task BuffersFlushBySizeAndByAge()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with
        {
            MaxBufferRows = 10,
            MaxBufferAge = TimeSpan.FromMilliseconds(200),
        });
        // Requests of 10, 10 and 5 rows with a 10-row limit: two size-triggered flushes, the last 5 flushed by age.
        foreach (var (start, count) in new[] { (0, 10), (10, 10), (20, 5) })
        {
            var body = string.Concat(Enumerable.Range(start, count).Select(i => $"s v={i} {1700000000000000000L + i}\n"));
            Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=f", body)).StatusCode);
        }

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (server.Server.Engine.FlushedRows < 25 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(25, server.Server.Engine.FlushedRows);
        Assert.Equal(3, server.ParquetFiles().Length);
        Assert.Equal("25", (await server.RowsAsync("SELECT count(DISTINCT v) FROM s", "f"))[0][0]);
    }

    [Fact]
    public async Task GracefulStopFlushesBufferedRows()
    {
        var first = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent, (await first.WriteAsync("/write?db=g", "m v=42 1700000000000000000\n")).StatusCode);
        Assert.Empty(first.ParquetFiles()); // still buffered (10 minute age limit)
        await using var server = await first.RestartAsync();
        Assert.Single(server.ParquetFiles());
        Assert.Equal([["42"]], await server.RowsAsync("SELECT v FROM m", "g"));
    }

    [Fact]
    public async Task ConcurrentWritersAreAllStored()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { MaxBufferRows = 1000 });
        var tasks = Enumerable.Range(0, 8).Select(async writer =>
        {
            for (var request = 0; request < 10; request++)
            {
                var body = string.Concat(Enumerable.Range(0, 300).Select(i =>
                    $"load,writer=w{writer} seq={(request * 300) + i}i {1700000000000000000L + (writer * 1_000_000_000L) + (request * 300) + i}\n"));
                using var response = await server.WriteAsync("/write?db=c", body);
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }
        });
        await Task.WhenAll(tasks);
        await server.Server.Engine.FlushAsync();
        Assert.Equal([["24000", "8", "3000"]],
            await server.RowsAsync("SELECT count(*), count(DISTINCT writer), count(DISTINCT seq) FROM load", "c"));
    }

    private static byte[] Gzip(string text)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }
}

using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using static Arc.Native.Tests.MessagePack.MsgPackWriteTests;

namespace Arc.Native.Tests;

/// <summary>
/// Compressed write bodies on both formats: gzip and zstd, declared by Content-Encoding or recognised from the first bytes,
/// decompressed as they stream in and stopped at <c>ingest.max_decompressed_size</c> with a 413 naming it. Line protocol
/// keeps the lines before the cap (partial write, counted in the 413); MessagePack stays all or nothing. The bombs are a
/// few MB over a small cap (the 2 GB ones, with the server's memory measured, are in scripts/smoke-aot-bombs.sh).
/// </summary>
[LongRunning(18)]
public sealed class CompressedBodyTests
{
    private const int Cap = 1 << 20;

    [Theory]
    [InlineData("gzip", "gzip")]
    [InlineData("zstd", "zstd")]
    [InlineData("gzip", null)] // recognised from 1f 8b
    [InlineData("zstd", null)] // recognised from 28 b5 2f fd
    public async Task LineProtocolTakesGzipAndZstdDeclaredOrRecognised(string compression, string? contentEncoding)
    {
        await using var server = await TestServer.StartAsync();
        var body = Encoding.UTF8.GetBytes(
            string.Concat(Enumerable.Range(0, 1000).Select(i => $"c,host=h{i % 3} v={i} {1700000000000000000L + i}\n")));
        using (var response = await server.SendAsync("/api/v1/write/line-protocol", new ByteArrayContent(Compress(compression, body)),
                   contentEncoding, "lpz"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        Assert.Equal([["1000", "499500"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM c", "lpz"));
    }

    /// <summary>
    /// What a sender that compresses without saying so puts on the wire, byte for byte over a raw socket (no HttpClient
    /// adding or normalising headers): gzip and zstd bodies with no Content-Encoding, to <c>/write</c> without <c>db</c>
    /// (the rows go to <c>x-arc-database</c>, or to <c>default</c> without it, as in Arc).
    /// </summary>
    [Theory]
    [InlineData("gzip", "rawdb")]
    [InlineData("zstd", "rawdb")]
    [InlineData("gzip", null)]
    [InlineData("zstd", null)]
    public async Task ARawSocketSendsCompressedLinesWithoutContentEncodingOrDb(string compression, string? database)
    {
        await using var server = await TestServer.StartAsync();
        var body = Compress(compression, Encoding.UTF8.GetBytes(
            string.Concat(Enumerable.Range(0, 500).Select(i => $"raw,host=h{i % 2} v={i} {1700000000000000000L + i}\n"))));
        var address = new Uri(server.Server.Addresses.First());
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        var stream = client.GetStream();
        var headers = $"POST /write HTTP/1.1\r\nHost: {address.Authority}\r\nAuthorization: Token {TestServer.AdminToken}\r\n" +
                      (database is null ? "" : $"x-arc-database: {database}\r\n") +
                      $"Content-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(headers));
        await stream.WriteAsync(body);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var answer = await reader.ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 204 ", answer, StringComparison.Ordinal);
        await server.Server.Engine.FlushAsync();
        Assert.Equal([["500", "124750"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM raw", database ?? "default"));
    }

    [Fact]
    public async Task LineProtocolCorruptOrMislabelledCompressionIs400AndUnknownEncodings415()
    {
        await using var server = await TestServer.StartAsync();
        using (var response = await server.SendAsync("/write?db=lpz", new ByteArrayContent("c v=1\n"u8.ToArray()), "zstd"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("invalid zstd body", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var response = await server.SendAsync("/write?db=lpz", new ByteArrayContent([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5])))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("invalid zstd body", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var response = await server.SendAsync("/write?db=lpz", new ByteArrayContent("c v=1\n"u8.ToArray()), "br"))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
            Assert.Contains("use gzip, zstd or none", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// 6 MB of good lines, compressed, over a 1 MiB cap: 413 naming the setting, and the lines read before the cap are
    /// stored, as many as the message says (InfluxDB's partial-write semantics, as for an over-long plain body).
    /// </summary>
    [Theory]
    [InlineData("gzip", "gzip")]
    [InlineData("zstd", "zstd")]
    [InlineData("zstd", null)]
    public async Task LineProtocolStopsAtTheCapAndKeepsTheLinesBeforeIt(string compression, string? contentEncoding)
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Writes = c.Engine.Writes with { MaxDecompressedBytes = Cap } });
        const string line = "bomb,host=a v=1 1700000000000000000\n";
        var body = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(line, 6 * Cap / line.Length)));
        var compressed = Compress(compression, body);
        Assert.True(compressed.Length < 64 * 1024, $"{compressed.Length} bytes");
        using var response = await server.SendAsync("/write?db=lpbomb", new ByteArrayContent(compressed), contentEncoding);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var message = ErrorOf(await response.Content.ReadAsStringAsync());
        Assert.StartsWith($"the decompressed body is larger than ingest.max_decompressed_size ({Cap} bytes); ", message, StringComparison.Ordinal);
        var stored = long.Parse(Regex.Match(message, @"; (\d+) points before that point were stored$").Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(stored, Cap / 2 / line.Length, Cap / line.Length);

        await server.Server.Engine.FlushAsync();
        Assert.Equal(stored.ToString(System.Globalization.CultureInfo.InvariantCulture),
            (await server.RowsAsync("SELECT count(*) FROM bomb", "lpbomb"))[0][0]);
    }

    /// <summary>Zeros, the classic bomb: one endless "line" that is never stored, stopped at the cap.</summary>
    [Theory]
    [InlineData("gzip", "/write?db=zeros")]
    [InlineData("zstd", "/write?db=zeros")]
    [InlineData("gzip", "/api/v1/write/msgpack")]
    [InlineData("zstd", "/api/v1/write/msgpack")]
    public async Task ZeroBombsAre413OnBothFormats(string compression, string path)
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Writes = c.Engine.Writes with { MaxDecompressedBytes = Cap } });
        var compressed = Compress(compression, new byte[8 * Cap]);
        Assert.True(compressed.Length < 16 * 1024, $"{compressed.Length} bytes");
        using var response = await server.SendAsync(path, new ByteArrayContent(compressed), null, "zeros");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.StartsWith($"the decompressed body is larger than ingest.max_decompressed_size ({Cap} bytes)",
            ErrorOf(await response.Content.ReadAsStringAsync()), StringComparison.Ordinal);

        using var healthy = await server.WriteAsync("/write?db=zeros", "after v=1\n");
        Assert.Equal(HttpStatusCode.NoContent, healthy.StatusCode);
    }

    /// <summary>
    /// MessagePack stays all or nothing: a valid body of 200,000 rows, compressed, over the cap writes nothing; under a
    /// large enough cap the same body is stored whole; a plain body over the cap is stopped while it is read.
    /// </summary>
    [Fact]
    public async Task MessagePackOverTheCapStoresNothingAndUnderItStoresEverything()
    {
        var values = Enumerable.Range(0, 200_000).Select(i => (object?)(long)i).ToArray();
        var body = Serialize(Map(("m", "mp"), ("columns", Map(("v", values)))));
        Assert.True(body.Length > Cap, $"{body.Length} bytes");
        await using (var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Writes = c.Engine.Writes with { MaxDecompressedBytes = Cap } }))
        {
            foreach (var compressed in new[] { Compress("gzip", body), Compress("zstd", body) })
            {
                using var response = await Post(server, compressed, database: "mpcap");
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
                Assert.StartsWith("the decompressed body is larger than ingest.max_decompressed_size",
                    ErrorOf(await response.Content.ReadAsStringAsync()), StringComparison.Ordinal);
            }

            using (var plain = await Post(server, body, database: "mpcap"))
            {
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, plain.StatusCode);
                Assert.StartsWith($"the body is larger than ingest.max_decompressed_size ({Cap} bytes)",
                    ErrorOf(await plain.Content.ReadAsStringAsync()), StringComparison.Ordinal);
            }

            await server.Server.Engine.FlushAsync();
            Assert.Empty(server.ParquetFiles());
        }

        await using (var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Writes = c.Engine.Writes with { MaxDecompressedBytes = 4 * Cap } }))
        {
            foreach (var compressed in new[] { Compress("gzip", body), Compress("zstd", body) })
            {
                using var response = await Post(server, compressed, database: "mpcap");
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }

            await server.Server.Engine.FlushAsync();
            Assert.Equal([["400000", "39999800000"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM mp", "mpcap"));
        }
    }

    [Fact]
    public async Task MessagePackStatsCountTheCompressedBytesReceived()
    {
        await using var server = await TestServer.StartAsync();
        var compressed = Compress("zstd", Serialize(Map(("m", "st"), ("columns", Map(("v", Arr(1L, 2L, 3L)))))));
        using (var response = await Post(server, compressed, database: "st"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        using var json = JsonDocument.Parse(await server.Client.GetStringAsync("/api/v1/write/stats"));
        Assert.Equal(compressed.Length, json.RootElement.GetProperty("msgpack").GetProperty("bytes_received").GetInt64());
    }

    internal static byte[] Compress(string compression, byte[] body)
    {
        if (compression == "zstd")
        {
            return Zstd(body);
        }

        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(body);
        }

        return output.ToArray();
    }

    private static string ErrorOf(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("error").GetString()!;
    }
}

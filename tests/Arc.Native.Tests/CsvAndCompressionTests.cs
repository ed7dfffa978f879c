using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Arc.Native.Http;
using static Arc.Native.Tests.QueryOutputHelpers;

namespace Arc.Native.Tests;

public sealed class CsvAndCompressionTests(QueryOutputFixture fixture) : IClassFixture<QueryOutputFixture>
{
    private const string Csv = "/api/v1/query/stream";
    private readonly TestServer _server = fixture.Server;

    [Fact]
    public async Task EveryColumnTypeIsFormattedLikeJson()
    {
        var (status, body, response) = await PostAsync(_server, Csv, AllTypesSql);
        Assert.Equal(200, status);
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        var text = Encoding.UTF8.GetString(body);
        Assert.Equal(
            "b,i8,i16,i32,i64,u8,u16,u32,u64,i128,f32,f64,dec,dec0,s,bin,d,t,ts,tstz,tsns,tsms,tss,iv,u,l,st,m,arr,e,n\r\n" +
            "true,1,-2,3,9223372036854775807,255,65535,4294967295,18446744073709551615,170141183460469231731687303715884105727,1.5,NaN," +
            "123.4500,42,\"é\"\",x\ny\",qrs=,2024-02-29,13:45:01.5,2024-01-02T03:04:05.123456Z,2024-01-02T03:04:05Z," +
            "2024-01-02T03:04:05.000000001Z,2024-01-02T03:04:05.12Z,1969-12-31T23:59:59Z,P1M2DT3.5S,6ba7b810-9dad-11d1-80b4-00c04fd430c8," +
            "\"[1,null,3]\",\"{\"\"a\"\":1,\"\"b\"\":\"\"x\"\"}\",\"{\"\"k\"\":1}\",\"[1,2]\",b,\r\n",
            text);
    }

    [Fact]
    public async Task QuotingFollowsRfc4180AndRoundTrips()
    {
        string[] values = ["plain", "a,b", "say \"hi\"", "two\r\nlines", "lf\nonly", " padded ", "", "é ü 中", "\"", ",,"];
        var sql = "SELECT * FROM (VALUES " + string.Join(", ", values.Select((v, i) => $"({i}, '{v.Replace("'", "''", StringComparison.Ordinal)}')")) +
                  ", (99, NULL)) AS t(\"id, \"\"quoted\"\"\", v) ORDER BY 1";
        var (status, body, _) = await PostAsync(_server, Csv, sql);
        Assert.Equal(200, status);
        var records = ParseCsv(Encoding.UTF8.GetString(body));
        Assert.Equal(new string?[] { "id, \"quoted\"", "v" }, records[0]);
        var expected = values.Select((v, i) => new string?[] { i.ToString(System.Globalization.CultureInfo.InvariantCulture), v }).ToList();
        expected.Add(["99", null]);
        Assert.Equal(expected, records.Skip(1));
    }

    /// <summary>A strict RFC 4180 reader: CRLF record ends, quoted fields with doubled quotes; an unquoted empty field is null.</summary>
    private static List<string?[]> ParseCsv(string text)
    {
        var records = new List<string?[]>();
        var fields = new List<string?>();
        var i = 0;
        while (i < text.Length)
        {
            string? field;
            if (text[i] == '"')
            {
                var value = new StringBuilder();
                i++;
                while (true)
                {
                    if (text[i] == '"' && i + 1 < text.Length && text[i + 1] == '"')
                    {
                        value.Append('"');
                        i += 2;
                    }
                    else if (text[i] == '"')
                    {
                        i++;
                        break;
                    }
                    else
                    {
                        value.Append(text[i++]);
                    }
                }

                field = value.ToString();
            }
            else
            {
                var end = i;
                while (end < text.Length && text[end] != ',' && text[end] != '\r')
                {
                    Assert.NotEqual('"', text[end]);
                    Assert.NotEqual('\n', text[end]);
                    end++;
                }

                field = end == i ? null : text[i..end];
                i = end;
            }

            fields.Add(field);
            if (text[i] == ',')
            {
                i++;
                continue;
            }

            Assert.Equal("\r\n", text.Substring(i, 2));
            i += 2;
            records.Add(fields.ToArray());
            fields.Clear();
        }

        return records;
    }

    [Fact]
    public async Task MeasurementRowsAndEmptyResults()
    {
        var (status, body, _) = await PostAsync(_server, Csv, "SELECT time, host, usage, ok, note FROM cpu WHERE count < 2 ORDER BY time", "metrics");
        Assert.Equal(200, status);
        Assert.Equal("time,host,usage,ok,note\r\n2023-11-14T22:13:20Z,h0,0,true,\"n, \"\"0\"\"\"\r\n2023-11-14T22:13:21.000000001Z,h1,1.5,false,\"n, \"\"1\"\"\"\r\n",
            Encoding.UTF8.GetString(body));
        (status, body, _) = await PostAsync(_server, Csv, "SELECT host FROM cpu WHERE false", "metrics");
        Assert.Equal(200, status);
        Assert.Equal("host\r\n", Encoding.UTF8.GetString(body));
    }

    [Fact]
    public async Task ErrorsBeforeTheFirstRowAreJson400sAndLaterOnesAbort()
    {
        var (status, body, _) = await PostAsync(_server, Csv, "SELECT * FROM nope");
        Assert.Equal(400, status);
        Assert.Contains("nope", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        (status, body, _) = await PostAsync(_server, Csv, "SELECT 1::BIT");
        Assert.Equal(400, status);
        Assert.Contains("not supported", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);

        using var response = await _server.Client.SendAsync(Request(Csv, ArrowOutputTests.FailingSql), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        await ArrowOutputTests.AssertTruncatedAsync(response, bytes => Task.FromResult((long)Encoding.UTF8.GetString(bytes).Split("\r\n").Length - 2));
    }

    [Theory]
    [InlineData("/api/v1/query", "gzip")]
    [InlineData("/api/v1/query", "zstd")]
    [InlineData(Csv, "gzip")]
    [InlineData(Csv, "zstd")]
    [InlineData("/api/v1/query/msgpack", "gzip")]
    [InlineData("/api/v1/query/msgpack", "zstd")]
    public async Task AcceptEncodingCompressesTheBody(string path, string encoding)
    {
        const string sql = "SELECT range AS i, 'value ' || (range % 100) AS s FROM range(20000) ORDER BY range";
        var (status, plain, _) = await PostAsync(_server, path, sql);
        Assert.Equal(200, status);
        var (compressedStatus, compressed, response) = await PostAsync(_server, path, sql, null, ("Accept-Encoding", encoding));
        Assert.Equal(200, compressedStatus);
        Assert.Equal([encoding], response.Content.Headers.ContentEncoding);
        Assert.Contains("Accept-Encoding", response.Headers.Vary);
        Assert.True(compressed.Length < plain.Length / 3, $"{encoding}: {compressed.Length} bytes vs {plain.Length}");
        var decoded = Decompress(compressed, encoding);
        if (path == Csv)
        {
            Assert.Equal(plain, decoded);
        }
        else if (path.EndsWith("msgpack", StringComparison.Ordinal))
        {
            Assert.Equal(List(Get(DecodeMsgPack(plain), "data")).Select(List).SelectMany(c => c),
                List(Get(DecodeMsgPack(decoded), "data")).Select(List).SelectMany(c => c));
        }
        else
        {
            Assert.Equal(JsonDocument.Parse(plain).RootElement.GetProperty("data").GetRawText(),
                JsonDocument.Parse(decoded).RootElement.GetProperty("data").GetRawText());
        }
    }

    [Fact]
    public async Task ArrowIgnoresAcceptEncodingAndErrorsAreNotCompressed()
    {
        var (status, _, response) = await PostAsync(_server, "/api/v1/query/arrow", "SELECT 1", null, ("Accept-Encoding", "gzip"));
        Assert.Equal(200, status);
        Assert.Empty(response.Content.Headers.ContentEncoding);
        var (errorStatus, body, errorResponse) = await PostAsync(_server, "/api/v1/query", "SELECT 1::BIT", null, ("Accept-Encoding", "gzip"));
        Assert.Equal(400, errorStatus);
        Assert.Empty(errorResponse.Content.Headers.ContentEncoding);
        Assert.False(JsonDocument.Parse(body).RootElement.GetProperty("success").GetBoolean());
    }

    private static byte[] Decompress(byte[] body, string encoding)
    {
        using Stream decoder = encoding == "gzip"
            ? new GZipStream(new MemoryStream(body), CompressionMode.Decompress)
            : new ZstdSharp.DecompressionStream(new MemoryStream(body));
        using var output = new MemoryStream();
        decoder.CopyTo(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData("gzip, deflate, br, zstd", "zstd")]
    [InlineData("gzip", "gzip")]
    [InlineData("zstd;q=0.5, gzip;q=0.8", "gzip")]
    [InlineData("gzip;q=0, zstd;q=0", null)]
    [InlineData("*", "gzip")]
    [InlineData("identity", null)]
    [InlineData("", null)]
    [InlineData("br", null)]
    public void AcceptEncodingNegotiation(string header, string? expected) => Assert.Equal(expected, ResponseBody.Negotiate(header));

    [Theory]
    [InlineData("/api/v1/query", "")]
    [InlineData("/api/v1/query", "gzip")]
    [InlineData(Csv, "zstd")]
    [InlineData("/api/v1/query/arrow", "")]
    public async Task LargeResultsStreamInsteadOfBuffering(string path, string encoding)
    {
        // 200 million rows are gigabytes of output: the first megabyte can only arrive quickly if rows are sent as DuckDB
        // produces them. Closing the response early must also stop the query and free its connection.
        var watch = Stopwatch.StartNew();
        var headers = encoding.Length == 0 ? [] : new[] { ("Accept-Encoding", encoding) };
        using (var response = await _server.Client.SendAsync(Request(path, "SELECT range AS i, range * 2 AS j FROM range(200000000)", null, headers),
                   HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            await using var stream = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            long total = 0;
            while (total < (1 << 20))
            {
                var read = await stream.ReadAsync(buffer);
                Assert.True(read > 0, "the stream ended early");
                total += read;
            }
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"first megabyte took {watch.Elapsed}");
        for (var i = 0; i < _server.Config.Engine.QueryConnections + 1; i++)
        {
            Assert.Equal([["1"]], await _server.RowsAsync("SELECT 1"));
        }
    }
}

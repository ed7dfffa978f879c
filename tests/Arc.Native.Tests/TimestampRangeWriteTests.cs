using System.Net;
using System.Text.Json;
using static Arc.Native.Tests.MessagePack.MsgPackWriteTests;

namespace Arc.Native.Tests;

/// <summary>
/// Times a write may carry, over HTTP: only what DuckDB's <c>TIMESTAMP_NS</c> holds (1677-09-22 to 2262-04-11; ±(2^63−1)
/// are its infinities) is stored, on both ingest formats; a MessagePack epoch gets its unit from its absolute value.
/// </summary>
public sealed class TimestampRangeWriteTests
{
    [Fact]
    public async Task LineProtocolTimestampsOutsideDuckDbsRangeAreRejectedWithTheirPosition()
    {
        await using var server = await TestServer.StartAsync();
        const string body =
            "m v=1 1700000000000000000\n" +
            "m v=2 9223372036854775807\n" + // would be stored as +infinity
            "m v=3 -9223372036854775807\n" + // -infinity
            "m v=4 -9223286400000000000\n" + // 1677-09-22T00:00:00Z, the first instant DuckDB holds
            "m v=5 9223372036854775806\n" + // the last one
            "m v=6 -9223286400000000001\n";
        using var response = await server.WriteAsync("/write?db=ts", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(3, json.RootElement.GetProperty("accepted").GetInt64());
        var errors = json.RootElement.GetProperty("errors").EnumerateArray().ToList();
        Assert.Equal([2L, 3L, 6L], errors.Select(e => e.GetProperty("line").GetInt64()));
        Assert.All(errors, e => Assert.Equal(7, e.GetProperty("column").GetInt32()));
        Assert.All(errors, e => Assert.StartsWith("timestamp out of range", e.GetProperty("message").GetString(), StringComparison.Ordinal));

        using var seconds = await server.WriteAsync("/write?db=ts&precision=s", "m v=7 -9223286401\n");
        Assert.Equal(HttpStatusCode.BadRequest, seconds.StatusCode);
        Assert.Contains("line 1, column 7: timestamp out of range", await seconds.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await server.Server.Engine.FlushAsync();
        Assert.Equal(
            [["4", "-9223286400000000000", "1677-09-22 00:00:00"], ["1", "1700000000000000000", "2023-11-14 22:13:20"],
                ["5", "9223372036854775806", "2262-04-11 23:47:16.854775806"]],
            await server.RowsAsync("SELECT v, epoch_ns(time)::VARCHAR, time::VARCHAR FROM m ORDER BY time", "ts"));
    }

    [Fact]
    public async Task MessagePackTimesOutsideDuckDbsRangeAreRejectedWholeWithTheirOffset()
    {
        await using var server = await TestServer.StartAsync();
        foreach (var time in new object[] { long.MaxValue, -long.MaxValue, -9_223_286_401L, 9_999_999_999_999L })
        {
            var body = Serialize(Map(("m", "mp"), ("columns", Map(("time", Arr(1_700_000_000L, time)), ("v", Arr(1.0, 2.0))))));
            using var response = await Post(server, body, database: "ts");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.StartsWith("'time' is out of range", json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.InRange(json.RootElement.GetProperty("offset").GetInt64(), 1, body.Length - 1);
        }

        using (var row = await Post(server, Serialize(Map(("m", "mp"), ("t", long.MaxValue), ("fields", Map(("v", 1.0))))), database: "ts"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, row.StatusCode);
            Assert.Contains("'t' is out of range", await row.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var nan = await Post(server, Serialize(Map(("m", "mp"), ("t", double.NaN), ("fields", Map(("v", 1.0))))), database: "ts"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, nan.StatusCode);
            Assert.Contains("'t' must be a finite number, got NaN", await nan.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await server.Server.Engine.FlushAsync();
        Assert.Empty(server.ParquetFiles());
    }

    [Fact]
    public async Task NegativeMessagePackEpochsMirrorPositiveOnes()
    {
        await using var server = await TestServer.StartAsync();
        // ±1e12 are milliseconds and ±1e15 microseconds: the same instants 1e9 seconds after and before the epoch; ±1e9 is
        // seconds and ±1e18 nanoseconds, the same instants again.
        long[] times = [1_000_000_000_000L, -1_000_000_000_000L, 1_000_000_000_000_000L, -1_000_000_000_000_000L,
            1_000_000_000L, -1_000_000_000L, 1_000_000_000_000_000_000L, -1_000_000_000_000_000_000L];
        var body = Serialize(Map(("m", "e"), ("columns", Map(
            ("time", times.Select(t => (object?)t).ToArray()), ("i", Enumerable.Range(0, times.Length).Select(i => (object?)(long)i).ToArray())))));
        using (var response = await Post(server, body, database: "ts"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        await server.Server.Engine.FlushAsync();
        var rows = await server.RowsAsync("SELECT i, time FROM e ORDER BY i", "ts");
        Assert.Equal(Enumerable.Range(0, times.Length).Select(i => i % 2 == 0 ? "2001-09-09T01:46:40Z" : "1938-04-24T22:13:20Z"),
            rows.Select(r => r[1]));
    }
}

using System.Net;
using System.Text.Json;
using Arc.Engine.Auth;

namespace Arc.Native.Tests;

/// <summary>
/// Arc's side routes of the line-protocol writer, which its migration scripts and test harnesses call: a flush that makes
/// buffered points Parquet files at once (admin only, as in Arc), the writer's counters and its health answer.
/// </summary>
public sealed class LineProtocolSideRouteTests
{
    [Fact]
    public async Task FlushWritesTheBuffersAndStatsCountTheWrites()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/api/v1/write/line-protocol", "m,host=a v=1 1700000000000000000\n", database: "lp"))
            .StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await server.WriteAsync("/write?db=lp", "m v=2 1700000000000000001\nm v= 3\n")).StatusCode);
        Assert.Empty(server.ParquetFiles());

        using var flushed = await server.Client.PostAsync("/api/v1/write/line-protocol/flush", null);
        Assert.Equal(HttpStatusCode.OK, flushed.StatusCode);
        Assert.Equal("""{"status":"success","message":"All buffers flushed"}""", await flushed.Content.ReadAsStringAsync());
        Assert.NotEmpty(server.ParquetFiles());

        var stats = JsonDocument.Parse(await (await server.Client.GetAsync("/api/v1/write/line-protocol/stats")).Content.ReadAsStringAsync())
            .RootElement;
        Assert.Equal("success", stats.GetProperty("status").GetString());
        var counters = stats.GetProperty("stats");
        Assert.Equal((2L, 2L, 1L, 1L), (counters.GetProperty("total_requests").GetInt64(), counters.GetProperty("total_records").GetInt64(),
            counters.GetProperty("total_records_rejected").GetInt64(), counters.GetProperty("total_errors").GetInt64()));
        Assert.True(counters.GetProperty("total_bytes").GetInt64() > 40);

        using var health = await server.Client.GetAsync("/api/v1/write/line-protocol/health");
        Assert.Equal("""{"status":"healthy","service":"line_protocol_writer"}""", await health.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task OnlyAnAdminMayFlush()
    {
        await using var server = await TestServer.StartAsync();
        var (_, secret) = server.Server.Engine.Tokens!.Create("writer", null, Permission.Read | Permission.Write, null, null);
        using var writer = server.NewClient(secret);

        Assert.Equal(HttpStatusCode.Forbidden, (await writer.PostAsync("/api/v1/write/line-protocol/flush", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await writer.GetAsync("/api/v1/write/line-protocol/stats")).StatusCode);
    }
}

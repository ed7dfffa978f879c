using System.Globalization;
using System.Net;
using System.Text;

namespace Arc.Native.Tests;

/// <summary>
/// A continuous query on object storage (a real Ceph radosgw): its output is uploaded like any write, and a cold server
/// reads it from the bucket equal to the aggregation run directly.
/// </summary>
[Collection("ceph")]
public sealed class ContinuousQueryObjectStorageTests(CephFixture ceph)
{
    private const long T0 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z

    private const string Aggregation =
        "SELECT time_bucket(INTERVAL '10 minutes', time) AS time, host, count(*) AS n, sum(v) AS total FROM cpu " +
        "WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2";

    [Fact]
    public async Task TheOutputIsUploadedAndAColdServerReadsItFromTheBucket()
    {
        var bucket = ceph.NewBucket();
        var lines = new StringBuilder();
        for (var i = 0; i < 120; i++)
        {
            lines.Append(CultureInfo.InvariantCulture, $"cpu,host=h{i % 3} v={i}i {T0 + (i * 60_000_000_000L)}\n");
        }

        List<string[]> direct;
        await using (var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket }))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=cqs3", lines.ToString())).StatusCode);
            var id = await CreateAsync(server);
            Assert.Equal(36, await ExecuteAsync(server, id));
            await server.Server.Engine.FlushAsync();
            Assert.True(await server.Server.Engine.DrainUploadsAsync(TimeSpan.FromSeconds(30)));
            direct = await server.RowsAsync(
                "SELECT epoch_ns(time_bucket(INTERVAL '10 minutes', time)), host, count(*), CAST(sum(v) AS DOUBLE) FROM cpu GROUP BY 1, 2 ORDER BY 1, 2", "cqs3");
        }

        await using var cold = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket });
        Assert.Empty(cold.ParquetFiles());
        Assert.Equal(direct, await cold.RowsAsync("SELECT epoch_ns(time), host, n, total FROM cpu_10m ORDER BY 1, 2", "cqs3"));
    }

    [Fact]
    public async Task AColdServerCreatesAQueryOverASourceNoneOfWhoseFilesItHolds()
    {
        var bucket = ceph.NewBucket();
        var lines = new StringBuilder();
        for (var i = 0; i < 120; i++)
        {
            lines.Append(CultureInfo.InvariantCulture, $"cpu,host=h{i % 3} v={i}i {T0 + (i * 60_000_000_000L)}\n");
        }

        await using (var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket }))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=cqs3", lines.ToString())).StatusCode);
            await server.Server.Engine.FlushAsync();
            Assert.True(await server.Server.Engine.DrainUploadsAsync(TimeSpan.FromSeconds(30)));
        }

        // No file of cpu is cached and none lies in the window a definition is checked over (now): its columns (host, v)
        // are still known to the check, the run fetches the files of its window and the output is the direct aggregation.
        await using var cold = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket });
        Assert.Empty(cold.ParquetFiles());
        var id = await CreateAsync(cold);
        Assert.Equal(36, await ExecuteAsync(cold, id));
        Assert.Equal(
            await cold.RowsAsync("SELECT epoch_ns(time_bucket(INTERVAL '10 minutes', time)), host, count(*), CAST(sum(v) AS DOUBLE) FROM cpu GROUP BY 1, 2 ORDER BY 1, 2", "cqs3"),
            await cold.RowsAsync("SELECT epoch_ns(time), host, n, total FROM cpu_10m ORDER BY 1, 2", "cqs3"));
    }

    private static async Task<long> CreateAsync(TestServer server)
    {
        var (status, body) = await ExportTestData.PostJsonAsync(server.Client, "/api/v1/continuous_queries", w =>
        {
            w.WriteString("name", "cpu_10m");
            w.WriteString("database", "cqs3");
            w.WriteString("source_measurement", "cpu");
            w.WriteString("destination_measurement", "cpu_10m");
            w.WriteString("query", Aggregation);
            w.WriteString("interval", "1h");
            w.WriteStartArray("tag_columns");
            w.WriteStringValue("host");
            w.WriteEndArray();
        });
        Assert.True(status == HttpStatusCode.Created, $"{status}: {body}");
        return body.GetProperty("query").GetProperty("id").GetInt64();
    }

    private static async Task<long> ExecuteAsync(TestServer server, long id)
    {
        var (status, body) = await ExportTestData.PostJsonAsync(server.Client, $"/api/v1/continuous_queries/{id}/execute", w =>
        {
            w.WriteString("start_time", "2025-01-01T00:00:00Z");
            w.WriteString("end_time", "2025-01-01T02:00:00Z");
        });
        Assert.True(status == HttpStatusCode.OK, $"{status}: {body}");
        Assert.Equal("completed", body.GetProperty("status").GetString());
        return body.GetProperty("records_written").GetInt64();
    }
}

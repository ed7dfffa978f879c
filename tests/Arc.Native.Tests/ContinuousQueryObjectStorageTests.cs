using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Native.Tests;

/// <summary>
/// A continuous query on object storage (a real Ceph radosgw): its output is uploaded like any write, and a cold server
/// reads it from the bucket equal to the aggregation run directly; a cold server creates one over a source none of whose
/// files it holds; and a late window's output is replaced in the bucket, not duplicated.
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

    [Fact]
    public async Task ALateWindowsOutputIsReplacedInTheBucket()
    {
        var bucket = ceph.NewBucket();
        var clock = new FakeTimeProvider(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var lines = new StringBuilder();
        for (var i = 0; i < 120; i++)
        {
            lines.Append(CultureInfo.InvariantCulture, $"cpu,host=h{i % 3} v={i}i {T0 + (i * 60_000_000_000L)}\n");
        }

        await using (var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket, Time = clock }))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=cqs3", lines.ToString())).StatusCode);
            var id = await CreateAsync(server);
            clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(10)); // the window 00:00-01:00 runs
            await WaitAsync(server, clock, id, q => q.GetProperty("last_processed_time").GetString() == "2025-01-01T01:00:00Z");
            await server.Server.Engine.FlushAsync(); // the output is in a file, uploaded: the recompute rewrites it in the bucket
            Assert.True(await server.Server.Engine.DrainUploadsAsync(TimeSpan.FromSeconds(30)));

            Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=cqs3", $"cpu,host=h0 v=1000i {T0 + (25 * 60_000_000_000L)}\n")).StatusCode);
            clock.Advance(TimeSpan.FromSeconds(10));
            await WaitAsync(server, clock, id, q => q.GetProperty("late_windows_pending").GetInt32() == 0);
            await server.Server.Engine.FlushAsync();
            Assert.True(await server.Server.Engine.DrainUploadsAsync(TimeSpan.FromSeconds(30)));
        }

        // A cold server reads the window's output from the bucket: once, with the late row.
        await using var cold = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket, Time = clock });
        Assert.Equal(
            await cold.RowsAsync("SELECT epoch_ns(time_bucket(INTERVAL '10 minutes', time)), host, count(*), CAST(sum(v) AS DOUBLE) FROM cpu " +
                                 "WHERE time < '2025-01-01T01:00:00Z' GROUP BY 1, 2 ORDER BY 1, 2", "cqs3"),
            await cold.RowsAsync("SELECT epoch_ns(time), host, n, total FROM cpu_10m ORDER BY 1, 2", "cqs3"));
    }

    /// <summary>Waits for the scheduler, moving the fake clock a second (its tick) at a time.</summary>
    private static async Task WaitAsync(TestServer server, FakeTimeProvider clock, long id, Func<System.Text.Json.JsonElement, bool> done)
    {
        var text = "";
        for (var i = 0; i < 600; i++)
        {
            text = await server.Client.GetStringAsync($"/api/v1/continuous_queries/{id}");
            if (done(System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("query")))
            {
                return;
            }

            await Task.Delay(50);
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Fail("the scheduler did not get there: " + text);
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

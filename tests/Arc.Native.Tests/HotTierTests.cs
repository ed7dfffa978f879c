using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>
/// The hot tier on a real server: after a flush, a last-hour panel opens no Parquet file (its rows are read from memory,
/// arc_query_files_total does not move, arc_query_files_hot_total does) and answers as the same server does with
/// <c>query.hot_data_size_mb = 0</c> after a restart, which reads every row from Parquet (nothing was only in memory).
/// </summary>
public sealed class HotTierTests : IAsyncLifetime
{
    private static readonly string[] Panels =
    [
        "SELECT time_bucket(INTERVAL '1 minute', time) AS t, host, avg(usage) AS usage, count(*) AS n FROM cpu WHERE time > now() - INTERVAL 1 HOUR GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT time, host, region, usage, up, note FROM cpu WHERE host = 'h1' AND time > now() - INTERVAL 1 HOUR ORDER BY time",
        "SELECT count(*), count(region), count(note), sum(usage), bool_and(up) FROM cpu",
    ];

    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false }, HotDataBytes = 256L << 20 });
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var body = new StringBuilder();
        for (var i = 0; i < 120; i++)
        {
            var region = i % 4 == 0 ? "" : $",region=r{i % 3}";
            var note = i % 5 == 0 ? "" : $",note=\"n{i}\"";
            body.Append(CultureInfo.InvariantCulture, $"cpu,host=h{i % 3}{region} usage={i * 0.5},up={(i % 7 != 0 ? "true" : "false")}{note} {now - 3000 + (i * 20)}\n");
        }

        body.Append(CultureInfo.InvariantCulture, $"cpu,host=h0 usage=1 {now - (3 * 86400)}\n"); // an older day, in its own file
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=p&precision=s", body.ToString())).StatusCode);
        await _server.Server.Engine.FlushAsync();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ALastHourPanelAfterAFlushOpensNoParquetFileAndAnswersAsParquetDoes()
    {
        var files = _server.ParquetFiles().Length;
        Assert.True(files >= 2, $"{files} files");
        using (var cursor = await _server.Server.Engine.Query.OpenAsync(Panels[0], "p", CancellationToken.None))
        {
            Assert.Equal(0, cursor.FilesListed);
            Assert.InRange(cursor.FilesHot, 1, 2); // the one or two clock hours the last hour touches
        }

        var before = await MetricsAsync();
        var hot = new List<List<string[]>>();
        foreach (var sql in Panels)
        {
            hot.Add(await _server.RowsAsync(sql, "p"));
        }

        var after = await MetricsAsync();
        Assert.Equal(0, after.Opened - before.Opened); // not one Parquet file opened, even by the query over all time
        Assert.InRange(after.Hot - before.Hot, files + 2, files + 4); // the last hour's one or two files twice, then every file
        Assert.True(after.HotBytes > 0);
        Assert.Equal("121", hot[2][0][0]);

        // With the tier off, after a restart: every row from Parquet, the same answers.
        _server = await _server.RestartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false }, HotDataBytes = 0 });
        using (var cursor = await _server.Server.Engine.Query.OpenAsync(Panels[0], "p", CancellationToken.None))
        {
            Assert.Equal(0, cursor.FilesHot);
            Assert.InRange(cursor.FilesListed, 1, 2);
        }

        for (var i = 0; i < Panels.Length; i++)
        {
            Assert.Equal(hot[i], await _server.RowsAsync(Panels[i], "p"));
        }

        Assert.Equal(0, (await MetricsAsync()).HotBytes);
    }

    [Fact]
    public async Task MoreRowsFlushedWithinAMinuteThanTheTierHoldsAreReadFromParquetAndTheMetricsSaySo()
    {
        var families = PrometheusOpsParser.Parse(await _server.Client.GetStringAsync("/metrics"));
        Assert.Equal((0, 0), (families["arc_hot_stepped_aside"].Samples.Single().Value, families["arc_hot_steps_aside_total"].Samples.Single().Value));

        // 1 MB of tier, the default minute: one flush of 40,000 rows is more than it could keep for a minute.
        await using var busy = await TestServer.StartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false }, HotDataBytes = 1L << 20 });
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var body = new StringBuilder();
        for (var i = 0; i < 40_000; i++)
        {
            body.Append(CultureInfo.InvariantCulture, $"cpu,host=h{i % 50} usage={i * 0.5},idle={i % 100}i,system={i * 0.25} {now - 600 + (i / 100)}\n");
        }

        Assert.Equal(HttpStatusCode.NoContent, (await busy.WriteAsync("/write?db=p&precision=s", body.ToString())).StatusCode);
        await busy.Server.Engine.FlushAsync();
        families = PrometheusOpsParser.Parse(await busy.Client.GetStringAsync("/metrics"));
        Assert.Equal((1, 1, 0), (families["arc_hot_stepped_aside"].Samples.Single().Value, families["arc_hot_steps_aside_total"].Samples.Single().Value,
            families["arc_hot_bytes"].Samples.Single().Value));
        using (var memory = JsonDocument.Parse(await busy.Client.GetStringAsync("/api/v1/metrics/memory")))
        {
            Assert.True(memory.RootElement.GetProperty("memory").GetProperty("hot_stepped_aside").GetBoolean());
        }

        using (var cursor = await busy.Server.Engine.Query.OpenAsync(Panels[0], "p", CancellationToken.None))
        {
            Assert.Equal(0, cursor.FilesHot);
            Assert.True(cursor.FilesListed >= 1, $"{cursor.FilesListed} files");
        }

        Assert.Equal("40000", (await busy.RowsAsync("SELECT count(*) FROM cpu", "p")).Single().Single());
    }

    private async Task<(double Opened, double Hot, double HotBytes)> MetricsAsync()
    {
        var families = PrometheusOpsParser.Parse(await _server.Client.GetStringAsync("/metrics"));
        return (families["arc_query_files_total"].Samples.Single().Value, families["arc_query_files_hot_total"].Samples.Single().Value,
            families["arc_hot_bytes"].Samples.Single().Value);
    }
}

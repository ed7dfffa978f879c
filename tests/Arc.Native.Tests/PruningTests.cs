using System.Globalization;
using System.Net;
using System.Text;

namespace Arc.Native.Tests;

/// <summary>
/// Queries read only the files their time filter needs (the manifest's partitions), with the same answers as reading all
/// of them; the view's columns do not depend on which files a query reads; DESCRIBE reads no data file. The hot tier is
/// off: every flushed file is read from Parquet (HotTierTests covers the files it answers from memory).
/// </summary>
public sealed class PruningTests : IAsyncLifetime
{
    private const int Hours = 48;
    private TestServer _server = null!;
    private long _nowSeconds;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false }, HotDataBytes = 0 });

        // One point every 10 minutes for 48 hours, 5 minutes off every whole hour back from now; each hour flushed on its own
        // (a file per clock hour it touches). The two oldest hours also have a column the newer ones lack.
        _nowSeconds = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        for (var hour = Hours - 1; hour >= 0; hour--)
        {
            var body = new StringBuilder();
            for (var slot = 0; slot < 6; slot++)
            {
                var seconds = _nowSeconds - (hour * 3600) - (slot * 600) - 300;
                var extra = hour >= Hours - 2 ? ",legacy=7i" : "";
                body.Append(CultureInfo.InvariantCulture, $"cpu,host=h{slot % 2} v={hour}{extra} {seconds}\n");
            }

            Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=p&precision=s", body.ToString())).StatusCode);
            await _server.Server.Engine.FlushAsync();
        }
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task TheLastHourOpensOnlyTheLastHoursFiles()
    {
        var files = _server.ParquetFiles().Length;
        Assert.True(files >= Hours, $"{files} files");

        using (var cursor = await _server.Server.Engine.Query.OpenAsync("SELECT count(*) FROM cpu WHERE time > now() - INTERVAL 1 HOUR", "p",
                   CancellationToken.None))
        {
            Assert.InRange(cursor.FilesListed, 1, 4); // the files of the two clock hours the last hour touches
            Assert.Equal(files - cursor.FilesListed, cursor.FilesPruned);
        }

        using (var cursor = await _server.Server.Engine.Query.OpenAsync("SELECT count(*) FROM cpu", "p", CancellationToken.None))
        {
            Assert.Equal(files, cursor.FilesListed);
        }

        using (var cursor = await _server.Server.Engine.Query.OpenAsync("DESCRIBE cpu", "p", CancellationToken.None))
        {
            Assert.Equal(0, cursor.FilesListed);
        }

        // The counters behind /metrics move the same way.
        var before = Metrics(await _server.Client.GetStringAsync("/metrics"));
        Assert.Equal([["6"]], await _server.RowsAsync("SELECT count(*) FROM cpu WHERE time > now() - INTERVAL 1 HOUR", "p"));
        var after = Metrics(await _server.Client.GetStringAsync("/metrics"));
        Assert.InRange(after.Listed - before.Listed, 1, 4);
        Assert.Equal(files, (after.Listed - before.Listed) + (after.Pruned - before.Pruned));
    }

    [Fact]
    public async Task ABoundWithAVolatileFunctionPrunesNothing()
    {
        // random() is drawn per row by the statement: one draw taken to choose the files could leave out rows another draw
        // lets through. This one always adds nothing, so the answer is the last hour's, read from every file.
        var files = _server.ParquetFiles().Length;
        const string sql = "SELECT count(*) FROM cpu WHERE time > now() - INTERVAL 1 HOUR - to_microseconds(CAST(random() * 0 AS BIGINT))";
        using (var cursor = await _server.Server.Engine.Query.OpenAsync(sql, "p", CancellationToken.None))
        {
            Assert.Equal(files, cursor.FilesListed);
            Assert.Equal(0, cursor.FilesPruned);
        }

        Assert.Equal([["6"]], await _server.RowsAsync(sql, "p"));
    }

    [Theory]
    [InlineData("SELECT count(*), sum(v) FROM cpu WHERE time > now() - INTERVAL 3 HOUR")]
    [InlineData("SELECT count(*), sum(v) FROM cpu WHERE time > now() - INTERVAL 3 HOUR AND host IN (SELECT host FROM cpu WHERE time < now() - INTERVAL 40 HOUR)")]
    [InlineData("SELECT count(*), sum(c.v) FROM cpu c JOIN cpu d ON c.time = d.time WHERE c.time > now() - INTERVAL 5 HOUR")]
    [InlineData("WITH x AS (SELECT time + INTERVAL 10 HOUR AS time, v FROM cpu) SELECT count(*), sum(v) FROM x WHERE time > now() - INTERVAL 2 HOUR")]
    [InlineData("SELECT count(*), sum(v) FROM cpu WHERE time BETWEEN now() - INTERVAL 30 HOUR AND now() - INTERVAL 20 HOUR")]
    [InlineData("SELECT count(*), sum(v) FROM cpu WHERE time > now() - INTERVAL 2 HOUR OR v = 40")]
    public async Task PrunedAnswersEqualFullAnswers(string sql)
    {
        // The same statement with the filter hidden from pruning (a CTE over the whole measurement) must agree.
        const string whole = "cpu AS (SELECT * FROM p.cpu WHERE time IS NOT NULL OR true)";
        var full = sql.StartsWith("WITH ", StringComparison.Ordinal) ? $"WITH {whole}, {sql[5..]}" : $"WITH {whole} {sql}";
        Assert.Equal(await _server.RowsAsync(full, "p"), await _server.RowsAsync(sql, "p"));
    }

    [Theory]
    [InlineData("Z", 0)]
    [InlineData("+02:00", 2)]
    [InlineData("-0530", -5.5)]
    [InlineData("", 0)]
    public async Task GrafanaLiteralBoundsPruneAndAnswerExactly(string zone, double offsetHours)
    {
        // $__timeFilter sends RFC 3339 literals; the engine reads them itself (no round trip to DuckDB) to prune.
        var from = DateTimeOffset.UtcNow.AddHours(-3).ToOffset(TimeSpan.FromHours(offsetHours));
        var to = DateTimeOffset.UtcNow.AddHours(-1).ToOffset(TimeSpan.FromHours(offsetHours));
        string Literal(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ss.fff", CultureInfo.InvariantCulture) + zone;
        var filter = zone.Length == 0
            ? $"time BETWEEN '{Literal(from.ToUniversalTime())}' AND '{Literal(to.ToUniversalTime())}'"
            : $"time >= '{Literal(from)}' AND time < '{Literal(to)}'";
        var sql = $"SELECT count(*), sum(v) FROM cpu WHERE {filter}";
        using (var cursor = await _server.Server.Engine.Query.OpenAsync(sql, "p", CancellationToken.None))
        {
            Assert.InRange(cursor.FilesListed, 1, 8);
            Assert.True(cursor.FilesPruned > Hours / 2, $"{cursor.FilesPruned} pruned");
        }

        var full = $"WITH cpu AS (SELECT * FROM p.cpu WHERE time IS NOT NULL OR true) {sql}";
        var rows = await _server.RowsAsync(sql, "p");
        Assert.Equal(await _server.RowsAsync(full, "p"), rows);
        Assert.Equal("12", rows[0][0]);
    }

    [Fact]
    public async Task ColumnsDoNotDependOnTheFilesRead()
    {
        // 'legacy' exists only in the two oldest hours; the last hour's files lack it, the schema file does not.
        Assert.Equal([["6", "0"]], await _server.RowsAsync("SELECT count(*), count(legacy) FROM cpu WHERE time > now() - INTERVAL 1 HOUR", "p"));
        Assert.Equal([["12", "12"]], await _server.RowsAsync("SELECT count(*), count(legacy) FROM cpu WHERE time < now() - INTERVAL 46 HOUR", "p"));
        var columns = (await _server.RowsAsync("DESCRIBE cpu", "p")).Select(r => r[0]).ToList();
        Assert.Equal(["host", "legacy", "time", "v"], columns.Order(StringComparer.Ordinal));

        // A restart rebuilds the manifest and the schema file from the files.
        _server = await _server.RestartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false }, HotDataBytes = 0 });
        Assert.Equal([["6", "0"]], await _server.RowsAsync("SELECT count(*), count(legacy) FROM cpu WHERE time > now() - INTERVAL 1 HOUR", "p"));
        await ManifestAssertions.MatchesDiskAsync(_server.Client, _server.DataPath, "p", "cpu");
    }

    private static (long Listed, long Pruned) Metrics(string text)
    {
        var families = PrometheusOpsParser.Parse(text);
        return ((long)families["arc_query_files_total"].Samples.Single().Value, (long)families["arc_query_files_pruned_total"].Samples.Single().Value);
    }
}

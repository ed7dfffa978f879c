using System.Net;
using System.Text.Json;
using Arc.Engine.Compaction;

namespace Arc.Native.Tests;

[LongRunning(14)]
public sealed class CompactionTests
{
    private const long T1 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    private const long Hour = 3_600_000_000_000;

    private static Task<TestServer> StartAsync(Action<CompactionOptions, Arc.Native.Configuration.ArcConfig>? configure = null) =>
        TestServer.StartAsync(c =>
        {
            var options = c.Engine.Compaction with { Enabled = false, HourlyMinFiles = 2, DailyMinFiles = 2, DailyMinAge = TimeSpan.Zero };
            c.Engine = c.Engine with { Compaction = options };
            if (configure is not null)
            {
                configure(options, c);
            }
        });

    [Fact]
    public async Task CompactionKeepsEveryRowOnceAcrossSchemasAndLetsTheLastWriteWin()
    {
        await using var server = await StartAsync();
        await WriteAndFlush(server, "m,host=a v=1 " + T1, "m,host=b v=2 " + T1);
        await WriteAndFlush(server, "m,host=a v=10 " + T1, $"m,host=c v=3,w=\"new\" {T1 + 5}");
        await WriteAndFlush(server, "m,host=a v=100 " + T1, "m,host=a v=101 " + T1, $"m v=7 {T1 + 9}");
        Assert.Equal(3, server.ParquetFiles().Length);
        Assert.Equal("7", (await server.RowsAsync("SELECT count(*) FROM m", "c"))[0][0]); // duplicates until compacted

        var jobs = await Trigger(server, "?tier=hourly&wait=true");
        var job = Assert.Single(jobs.EnumerateArray());
        Assert.True(job.GetProperty("succeeded").GetBoolean(), job.ToString());
        Assert.Equal(7, job.GetProperty("rows_in").GetInt64());
        Assert.Equal(4, job.GetProperty("rows_out").GetInt64());

        var file = Assert.Single(server.ParquetFiles());
        Assert.EndsWith("_compacted.parquet", file, StringComparison.Ordinal);
        var rows = TestServer.ReadParquet($"SELECT coalesce(host, '-'), epoch_ns(time) - {T1}, v, coalesce(w, '-') FROM '{file}'");
        // Sorted by tags then time; a, b, c, then the point without a host.
        Assert.Equal([["a", "0", "101", "-"], ["b", "0", "2", "-"], ["c", "5", "3", "new"], ["-", "9", "7", "-"]], rows);
        Assert.Equal([["4", "101"]], await server.RowsAsync("SELECT count(*), max(v) FROM m", "c"));
        Assert.Equal("[\"host\"]", TestServer.ReadParquet($"SELECT decode(value) FROM parquet_kv_metadata('{file}') WHERE decode(key) = 'arc_tags'")[0][0]);
    }

    [Fact]
    public async Task RowCountsOfAJobAreRightWithAndWithoutDuplicatesAndWithoutTags()
    {
        await using var server = await StartAsync();
        // "u" has no tags (its series is the measurement): a second write at the same time replaces the first.
        await WriteAndFlush(server, "u v=1 " + T1, $"u v=2 {T1 + 1}");
        await WriteAndFlush(server, "u v=3 " + T1, $"u v=4 {T1 + 2}");
        // "n" has tags and no point written twice: every row stays.
        await WriteAndFlush(server, "n,host=b v=1 " + T1, $"n,host=a v=2 {T1 + 1}");
        await WriteAndFlush(server, $"n,host=a v=3 {T1 + 2}", $"n,host=b v=4 {T1 + 3}", $"n,host=b v=5 {T1 + 4}");

        var jobs = (await Trigger(server, "?tier=hourly&wait=true")).EnumerateArray()
            .ToDictionary(j => j.GetProperty("partition_path").GetString()!.Split('/')[1], j => (j.GetProperty("rows_in").GetInt64(), j.GetProperty("rows_out").GetInt64()));
        Assert.Equal((4L, 3L), jobs["u"]);
        Assert.Equal((5L, 5L), jobs["n"]);
        Assert.Equal([["0", "3"], ["1", "2"], ["2", "4"]], await server.RowsAsync($"SELECT epoch_ns(time) - {T1}, v FROM u ORDER BY time", "c"));
        var file = Assert.Single(server.ParquetFiles(), f => f.Contains($"{Path.DirectorySeparatorChar}n{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        Assert.Equal([["a", "1", "2"], ["a", "2", "3"], ["b", "0", "1"], ["b", "3", "4"], ["b", "4", "5"]],
            TestServer.ReadParquet($"SELECT host, epoch_ns(time) - {T1}, v FROM '{file}'")); // tags then time
    }

    [Fact]
    public async Task ConfiguredSortKeysOrderTheCompactedFile()
    {
        await using var server = await StartAsync((o, c) => c.Engine = c.Engine with
        {
            Compaction = o with
            {
                SortKeys = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase)
                {
                    ["hits"] = ["CounterID", "absent"], // a column no file has is skipped
                    ["late"] = ["time", "k"],           // time listed: not appended again
                },
                DefaultSortKeys = ["k"],
            },
        });

        // Tagless rows (no deduplication, so by default only time would order them), each file in descending key order.
        string[] Lines(string measurement, int file) =>
            [.. Enumerable.Range(0, 4).Select(i => $"{measurement} CounterID={(4 - i) * 10}i,k={4 - i}i,v={(file * 4) + i}i {T1 + (file * 4) + i}")];
        foreach (var measurement in new[] { "hits", "other", "late" })
        {
            await WriteAndFlush(server, Lines(measurement, 0));
            await WriteAndFlush(server, Lines(measurement, 1));
        }

        var jobs = await Trigger(server, "?tier=hourly&wait=true");
        Assert.Equal(3, jobs.GetArrayLength());
        Assert.All(jobs.EnumerateArray(), j => Assert.True(j.GetProperty("succeeded").GetBoolean(), j.ToString()));

        string[] Order(string measurement) =>
            [.. TestServer.ReadParquet($"SELECT v FROM '{server.ParquetFiles().Single(f => f.Contains(Path.DirectorySeparatorChar + measurement + Path.DirectorySeparatorChar, StringComparison.Ordinal))}'")
                .Select(row => row[0]!)];
        Assert.Equal(["3", "7", "2", "6", "1", "5", "0", "4"], Order("hits"));  // CounterID, then time
        Assert.Equal(["3", "7", "2", "6", "1", "5", "0", "4"], Order("other")); // default_sort_keys: k, then time
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7"], Order("late"));  // time first
        Assert.Equal([["24", "28"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT / 3 FROM (SELECT v FROM hits UNION ALL SELECT v FROM other UNION ALL SELECT v FROM late)", "c"));
    }

    [Fact]
    public async Task DailyCompactionMergesTheHoursOfADay()
    {
        await using var server = await StartAsync();
        for (var h = 0; h < 3; h++)
        {
            await WriteAndFlush(server, $"d,host=a v={h} {T1 - (22 * Hour) + (h * Hour)}");
            await WriteAndFlush(server, $"d,host=b v={h} {T1 - (22 * Hour) + (h * Hour)}");
        }

        var hourly = await Trigger(server, "?tier=hourly&wait=true");
        Assert.Equal(3, hourly.GetArrayLength());
        var daily = await Trigger(server, "?tier=daily&wait=true");
        Assert.True(Assert.Single(daily.EnumerateArray()).GetProperty("succeeded").GetBoolean());
        var file = Assert.Single(server.ParquetFiles());
        Assert.Equal(Path.Combine(server.DataPath, "c", "d", "2023", "11", "14", "daily"), Path.GetDirectoryName(file));
        Assert.EndsWith("_daily.parquet", file, StringComparison.Ordinal);
        Assert.Equal([["6", "6"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM d", "c"));

        using var stats = await server.Client.GetAsync("/api/v1/compaction/stats");
        var body = JsonDocument.Parse(await stats.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(4, body.GetProperty("jobs_completed").GetInt64());
        Assert.Equal(9, body.GetProperty("files_compacted").GetInt64());
        Assert.True(body.GetProperty("bytes_after").GetInt64() > 0);
    }

    [Fact]
    public async Task ATruncatedFileIsQuarantinedAndTheRestCompacted()
    {
        await using var server = await StartAsync();
        await WriteAndFlush(server, $"q,host=a v=1 {T1}");
        await WriteAndFlush(server, $"q,host=b v=2 {T1 + 1}");
        await WriteAndFlush(server, $"q,host=c v=3 {T1 + 2}");
        var victim = server.ParquetFiles().Order().Last();
        var bytes = await File.ReadAllBytesAsync(victim);
        await File.WriteAllBytesAsync(victim, bytes[..(bytes.Length / 2)]);

        var job = Assert.Single((await Trigger(server, "?tier=hourly&wait=true")).EnumerateArray());
        Assert.True(job.GetProperty("succeeded").GetBoolean(), job.ToString());
        var quarantined = Assert.Single(job.GetProperty("quarantined").EnumerateArray()).GetString()!;
        Assert.Contains(Path.Combine(server.DataPath, ".quarantine"), quarantined, StringComparison.Ordinal);
        Assert.True(File.Exists(quarantined));
        Assert.True(File.Exists(quarantined + ".reason.txt"));
        Assert.False(File.Exists(victim));
        Assert.Equal([["2"]], await server.RowsAsync("SELECT count(*) FROM q", "c"));
    }

    [Fact]
    public async Task FilesStillInTheWriteAheadLogWaitForACheckpoint()
    {
        await using var server = await StartAsync((_, c) => c.Engine = c.Engine with { WalMaxSegmentAge = TimeSpan.FromHours(1) });
        await WriteAndFlush(server, $"w v=1 {T1}", checkpoint: false);
        await WriteAndFlush(server, $"w v=2 {T1 + 1}", checkpoint: false);
        Assert.Empty(await server.Server.Engine.Compaction.CandidatesAsync(CompactionTier.Hourly));
        await server.Server.Engine.CheckpointAsync();
        Assert.Single(await server.Server.Engine.Compaction.CandidatesAsync(CompactionTier.Hourly));
    }

    [Fact]
    public async Task ARestartKeepsTheOtherPartsOfAFlushWhoseFirstPartWasCompacted()
    {
        var first = await StartAsync();
        // One flush over three hours places three parts; the first hour gets a second file and is compacted, so that
        // flush's first part is gone while the write-ahead log holds a later entry of the same measurement.
        await WriteAndFlush(first, [$"p,host=a v=1 {T1}", $"p,host=a v=2 {T1 + Hour}", $"p,host=a v=3 {T1 + (2 * Hour)}"], checkpoint: true);
        await WriteAndFlush(first, $"p,host=b v=4 {T1}", checkpoint: true);
        Assert.Equal(4, first.ParquetFiles().Length);
        Assert.True(Assert.Single((await Trigger(first, "?tier=hourly&wait=true")).EnumerateArray()).GetProperty("succeeded").GetBoolean());
        await WriteAndFlush(first, $"p,host=c v=5 {T1 + (3 * Hour)}", checkpoint: false);

        await using var server = await first.RestartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false } });
        Assert.Equal([["5", "15"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM p", "c"));
        Assert.Equal(4, server.ParquetFiles().Length);
        await ManifestAssertions.MatchesDiskAsync(server.Client, server.DataPath, "c", "p");
    }

    [Fact]
    public async Task ARestartAfterAFlushCutShortReplaysItOnceAndQueriesOnlyFilesOnDisk()
    {
        var first = await StartAsync();
        await WriteAndFlush(first, [$"s,host=a v=1 {T1}", $"s,host=a v=2 {T1 + Hour}"], checkpoint: false);
        var parts = first.ParquetFiles().Order().ToArray();
        Assert.Equal(2, parts.Length);
        await first.Server.DisposeAsync();
        File.Delete(parts[1]); // the state a crash leaves between placing the first part and the second

        await using var server = await first.RestartAsync(c => c.Engine = c.Engine with { Compaction = c.Engine.Compaction with { Enabled = false } });
        Assert.Equal([["2", "3"]], await server.RowsAsync("SELECT count(*), sum(v)::BIGINT FROM s", "c"));
        Assert.DoesNotContain(parts[0], server.ParquetFiles());
        await ManifestAssertions.MatchesDiskAsync(server.Client, server.DataPath, "c", "s");
    }

    [Fact]
    public async Task QueriesDuringCompactionSeeEveryRowExactlyOnce()
    {
        // Batches of two files of 50 rows that never grow (R = 149 rows: a third file would pass it), so the run swaps files
        // many times: six batches per hour, whose outputs (100 rows, at the last level: over 149 / 4) share no point and stay.
        await using var server = await StartAsync((o, c) => c.Engine = c.Engine with { Compaction = o with { MaxFilesPerBatch = 2, LevelMaxRows = 149 } });
        var expected = 0;
        for (var f = 0; f < 36; f++)
        {
            var lines = Enumerable.Range(0, 50).Select(i => $"cq,host=h{i % 5} v={(f * 50) + i} {T1 - (Hour * (f % 3)) + (f * 50) + i}").ToArray();
            await WriteAndFlush(server, lines);
            expected += lines.Length;
        }

        using var stop = new CancellationTokenSource();
        var checks = 0;
        var queries = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal([[expected.ToString(System.Globalization.CultureInfo.InvariantCulture), expected.ToString(System.Globalization.CultureInfo.InvariantCulture)]],
                    await server.RowsAsync("SELECT count(*), count(DISTINCT v) FROM cq", "c"));
                Interlocked.Increment(ref checks);
            }
        });
        while (Volatile.Read(ref checks) < 3)
        {
            await Task.Delay(10); // the query loop is running before compaction starts
        }

        var before = Volatile.Read(ref checks);
        var jobs = await Trigger(server, "?tier=hourly&wait=true");
        var during = Volatile.Read(ref checks) - before;
        await stop.CancelAsync();
        await queries;
        // Every query asserted its count above; this only makes sure some of them overlapped the jobs.
        Assert.True(during >= 1, "no query ran while compacting");
        Assert.True(jobs.GetArrayLength() >= 18);
        Assert.All(jobs.EnumerateArray(), j => Assert.True(j.GetProperty("succeeded").GetBoolean(), j.ToString()));
        Assert.Equal(18, server.ParquetFiles().Length);
        Assert.Equal([[expected.ToString(System.Globalization.CultureInfo.InvariantCulture)]], await server.RowsAsync("SELECT count(*) FROM cq", "c"));
    }

    [Fact]
    public async Task StatusCandidatesJobsAndHistoryAreServed()
    {
        await using var server = await StartAsync();
        await WriteAndFlush(server, $"s v=1 {T1}");
        await WriteAndFlush(server, $"s v=2 {T1 + 1}");
        var status = await GetJson(server, "/api/v1/compaction/status");
        Assert.False(status.GetProperty("enabled").GetBoolean());
        Assert.Equal("5 * * * *", status.GetProperty("hourly_schedule").GetString());
        Assert.Equal("tags_time", status.GetProperty("sort_order").GetString());
        var candidates = await GetJson(server, "/api/v1/compaction/candidates?tier=hourly");
        Assert.Equal(1, candidates.GetProperty("count").GetInt32());
        var candidate = Assert.Single(candidates.GetProperty("candidates").EnumerateArray());
        Assert.Equal("c/s/2023/11/14/22", candidate.GetProperty("partition_path").GetString());
        Assert.Equal(2, candidate.GetProperty("file_count").GetInt32());
        var jobs = await GetJson(server, "/api/v1/compaction/jobs");
        Assert.Equal(0, jobs.GetProperty("active_jobs").GetInt32());
        Assert.Empty(jobs.GetProperty("jobs").EnumerateArray());
        using (var bad = await server.Client.PostAsync("/api/v1/compaction/trigger?tier=weekly", null))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        using (var noDatabase = await server.Client.PostAsync("/api/v1/compaction/trigger?measurement=s", null))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noDatabase.StatusCode);
            Assert.Equal("{\"success\":false,\"error\":\"measurement requires database\"}", await noDatabase.Content.ReadAsStringAsync());
        }

        using (var started = await server.Client.PostAsync("/api/v1/compaction/trigger?database=c&measurement=s&tier=hourly", null))
        {
            Assert.Equal(HttpStatusCode.OK, started.StatusCode);
            var body = JsonDocument.Parse(await started.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(("Compaction triggered", "running", 1L), (body.GetProperty("message").GetString(), body.GetProperty("status").GetString(),
                body.GetProperty("cycle_id").GetInt64()));
            Assert.Equal(["hourly"], body.GetProperty("tiers").EnumerateArray().Select(t => t.GetString()));
            Assert.Equal(("c", "s"), (body.GetProperty("database").GetString(), body.GetProperty("measurement").GetString()));
        }

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await GetJson(server, "/api/v1/compaction/history")).GetProperty("total_jobs").GetInt64() == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var history = Assert.Single((await GetJson(server, "/api/v1/compaction/history?limit=5")).GetProperty("recent_jobs").EnumerateArray());
        Assert.True(history.GetProperty("succeeded").GetBoolean());
    }

    private static async Task WriteAndFlush(TestServer server, params string[] lines) => await WriteAndFlush(server, lines, checkpoint: true);

    private static async Task WriteAndFlush(TestServer server, string line, bool checkpoint) => await WriteAndFlush(server, [line], checkpoint);

    private static async Task WriteAndFlush(TestServer server, string[] lines, bool checkpoint)
    {
        using var response = await server.WriteAsync("/write?db=c", string.Join('\n', lines) + "\n");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        if (checkpoint)
        {
            await server.Server.Engine.CheckpointAsync();
        }
        else
        {
            await server.Server.Engine.FlushAsync();
        }
    }

    private static async Task<JsonElement> Trigger(TestServer server, string query)
    {
        using var response = await server.Client.PostAsync("/api/v1/compaction/trigger" + query, null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement.Clone();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToString());
        return body.GetProperty("jobs");
    }

    private static async Task<JsonElement> GetJson(TestServer server, string path)
    {
        using var response = await server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }
}

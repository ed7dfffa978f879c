using System.Globalization;
using System.Text;
using Arc.Engine.Compaction;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// The hot tier (<c>query.hot_data_size_mb</c>): flushed rows kept in memory and read through <c>arc_buffer</c> instead of
/// their Parquet files. Their answers equal the files' (read after a restart, which keeps nothing in memory); a query
/// during flushes, level merges, the tier's evictions and deletes sees each row once; the tier stays within its budget,
/// letting the oldest rows go first.
/// </summary>
public sealed class HotTierTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 16, 0, 0, 0, TimeSpan.Zero));
    private readonly TempEngines _engines = new("hot");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _engines.DisposeAsync();

    [Fact]
    public async Task RowsReadFromMemoryEqualTheFilesRows()
    {
        var engine = await StartAsync(compaction: false);

        // Two flushes: the first out of time order (the tier keeps the sorted copy) over two hours (two files from one set),
        // with every field type, missing fields and a missing tag; the second adds a column the first lacks.
        var lines = new StringBuilder();
        for (var i = 0; i < 40; i++)
        {
            var time = T0 + ((i * 7919L % 40) * 5 * 60_000_000_000L); // a permutation of 40 five-minute steps: 3 h 20 min
            var region = i % 3 == 0 ? "" : $",region=r{i % 2}";
            var fields = new List<string> { $"f={i * 1.25}", $"i={-i}i" };
            if (i % 4 != 0)
            {
                fields.Add($"u={i * 3}u");
            }

            if (i % 5 != 0)
            {
                fields.Add($"b={(i % 2 == 0 ? "true" : "false")}");
            }

            if (i % 6 != 0)
            {
                fields.Add(i % 2 == 0 ? $"s=\"text {i}\"" : $"s=\"a text longer than the twelve bytes held inline {i}\""); // both string layouts
            }

            lines.Append(CultureInfo.InvariantCulture, $"cpu,host=h{i % 4}{region} {string.Join(',', fields)} {time}\n");
        }

        await EngineData.WriteAsync(engine, lines.ToString());
        await engine.FlushAsync();
        await EngineData.WriteAsync(engine, $"cpu,host=h9 f=0.5,extra=42i {T0 + (3 * EngineData.Hour)}\n");
        await engine.FlushAsync();
        var files = EngineData.ParquetFiles(Path.Combine(_engines.Root, "db", "cpu")).Length;
        Assert.True(files >= 5, $"{files} files"); // 4 hours of the first flush, 1 of the second
        Assert.True(engine.HotBytes > 0);

        const string all = "SELECT time, host, region, f, i, u, b, s, extra FROM cpu ORDER BY time, host";
        const string later = "SELECT time, host, region, f, i, u, b, s, extra FROM cpu WHERE time >= '2023-11-14T23:30:00Z' ORDER BY time, host";
        const string types = "SELECT DISTINCT typeof(time), typeof(host), typeof(region), typeof(f), typeof(i), typeof(u), typeof(b), typeof(s), typeof(extra) FROM cpu";
        const string nulls = "SELECT count(region), count(u), count(b), count(s), count(extra), sum(i), sum(u), sum(f), count(*) FROM cpu";
        var hot = await AnswersAsync(engine, all, later, types, nulls);
        using (var cursor = await engine.Query.OpenAsync(all, "db", CancellationToken.None))
        {
            Assert.Equal((0, files), (cursor.FilesListed, cursor.FilesHot)); // not one file opened
        }

        using (var cursor = await engine.Query.OpenAsync(later, "db", CancellationToken.None))
        {
            Assert.Equal(0, cursor.FilesListed);
        }

        // A restart keeps nothing in memory: the same statements read the files.
        await _engines.StopAsync(engine);
        var restarted = await StartAsync(compaction: false);
        Assert.Equal(0, restarted.HotBytes);
        using (var cursor = await restarted.Query.OpenAsync(all, "db", CancellationToken.None))
        {
            Assert.Equal((files, 0), (cursor.FilesListed, cursor.FilesHot));
        }

        var cold = await AnswersAsync(restarted, all, later, types, nulls);
        Assert.Equal(41, hot[0].Count);
        Assert.True(hot[1].Count is > 0 and < 41, $"{hot[1].Count} rows after 23:30");
        for (var i = 0; i < hot.Count; i++)
        {
            Assert.Equal(cold[i], hot[i]);
        }

        // Started with the tier filled from the files: every file read back into memory, the same answers again.
        await _engines.StopAsync(restarted);
        var warmed = await StartAsync(compaction: false, warm: true);
        await warmed.HotTierFilled;
        using (var cursor = await warmed.Query.OpenAsync(all, "db", CancellationToken.None))
        {
            Assert.Equal((0, files), (cursor.FilesListed, cursor.FilesHot));
        }

        var filled = await AnswersAsync(warmed, all, later, types, nulls);
        for (var i = 0; i < hot.Count; i++)
        {
            Assert.Equal(cold[i], filled[i]);
        }
    }

    [Fact]
    public async Task RowsKeptInSeriesOrderAreFoundByTheirEarliestAndLatestTimes()
    {
        // Host a holds the later times, host b the earlier: in series order the flush's first row is not its earliest time,
        // nor its last row its latest.
        var engine = await StartAsync(compaction: false);
        const long Second = 1_000_000_000;
        await EngineData.WriteAsync(engine, string.Create(CultureInfo.InvariantCulture,
            $"cpu,host=a v=1 {T0 + (40 * Second)}\ncpu,host=a v=2 {T0 + (50 * Second)}\ncpu,host=b v=3 {T0 + (10 * Second)}\ncpu,host=b v=4 {T0 + (20 * Second)}\n"));
        await engine.FlushAsync();
        Assert.True(engine.HotBytes > 0);
        foreach (var (filter, expected) in new[] { ("time > '2023-11-14T22:14:05Z'", "2"), ("time < '2023-11-14T22:13:35Z'", "3"), ("time >= '2023-11-14T22:13:35Z'", "7") })
        {
            var sql = $"SELECT sum(v)::BIGINT FROM cpu WHERE {filter}";
            Assert.Equal(expected, await EngineData.ScalarAsync(engine, sql));
            using var cursor = await engine.Query.OpenAsync(sql, "db", CancellationToken.None);
            Assert.Equal((0, 1), (cursor.FilesListed, cursor.FilesHot));
        }
    }

    /// <param name="stepsAside">With query.hot_data_min_seconds, the clock moving a minute every eighth flush: the tier steps
    /// aside (letting every row go at once) and comes back again and again while the queries run.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QueriesDuringFlushesLevelMergesAndEvictionsSeeEachRowOnce(bool stepsAside)
    {
        const long budget = 8 << 10; // a few flushes' sets: the tier lets some go at nearly every flush
        var engine = await StartAsync(compaction: true, hotBytes: budget, minAge: stepsAside ? TimeSpan.FromMinutes(1) : null);
        long acknowledged = await FlushRowsAsync(engine, 0, 10);
        var writer = Task.Run(async () =>
        {
            var seq = Interlocked.Read(ref acknowledged);
            for (var flush = 1; flush < 60; flush++)
            {
                seq = await FlushRowsAsync(engine, seq, 10);
                Assert.InRange(engine.HotBytes, 0, budget);
                Interlocked.Exchange(ref acknowledged, seq);
                if (stepsAside && flush % 8 == 0)
                {
                    _clock.Advance(TimeSpan.FromSeconds(61));
                }
            }
        });

        var queries = 0;
        while (!writer.IsCompleted)
        {
            var before = Interlocked.Read(ref acknowledged);
            var counts = (await CountsAsync(engine)).Split(' ').Select(long.Parse).ToArray();
            Assert.Equal(counts[0], counts[1]); // no row seen twice: in memory and in a file, or in a merge's input and output
            Assert.True(counts[0] >= before, $"{counts[0]} rows seen, {before} acknowledged before the query");
            queries++;
        }

        await writer;
        Assert.True(!stepsAside || engine.HotSteppedAside.Times >= 2, $"stepped aside {engine.HotSteppedAside.Times} times");
        Assert.True(engine.Compaction.Stats.JobsCompleted >= 5, $"{engine.Compaction.Stats.JobsCompleted} level merges");
        Assert.True(queries >= 10, $"{queries} queries");
        Assert.True(engine.Query.FilesHot > 0 && engine.Query.FilesListed > 0,
            $"{engine.Query.FilesHot} files read from memory, {engine.Query.FilesListed} opened"); // both ways, by eviction and merges
        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0);
        Assert.Equal("600 600", await CountsAsync(engine));
    }

    [Fact]
    public async Task QueriesDuringADeleteSeeTheRowsBeforeOrAfterItAndTheDeletedRowsLeaveMemory()
    {
        var engine = await StartAsync(compaction: false);
        long seq = 0;
        for (var flush = 0; flush < 6; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 20);
        }

        Assert.Equal("120 120", await CountsAsync(engine));
        using (var cursor = await engine.Query.OpenAsync("SELECT count(*) FROM cpu", "db", CancellationToken.None))
        {
            Assert.Equal(0, cursor.FilesListed); // all in memory before the delete
        }

        using var done = new CancellationTokenSource();
        var seen = new HashSet<string>();
        var reader = Task.Run(async () =>
        {
            do
            {
                // Files are rewritten one by one: h1 rows leave file by file, the others stay, each row seen once.
                var counts = await EngineData.ScalarAsync(engine,
                    "SELECT count(*) FILTER (WHERE host <> 'h1') || ' ' || (count(*) = count(DISTINCT seq)) FROM cpu");
                lock (seen)
                {
                    seen.Add(counts);
                }
            }
            while (!done.IsCancellationRequested);
        });

        var result = await engine.DeleteRowsAsync("db", "cpu", "host = 'h1'", dryRun: false, long.MaxValue, CancellationToken.None);
        await done.CancelAsync();
        await reader;
        var survivors = 120 - Enumerable.Range(0, 120).Count(n => n % 7 == 1);
        Assert.Equal(120 - survivors, result.DeletedRows);
        Assert.Equal($"{survivors} {survivors}", await CountsAsync(engine));
        Assert.Equal("0", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu WHERE host = 'h1'"));
        Assert.Equal([$"{survivors} true"], seen);
        Assert.Equal(0, engine.HotBytes); // every file held an h1 row: rewritten, and read from Parquet from then on
    }

    [Fact]
    public async Task ALevelMergeOfRowsInMemoryKeepsThemThereAndOneDroppingADuplicateIsReadFromParquet()
    {
        var engine = await StartAsync(compaction: true);
        long seq = 0;
        for (var flush = 0; flush < 4; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 10);
        }

        var hour = Path.Combine(_engines.Root, "db", "cpu", "2023", "11", "14", "22");
        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && EngineData.ParquetFiles(hour).Length == 1);
        using (var cursor = await engine.Query.OpenAsync("SELECT count(*) FROM cpu", "db", CancellationToken.None))
        {
            Assert.Equal((0, 1), (cursor.FilesListed, cursor.FilesHot)); // the merged file reads from its inputs' sets
        }

        Assert.Equal("40 40", await CountsAsync(engine));
        Assert.True(engine.HotBytes > 0);

        // The same point written twice: the merge keeps the last write, so its output no longer equals its inputs' rows.
        await EngineData.WriteAPointTwiceAsync(engine, "mem", T0);
        var memHour = Path.Combine(_engines.Root, "db", "mem", "2023", "11", "14", "22");
        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && EngineData.ParquetFiles(memHour).Length == 1);
        using (var cursor = await engine.Query.OpenAsync("SELECT count(*) FROM mem", "db", CancellationToken.None))
        {
            Assert.Equal((1, 0), (cursor.FilesListed, cursor.FilesHot));
        }

        Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM mem"));
        Assert.Equal("2", await EngineData.ScalarAsync(engine, "SELECT seq FROM mem WHERE host = 'a'"));
        Assert.Equal("40 40", await CountsAsync(engine));
    }

    [Fact]
    public async Task RetainedRowsStayWithinTheBudgetAndTheOldestGoFirst()
    {
        const long budget = 24 << 10;
        var engine = await StartAsync(compaction: false, hotBytes: budget);
        for (var hour = 0; hour < 40; hour++)
        {
            var lines = string.Concat(Enumerable.Range(0, 20).Select(i =>
                string.Create(CultureInfo.InvariantCulture, $"cpu,host=h{i % 7} seq={(hour * 20) + i}i {T0 + (hour * EngineData.Hour) + (i * 1_000_000)}\n")));
            await EngineData.WriteAsync(engine, lines);
            await engine.FlushAsync();
            Assert.InRange(engine.HotBytes, 1, budget);
        }

        Assert.Equal("800 800", await CountsAsync(engine));
        var newest = DateTime.UnixEpoch.AddTicks((T0 / 100) + (39 * TimeSpan.TicksPerHour)).ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture);
        using (var cursor = await engine.Query.OpenAsync($"SELECT count(*) FROM cpu WHERE time >= '{newest}Z'", "db", CancellationToken.None))
        {
            Assert.Equal((0, 1), (cursor.FilesListed, cursor.FilesHot)); // the newest hour is in memory
        }

        using (var cursor = await engine.Query.OpenAsync("SELECT count(*) FROM cpu WHERE time < '2023-11-14T23:00:00Z'", "db", CancellationToken.None))
        {
            Assert.Equal((1, 0), (cursor.FilesListed, cursor.FilesHot)); // the oldest was let go
        }

        using (var cursor = await engine.Query.OpenAsync("SELECT count(*) FROM cpu", "db", CancellationToken.None))
        {
            Assert.Equal(40, cursor.FilesListed + cursor.FilesHot);
            Assert.InRange(cursor.FilesHot, 2, 39);
        }

        // Filled after a restart: the newest files first, within the budget.
        await _engines.StopAsync(engine);
        var warmed = await StartAsync(compaction: false, hotBytes: budget, warm: true);
        await warmed.HotTierFilled;
        Assert.InRange(warmed.HotBytes, 1, budget);
        Assert.Equal("800 800", await CountsAsync(warmed));
        using (var cursor = await warmed.Query.OpenAsync($"SELECT count(*) FROM cpu WHERE time >= '{newest}Z'", "db", CancellationToken.None))
        {
            Assert.Equal((0, 1), (cursor.FilesListed, cursor.FilesHot));
        }

        using (var cursor = await warmed.Query.OpenAsync("SELECT count(*) FROM cpu WHERE time < '2023-11-14T23:00:00Z'", "db", CancellationToken.None))
        {
            Assert.Equal((1, 0), (cursor.FilesListed, cursor.FilesHot));
        }
    }

    [Fact]
    public async Task TheTierStepsAsideWhileMoreThanItsBudgetIsFlushedWithinTheMinimumAgeAndComesBackWhenLessIs()
    {
        const long budget = 24 << 10;
        var engine = await StartAsync(compaction: false, hotBytes: budget, minAge: TimeSpan.FromMinutes(1));
        string Newest(long seq) => DateTime.UnixEpoch.AddTicks((T0 + ((seq - 1) * 1_000_000)) / 100).ToString("yyyy-MM-ddTHH:mm:ss.fffffff", CultureInfo.InvariantCulture);

        async Task<(int Listed, int Hot)> NewestRowReadAsync(long seq)
        {
            using var cursor = await engine.Query.OpenAsync($"SELECT count(*) FROM cpu WHERE time >= '{Newest(seq)}Z'", "db", CancellationToken.None);
            return (cursor.FilesListed, cursor.FilesHot);
        }

        // One flush a minute: every one is kept.
        long seq = 0;
        for (var flush = 0; flush < 3; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 10);
            Assert.Equal((0, 1), await NewestRowReadAsync(seq));
            _clock.Advance(TimeSpan.FromSeconds(61));
        }

        Assert.Equal((false, 0L), engine.HotSteppedAside);
        Assert.InRange(engine.HotBytes, 1, budget);

        // Flushes within the same minute until more than the budget arrived: the tier lets go of everything and keeps nothing.
        var flushes = 0;
        while (!engine.HotSteppedAside.Now)
        {
            Assert.True(++flushes < 200, "the tier never stepped aside");
            Assert.InRange(engine.HotBytes, 1, budget);
            seq = await FlushRowsAsync(engine, seq, 10);
        }

        Assert.Equal(0, engine.HotBytes);
        Assert.Equal((1, 0), await NewestRowReadAsync(seq));
        seq = await FlushRowsAsync(engine, seq, 10);
        Assert.Equal((0L, (1, 0)), (engine.HotBytes, await NewestRowReadAsync(seq)));
        Assert.Equal($"{seq} {seq}", await CountsAsync(engine)); // every row once, all from Parquet

        // A minute later one flush is all that arrived within the minute: the tier keeps rows again.
        _clock.Advance(TimeSpan.FromSeconds(61));
        seq = await FlushRowsAsync(engine, seq, 10);
        Assert.Equal((false, 1L), engine.HotSteppedAside);
        Assert.Equal((0, 1), await NewestRowReadAsync(seq));
        Assert.InRange(engine.HotBytes, 1, budget);
        Assert.Equal($"{seq} {seq}", await CountsAsync(engine));
    }

    [Fact]
    public async Task TheFillAfterAStartWaitsWhileAQueryRunsAndGoesOnOnceNoneHasForAMoment()
    {
        var engine = await StartAsync(compaction: false);
        for (var hour = 0; hour < 3; hour++)
        {
            await EngineData.WriteAsync(engine, string.Create(CultureInfo.InvariantCulture, $"cpu,host=h1 seq={hour}i {T0 + (hour * EngineData.Hour)}\n"));
            await engine.FlushAsync();
        }

        await _engines.StopAsync(engine);
        var quiet = TimeSpan.FromSeconds(3);
        var warmed = await StartAsync(compaction: false, warm: true, warmQuiet: quiet);
        var started = System.Diagnostics.Stopwatch.StartNew();
        using (var cursor = await warmed.Query.OpenAsync("SELECT count(*) FROM cpu", "db", CancellationToken.None))
        {
            Assert.True(started.Elapsed < quiet, "the query came later than the quiet period: nothing to test");
            await Task.Delay(quiet + TimeSpan.FromSeconds(1)); // holding its connection all the while
            Assert.Equal(0, warmed.HotBytes);
            Assert.False(warmed.HotTierFilled.IsCompleted);
        }

        await warmed.HotTierFilled.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(started.Elapsed >= (quiet * 2) + TimeSpan.FromSeconds(1), $"filled after {started.Elapsed}");
        Assert.True(warmed.HotBytes > 0);
        Assert.Equal("3 3", await CountsAsync(warmed));
    }

    /// <param name="minAge">query.hot_data_min_seconds: off unless given, so the tests of eviction flush faster than any
    /// budget could keep up with (the clock stands still) without the tier stepping aside.</param>
    private async Task<ArcEngine> StartAsync(bool compaction, long? hotBytes = null, bool warm = false, TimeSpan? warmQuiet = null,
        TimeSpan? minAge = null)
    {
        var options = new EngineOptions
        {
            DataPath = _engines.Root,
            MaxBufferAge = TimeSpan.FromHours(1),
            Time = _clock,
            Compaction = compaction ? new CompactionOptions { LevelMinFiles = 4 } : new CompactionOptions { Enabled = false },
            HotDataWarmup = warm,
            HotDataWarmupQuiet = warmQuiet ?? TimeSpan.Zero,
            HotDataMinAge = minAge ?? TimeSpan.Zero,
        };
        var engine = await _engines.StartAsync(options with { HotDataBytes = hotBytes ?? 256L << 20 });
        return engine;
    }

    private static async Task<List<List<string[]>>> AnswersAsync(ArcEngine engine, params string[] statements)
    {
        var answers = new List<List<string[]>>();
        foreach (var sql in statements)
        {
            answers.Add(await EngineData.RowsAsync(engine, sql));
        }

        return answers;
    }

    /// <summary>Writes <paramref name="rows"/> rows (seq from <paramref name="seq"/>) into 22:xx as one flush; returns the next seq.</summary>
    private static async Task<long> FlushRowsAsync(ArcEngine engine, long seq, int rows)
    {
        var lines = string.Concat(Enumerable.Range(0, rows).Select(i =>
            string.Create(CultureInfo.InvariantCulture, $"cpu,host=h{(seq + i) % 7} seq={seq + i}i {T0 + ((seq + i) * 1_000_000)}\n")));
        await EngineData.WriteAsync(engine, lines);
        await engine.FlushAsync();
        return seq + rows;
    }

    private static async Task<string> CountsAsync(ArcEngine engine) =>
        await EngineData.ScalarAsync(engine, "SELECT count(*) || ' ' || count(DISTINCT seq) FROM cpu");
}

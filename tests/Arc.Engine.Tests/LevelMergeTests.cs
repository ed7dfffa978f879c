using System.Globalization;
using Arc.Engine.Compaction;
using Arc.Engine.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// Level merges: the flushed files of an hour partition that still takes writes are merged after flushes, while the
/// write-ahead log still holds their commits (the fake clock never lets a segment age out). A copy of the data directory
/// taken while the engine runs stands for what a crash leaves: started on it, recovery replays only what no file holds.
/// </summary>
public sealed class LevelMergeTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    private const int MinFiles = 4;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 15, 0, 0, 0, TimeSpan.Zero));
    private readonly TempEngines _engines = new("level");

    private string Data => Path.Combine(_engines.Root, "data");

    private string HourDirectory => Path.Combine(Data, "db", "cpu", "2023", "11", "14", "22");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _engines.DisposeAsync();

    [Fact]
    public async Task APartitionTakingFlushesKeepsFewFilesWhileTheLogHoldsThem()
    {
        var engine = await StartAsync(Data);
        long seq = 0;
        for (var flush = 0; flush < 30; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 5);
            await EngineData.WaitForAsync(() => Files(HourDirectory).Length < MinFiles);
        }

        Assert.True(engine.Compaction.Stats.JobsCompleted >= 9, $"{engine.Compaction.Stats.JobsCompleted} level merges");
        Assert.All(Files(HourDirectory), f => Assert.Equal(1, Name(f).Parts));
        var logged = Arc.Engine.Wal.WalSegment.List(Path.Combine(Data, ".wal"))[0].FirstLsn;
        Assert.All(Files(HourDirectory), f => Assert.True(Name(f).FirstLsn >= logged)); // every commit is still in the log
        Assert.Equal("150 150", await CountsAsync(engine));
        Assert.Equal(150, RowsOnDisk(HourDirectory));

        // Rows still in the buffer (logged only), then a crash: the log replays them and nothing a merged file holds.
        await EngineData.WriteAsync(engine, Line(seq++));
        var copy = await StartAsync(CopyData(engine));
        Assert.Equal("151 151", await CountsAsync(copy));
    }

    [Fact]
    public async Task ALevelMergeThatFailsWaitsBeforeItIsTriedAgainInsteadOfAfterEveryFlush()
    {
        // Compaction's DuckDB gets too little memory for any merge, so every level merge fails (as a wide measurement's can
        // under a small compaction.memory_limit). Without a wait, each flush would start the same failing merge again.
        // Rows in time order (no series order), so the merge is DuckDB's and not a stream merge, which needs no such memory.
        var engine = await StartAsync(Data, new CompactionOptions { LevelMinFiles = MinFiles, MemoryLimit = "1MB", SortOrder = CompactionSortOrder.Time });
        long seq = 0;
        for (var flush = 0; flush < MinFiles; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 5);
        }

        await EngineData.WaitForAsync(() => engine.Compaction.Stats.JobsFailed == 1 && engine.Compaction.Jobs.Count == 0);
        Assert.Contains("memory", engine.Compaction.History[0].Error!, StringComparison.OrdinalIgnoreCase); // the newest first

        // More flushes within the minute plan the hour again and leave it alone.
        await FlushesWithoutNewAttemptsAsync(1);

        // A minute later the next flush tries again; after that second failure the wait is two minutes.
        _clock.Advance(TimeSpan.FromSeconds(61));
        seq = await FlushRowsAsync(engine, seq, 5);
        await EngineData.WaitForAsync(() => engine.Compaction.Stats.JobsFailed == 2 && engine.Compaction.Jobs.Count == 0);
        _clock.Advance(TimeSpan.FromSeconds(61));
        await FlushesWithoutNewAttemptsAsync(2);
        _clock.Advance(TimeSpan.FromSeconds(60));
        seq = await FlushRowsAsync(engine, seq, 5);
        await EngineData.WaitForAsync(() => engine.Compaction.Stats.JobsFailed == 3 && engine.Compaction.Jobs.Count == 0);
        Assert.Equal(0, engine.Compaction.Stats.JobsCompleted);
        Assert.Equal($"{seq} {seq}", await CountsAsync(engine)); // every row still in the unmerged files

        async Task FlushesWithoutNewAttemptsAsync(long failed)
        {
            for (var flush = 0; flush < 3; flush++)
            {
                seq = await FlushRowsAsync(engine, seq, 5);
            }

            await Task.Delay(1000); // time enough for the merges these flushes would start and fail without the wait
            Assert.Equal(failed, engine.Compaction.Stats.JobsFailed);
        }
    }

    [Fact]
    public async Task AFlushSpanningTwoHoursIsNeverMergedAwayNorDeletedByRecovery()
    {
        var engine = await StartAsync(Data);
        long seq = 0;
        for (var flush = 0; flush < 3; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 3);
        }

        // One buffer with rows of 21:xx and 22:xx: a flush of two parts, one in each hour.
        await EngineData.WriteAsync(engine, Line(seq++, -EngineData.Hour) + Line(seq++));
        await engine.FlushAsync();
        var parts = Files(Data).Where(f => Name(f).Parts == 2).ToList();
        Assert.Equal(2, parts.Count);
        for (var flush = 0; flush < 7; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 3);
        }

        // Merged on both sides of the part, never across it (its LSNs would fall inside the output's range).
        await EngineData.WaitForAsync(() => engine.Compaction.Stats.JobsCompleted >= 2 && engine.Compaction.Jobs.Count == 0
                                 && Files(HourDirectory).Length <= 2 * (MinFiles - 1) + 1);
        Assert.All(parts, p => Assert.True(File.Exists(p), p));
        var hour = Files(HourDirectory).Select(Name).OrderBy(n => n.FirstLsn).ToList();
        var part = hour.FindIndex(n => n.Parts == 2);
        Assert.True(part > 0 && part < hour.Count - 1, string.Join(", ", hour));
        Assert.True(hour[part - 1].LastLsn < hour[part].FirstLsn && hour[part].LastLsn < hour[part + 1].FirstLsn, string.Join(", ", hour));
        Assert.Equal($"{seq} {seq}", await CountsAsync(engine));

        var copy = await StartAsync(CopyData(engine));
        Assert.Equal($"{seq} {seq}", await CountsAsync(copy));
        Assert.Equal(2, Files(Path.Combine(_engines.Root, "copy")).Count(f => Name(f).Parts == 2)); // recovery kept both parts
    }

    [Fact]
    public async Task TheLastWriteOfAPointWinsAsInHourlyCompaction()
    {
        var engine = await StartAsync(Data);
        await EngineData.WriteAPointTwiceAsync(engine, "cpu", T0);

        await EngineData.WaitForAsync(() => Files(HourDirectory).Length == 1);
        Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
        Assert.Equal("2", await EngineData.ScalarAsync(engine, "SELECT seq FROM cpu WHERE host = 'a'"));
        var merged = Name(Assert.Single(Files(HourDirectory)));
        Assert.Equal((3L, 1), (merged.LastLsn - merged.FirstLsn, merged.Parts)); // the four inputs' LSN range, one part
    }

    [Fact]
    public async Task FlushedFilesAreSortedOneByOneThenMergedAsStreamsKeepingTheLastWriteWithinAndAcrossThem()
    {
        // Flushed files are in time order and may hold a point twice (two lines of one flush): each is sorted (its last
        // write of a point kept) on its own, then all are merged as sorted streams, the latest file's write winning.
        // Flushes write the configured codec, merges ZSTD whatever it is.
        var engine = await StartAsync(Data, compression: "lz4");
        var flushes = 0;
        foreach (var lines in new[] { "a seq=1i 0\na seq=2i 0\nb seq=10i 1", "b seq=11i 1", "c seq=20i 0", "a seq=3i 2" })
        {
            await EngineData.WriteAsync(engine, string.Concat(lines.Split('\n').Select(line =>
                string.Create(CultureInfo.InvariantCulture, $"cpu,host={line.Split(' ')[0]} {line.Split(' ')[1]} {T0 + (long.Parse(line.Split(' ')[2], CultureInfo.InvariantCulture) * 1_000_000_000)}\n"))));
            await engine.FlushAsync();
            if (++flushes == 1)
            {
                Assert.Equal("LZ4_RAW", Codec(Assert.Single(Files(HourDirectory))));
            }
        }

        await EngineData.WaitForAsync(() => Files(HourDirectory).Length == 1);
        Assert.Equal("arc-native", WrittenBy(Files(HourDirectory)[0]));
        Assert.Equal("ZSTD", Codec(Files(HourDirectory)[0]));
        Assert.Equal("a:2,c:20,b:11,a:3", await EngineData.ScalarAsync(engine, "SELECT string_agg(host || ':' || seq, ',' ORDER BY time, host) FROM cpu"));
    }

    [Fact]
    public async Task AMergeIntoTheLastLevelWritesSeriesRangesThatFiltersOnTheirTagsSkip()
    {
        // N = 2, R = 100 rows, K = 4 (the default): a flush of 30 rows is at level 1, and a merge into the last level waits
        // for K × N = 8 of them, then writes four files of 60 rows, each a range of the seven hosts in series order.
        var compaction = SeriesRangeOptions;
        var engine = await StartAsync(Data, compaction);
        var seq = await FlushRowsAsync(engine, 0, 30, flushes: 7);

        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0);
        Assert.Equal(7, Files(HourDirectory).Length);
        seq = await FlushRowsAsync(engine, seq, 30);
        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length == 4);
        Assert.Equal([60, 60, 60, 60], RowsPerFile(HourDirectory));
        var ranges = Files(HourDirectory).Select(f => (File: f, Hosts: Read($"SELECT min(host), max(host) FROM read_parquet('{f}')")[0])).ToList();
        Assert.All(ranges, r => Assert.Contains("arc_series_range=true", Metadata(r.File), StringComparison.Ordinal));
        var ordered = ranges.OrderBy(r => r.Hosts[0], StringComparer.Ordinal).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            Assert.True(string.CompareOrdinal(ordered[i - 1].Hosts[1], ordered[i].Hosts[0]) <= 0, "ranges overlap");
        }

        // A filter on host opens only the files whose range holds it; anything else opens all four, every answer right.
        await AssertPrunedAsync(engine);
        await EngineData.AssertOpensAsync(engine, "SELECT count(*) FROM cpu WHERE host = 'h3' OR seq = 1", 4, "35");
        await EngineData.AssertOpensAsync(engine, "SELECT count(*) FROM cpu WHERE host IN ('h0', 'h6')", Holding("h0", "h6"), "69");
        await EngineData.AssertOpensAsync(engine, "SELECT count(*) FROM cpu WHERE host = 'zz'", 0, "0");
        await EngineData.AssertOpensAsync(engine, "SELECT count(*) FROM cpu WHERE HOST = 'h0' AND seq >= 0", Holding("h0"), "35");

        // The ranges come back from the footers after a restart, and a crash loses or doubles nothing.
        await _engines.StopAsync(engine);
        engine = await StartAsync(Data, compaction);
        await AssertPrunedAsync(engine);
        var copy = await StartAsync(CopyData(engine), compaction);
        Assert.Equal("240 240", await CountsAsync(copy));

        int Holding(params string[] hosts) =>
            ranges.Count(r => hosts.Any(h => string.CompareOrdinal(r.Hosts[0], h) <= 0 && string.CompareOrdinal(h, r.Hosts[1]) <= 0));

        async Task AssertPrunedAsync(ArcEngine engine)
        {
            for (var host = 0; host < 7; host++)
            {
                var files = Holding($"h{host}");
                Assert.InRange(files, 1, 2);
                await EngineData.AssertOpensAsync(engine, $"SELECT count(*) FROM cpu WHERE host = 'h{host}'", files, host < 2 ? "35" : "34");
            }
        }
    }

    [Fact]
    public async Task AJobOfSeveralOutputsCutShortIsRolledBackUnlessEveryOutputWasPlaced()
    {
        // Eight flushes merged into four files of series ranges (see above), the engine stopped; then two jobs as a crash
        // would leave them, each replacing two of those files by copies: one with only its first output renamed in (the
        // second still under its temporary name), one with both. The first is undone (the renamed output deleted with the
        // temporary one, its inputs kept), the second finished (its inputs deleted): every row once either way.
        var compaction = SeriesRangeOptions;
        var engine = await StartAsync(Data, compaction);
        await FlushRowsAsync(engine, 0, 30, flushes: 8);

        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length == 4);
        await _engines.StopAsync(engine);
        var files = Files(HourDirectory).Order(StringComparer.Ordinal).ToList();
        var manifests = Path.Combine(Data, ".compaction");
        Directory.CreateDirectory(manifests);

        CompactionManifest Job(string id, List<string> inputs, bool placeBoth)
        {
            var outputs = inputs.ConvertAll(i => (Output: Path.Combine(HourDirectory, CompactionPlanner.LevelOutputName("cpu", [i])), Temp: Path.Combine(manifests, $"{id}-{Path.GetFileName(i)}.tmp")));
            File.Copy(inputs[0], outputs[0].Output);
            File.Copy(inputs[1], placeBoth ? outputs[1].Output : outputs[1].Temp);
            var manifest = new CompactionManifest(id, inputs, outputs[0].Output, outputs[0].Temp, Also: [new CompactionOutput(outputs[1].Output, outputs[1].Temp)]);
            File.WriteAllBytes(Path.Combine(manifests, id + ".json"), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(manifest, CompactionJsonContext.Default.CompactionManifest));
            return manifest;
        }

        var undone = Job("undone", files[..2], placeBoth: false);
        var finished = Job("finished", files[2..], placeBoth: true);
        engine = await StartAsync(Data, compaction);
        Assert.Equal("240 240", await CountsAsync(engine));
        Assert.All(undone.Inputs, i => Assert.True(File.Exists(i)));
        Assert.All(undone.AllOutputs(), o => Assert.False(File.Exists(o.Output) || File.Exists(o.Temp)));
        Assert.All(finished.Inputs, i => Assert.False(File.Exists(i)));
        Assert.All(finished.AllOutputs(), o => Assert.True(File.Exists(o.Output)));
        Assert.Empty(Directory.GetFiles(manifests, "*.json"));
    }

    [Fact]
    public async Task AMergeTakesAtMostTheRowCapSoFullFilesWaitForHourlyCompactionAlsoAfterARestart()
    {
        // N = 2, R = 100 rows, bytes no limit: a flush of 30 rows is at level 1 (30 × 2 ≤ 100), two make a file of 60 rows,
        // at level 0 (60 × 2 > 100), which waits for hourly compaction. By bytes alone (tiny files) everything would merge.
        var compaction = new CompactionOptions { LevelMinFiles = 2, LevelMaxRows = 100, LevelSeriesRanges = 1 };
        var engine = await StartAsync(Data, compaction);
        long seq = 0;
        for (var flush = 0; flush < 6; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 30);
            await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length == (flush / 2) + 1);
        }

        // Each flush's rows come from the flush, each output's from its COPY: three files of 60 rows, none merged further.
        Assert.Equal([60, 60, 60], RowsPerFile(HourDirectory));

        // After a restart the rows come from the footers: the three stay apart while two new flushes merge beside them.
        await _engines.StopAsync(engine);
        engine = await StartAsync(Data, compaction);
        for (var flush = 0; flush < 2; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 30);
        }

        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length == 4);
        Assert.Equal([60, 60, 60, 60], RowsPerFile(HourDirectory));
        Assert.Equal("240 240", await CountsAsync(engine));
    }

    [Fact]
    public async Task MergedFilesWhoseTimesMeetAreCheckedForDuplicatesWhereTheyMeet()
    {
        // N = 2, R = 3 rows: flushes of one row merge in pairs into files of two rows (level 0), which carry "no duplicate
        // inside". Hourly compaction of two such files looks for duplicates only where their time ranges meet: here at T0,
        // where the second pair rewrote the first's point, and the last write must win.
        var engine = await StartWithoutLogAsync(new CompactionOptions { LevelMinFiles = 2, LevelMaxRows = 3, HourlyMinFiles = 2, DailyEnabled = false, LevelSeriesRanges = 1 });
        foreach (var (pair, lines) in new[] { (1, new[] { "seq=1i 0", "seq=2i 2" }), (2, ["seq=3i 0", "seq=4i 3"]) })
        {
            foreach (var line in lines)
            {
                var parts = line.Split(' ');
                await EngineData.WriteAsync(engine, $"cpu,host=a {parts[0]} {T0 + (long.Parse(parts[1], CultureInfo.InvariantCulture) * 1_000_000_000)}\n");
                await engine.FlushAsync();
            }

            await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length == pair);
        }

        Assert.Equal([2, 2], RowsPerFile(HourDirectory));
        var results = await engine.Compaction.RunAsync(CompactionTier.Hourly);
        Assert.Contains(results, r => r.Succeeded);

        // Both inputs are sorted by host then time and say so: merged as streams (SortedMerge), which keeps the last write too.
        Assert.Equal("arc-native", WrittenBy(Assert.Single(Files(HourDirectory))));
        Assert.Equal("3,2,4", await EngineData.ScalarAsync(engine, "SELECT string_agg(seq::VARCHAR, ',' ORDER BY time) FROM cpu"));
    }

    [Fact]
    public async Task ASortedInputWhosePagesCannotBeReadIsSetAsideAndTheRestMerged()
    {
        // Two level outputs of 1,000 rows over the same times (so hourly compaction merges them); the second's seq column
        // chunk is overwritten (its footer kept). The streamed merge's reader fails on them, DuckDB's merge then finds the file, and it is set
        // aside as any unreadable input.
        var engine = await StartWithoutLogAsync(new CompactionOptions { LevelMinFiles = 2, LevelMaxRows = 1500, HourlyMinFiles = 2, DailyEnabled = false, LevelSeriesRanges = 1 });
        for (var pair = 1; pair <= 2; pair++)
        {
            for (var half = 0; half < 2; half++)
            {
                await EngineData.WriteAsync(engine, string.Concat(Enumerable.Range(half * 500, 500).Select(i =>
                    string.Create(CultureInfo.InvariantCulture, $"cpu,host=a seq={(pair * 10_000) + i}i {T0 + (i * 1_000_000_000L)}\n"))));
                await engine.FlushAsync();
            }

            await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length == pair);
        }

        var victim = Files(HourDirectory).Single(f => Read($"SELECT min(seq) FROM '{f}'")[0][0] == "20000");
        var pages = Read($"SELECT coalesce(dictionary_page_offset, data_page_offset), total_compressed_size FROM parquet_metadata('{victim}') WHERE path_in_schema = 'seq'")[0];
        using (var file = File.OpenWrite(victim))
        {
            file.Position = long.Parse(pages[0]!, CultureInfo.InvariantCulture);
            file.Write(Enumerable.Repeat((byte)0x5A, int.Parse(pages[1]!, CultureInfo.InvariantCulture)).ToArray());
        }

        var result = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly), r => r.Output is not null);
        Assert.True(result.Succeeded, result.Error);
        Assert.EndsWith(Path.GetFileName(victim), Assert.Single(result.Quarantined), StringComparison.Ordinal);
        Assert.Equal("1000 10000 10999", await EngineData.ScalarAsync(engine, "SELECT count(*) || ' ' || min(seq) || ' ' || max(seq) FROM cpu"));
    }

    [Fact]
    public async Task FlushedFilesInSeriesOrderAreMergedAsStreamsWithoutDuckDbsSort()
    {
        // Flushes ordered by series and free of duplicates say so, and the level merge streams them as they are; flushes
        // in time order (compaction.sort_order = time) are sorted by DuckDB first when merges stream (the mutation check:
        // with flushes in time order this test fails).
        var engine = await StartAsync(Data, new CompactionOptions { LevelMinFiles = MinFiles });
        long seq = 0;
        for (var flush = 0; flush < MinFiles - 1; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 5);
        }

        Assert.All(Files(HourDirectory), f => Assert.Equal("""arc_flushed=true arc_sorted=["host"] arc_tags=["host"] arc_unique=true""", Metadata(f)));
        await FlushRowsAsync(engine, seq, 5); // the fourth: the merge starts
        await EngineData.WaitForAsync(() => engine.Compaction.Stats.JobsCompleted == 1 && engine.Compaction.Jobs.Count == 0);
        Assert.Equal((0L, 0L), (engine.Compaction.Stats.JobsFailed, engine.Compaction.Stats.InputsSorted));
        var merged = Assert.Single(Files(HourDirectory));
        Assert.Equal("""arc_flushed=true arc_sorted=["host"] arc_tags=["host"] arc_unique=true""", Metadata(merged)); // below the last level
        Assert.Equal("20 20", await CountsAsync(engine));
        Assert.Equal(string.Join(',', Enumerable.Range(0, 20).OrderBy(i => i % 7).ThenBy(i => i)),
            Read($"SELECT string_agg(seq::VARCHAR, ',' ORDER BY file_row_number) FROM read_parquet('{merged}', file_row_number = true)")[0][0]);
    }

    [Fact]
    public async Task MergesBelowTheLastLevelWriteFloatsPlainAndTheLastLevelWithDictionariesColumnsRequiredWhereNoInputHasNulls()
    {
        // N = 2, R = 20 rows, flushes of 5: two flushes merge into 10 rows (below the last level: merged again soon, so
        // floats plain and marked arc_flushed as a flush is), that and the next flush into 15 (the last level: float
        // dictionaries, no mark). Columns every input declares REQUIRED stay so; usage has a null in the first flush, so it
        // is OPTIONAL in every output that holds that flush's rows, the null kept.
        var engine = await StartAsync(Data, new CompactionOptions { LevelMinFiles = 2, LevelMaxRows = 20, LevelSeriesRanges = 1 });
        long seq = 0;
        async Task FlushAsync()
        {
            var lines = string.Concat(Enumerable.Range(0, 5).Select(i => seq + i).Select(s => string.Create(CultureInfo.InvariantCulture,
                $"cpu,host=h{s % 7} seq={s}i{(s == 3 ? "" : $",usage={s % 4 / 2.0}")} {T0 + (s * 1_000_000)}\n")));
            await EngineData.WriteAsync(engine, lines);
            await engine.FlushAsync();
            seq += 5;
        }

        string Layout(string file) => Read($"""
            SELECT string_agg(s.name || ':' || s.repetition_type || ':' || (m.dictionary_page_offset IS NOT NULL), ' ' ORDER BY s.name)
            FROM parquet_schema('{file}') s JOIN (SELECT DISTINCT path_in_schema, dictionary_page_offset FROM parquet_metadata('{file}')) m
              ON m.path_in_schema = s.name
            WHERE s.name IN ('host', 'seq', 'usage')
            """)[0][0]!;

        await FlushAsync();
        await FlushAsync();
        await EngineData.WaitForAsync(() => engine.Compaction.Stats.JobsCompleted == 1 && engine.Compaction.Jobs.Count == 0);
        var first = Assert.Single(Files(HourDirectory));
        Assert.Equal("""arc_flushed=true arc_sorted=["host"] arc_tags=["host"] arc_unique=true""", Metadata(first));
        Assert.Equal("host:REQUIRED:true seq:REQUIRED:true usage:OPTIONAL:false", Layout(first));

        await FlushAsync(); // 10 + 5 rows: over R / N, so at the last level
        await EngineData.WaitForAsync(() => engine.Compaction.Stats.JobsCompleted == 2 && engine.Compaction.Jobs.Count == 0);
        Assert.Equal(0, engine.Compaction.Stats.JobsFailed);
        var last = Assert.Single(Files(HourDirectory));
        Assert.Equal("""arc_sorted=["host"] arc_tags=["host"] arc_unique=true""", Metadata(last));
        Assert.Equal("host:REQUIRED:true seq:REQUIRED:true usage:OPTIONAL:true", Layout(last));
        Assert.Equal("15 15 14 9.0", await EngineData.ScalarAsync(engine, "SELECT count(*) || ' ' || count(DISTINCT seq) || ' ' || count(usage) || ' ' || sum(usage) FROM cpu"));
    }

    [Fact]
    public async Task HourlyCompactionLeavesFullFilesThatShareNoPointAndMergesThemOnceTheyDo()
    {
        // N = 2, R = 3 rows: pairs of one-row flushes merge into files of two rows, at the last level and free of duplicates.
        // A (0 s, 2 s) and B (1 s, 3 s) overlap in time without sharing a point, so hourly compaction merges only a late
        // flush L (1.5 s) beside them, then finds nothing to do until a write of A's point at 2 s makes A worth merging.
        var engine = await StartWithoutLogAsync(new CompactionOptions { LevelMinFiles = 2, LevelMaxRows = 3, HourlyMinFiles = 2, DailyEnabled = false, LevelSeriesRanges = 1 });
        async Task FlushAsync(int seq, double seconds)
        {
            await EngineData.WriteAsync(engine, string.Create(CultureInfo.InvariantCulture, $"cpu,host=a seq={seq}i {T0 + (long)(seconds * 1e9)}\n"));
            await engine.FlushAsync();
        }

        foreach (var (pair, points) in new[] { (1, new[] { (1, 0.0), (2, 2.0) }), (2, [(3, 1.0), (4, 3.0)]) })
        {
            foreach (var (seq, seconds) in points)
            {
                await FlushAsync(seq, seconds);
            }

            await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length == pair);
        }

        var full = Files(HourDirectory);
        var (a, b) = (full.Single(f => ReadSeqs(f) == "1,2"), full.Single(f => ReadSeqs(f) == "3,4"));
        await FlushAsync(5, 1.5);
        var late = Files(HourDirectory).Except(full).Single();

        var results = await engine.Compaction.RunAsync(CompactionTier.Hourly);
        Assert.Equal([(true, 1), (true, 0)], results.Select(r => (r.Succeeded, r.FilesIn)));
        Assert.True(results[1].Settled);
        Assert.Equal(1, engine.Compaction.Stats.JobsCompleted - 2); // the two level merges and L's; nothing for the settled job
        Assert.True(File.Exists(a) && File.Exists(b));
        Assert.False(File.Exists(late));
        Assert.Empty(await engine.Compaction.RunAsync(CompactionTier.Hourly)); // the same files: not planned again
        Assert.Equal("1,3,5,2,4", await EngineData.ScalarAsync(engine, "SELECT string_agg(seq::VARCHAR, ',' ORDER BY time) FROM cpu"));

        await FlushAsync(9, 2.0); // A's point at 2 s again: A, the rewrite and the compacted L merge, B stays
        results = await engine.Compaction.RunAsync(CompactionTier.Hourly);
        Assert.Equal([(true, 3), (true, 0)], results.Select(r => (r.Succeeded, r.FilesIn)));
        Assert.False(File.Exists(a));
        Assert.True(File.Exists(b));
        Assert.Equal("1,3,5,9,4", await EngineData.ScalarAsync(engine, "SELECT string_agg(seq::VARCHAR, ',' ORDER BY time) FROM cpu"));
        Assert.Equal(2, Files(HourDirectory).Length);
    }

    [Fact]
    public async Task AnHourWithMoreFilesThanOneBatchIsFinishedInOneRunThoughWhatIsLeftIsUnderTheMinimum()
    {
        // Six files, batches of four, four needed to start: the first job leaves its output and two files (three, under the
        // minimum), which the same run merges too, as the docs promise ("a partition with more is done in several jobs").
        // R = 24 rows: a batch grows past four files only while within 24 rows, which the fifth file's 5 rows pass. The first
        // output (20 rows, at the last level: over 24 / 4) then stays apart, and the two files left are merged beside it.
        var engine = await StartWithoutLogAsync(new CompactionOptions { LevelEnabled = false, HourlyMinFiles = 4, MaxFilesPerBatch = 4, LevelMaxRows = 24, DailyEnabled = false });
        long seq = 0;
        for (var flush = 0; flush < 6; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 5);
        }

        var results = await engine.Compaction.RunAsync(CompactionTier.Hourly);
        Assert.Equal([4, 2, 0], results.Select(r => r.FilesIn)); // the last: nothing left to merge
        Assert.Equal(2, Files(HourDirectory).Length);
        Assert.Equal("30 30", await CountsAsync(engine));
        Assert.Empty(await engine.Compaction.RunAsync(CompactionTier.Hourly));
    }

    [Fact]
    public async Task BatchesOfFlushedFilesThenTheirOutputsKeepTheLastWriteOfAPoint()
    {
        // Six flushes each rewrite host a's point at T0; batches of two (R = 5 rows: no batch grows past two files of 2 or 3
        // rows; outputs are at the last level but share the point, so they are merged). The run merges the flushes two by
        // two (leaving the outputs), then the outputs, newest first ([O2, O3] before O1: a batch must take every output
        // after its first), so the point ends with the last flush's value.
        var engine = await StartWithoutLogAsync(new CompactionOptions { LevelEnabled = false, HourlyMinFiles = 2, MaxFilesPerBatch = 2, LevelMaxRows = 5, DailyEnabled = false });
        for (var seq = 1; seq <= 6; seq++)
        {
            await EngineData.WriteAsync(engine, string.Create(CultureInfo.InvariantCulture, $"cpu,host=a seq={seq}i {T0}\ncpu,host=b seq={seq}i {T0 + seq}\n"));
            await engine.FlushAsync();
        }

        var results = await engine.Compaction.RunAsync(CompactionTier.Hourly);
        Assert.Equal([2, 2, 2, 2, 2], results.Select(r => r.FilesIn));
        Assert.Equal([4, 4, 4, 6, 8], results.Select(r => r.RowsIn)); // the outputs hold 3, 3, 3, then 5 and 7 rows (a's point once)
        Assert.Single(Files(HourDirectory));
        Assert.Equal("6 7", await EngineData.ScalarAsync(engine, "SELECT max(seq) FILTER (host = 'a') || ' ' || count(*) FROM cpu"));
    }

    [Fact]
    public async Task SmallFilesMergeBeyondTheBatchCapWhileTheyStayUnderTheLastLevel()
    {
        // Batches of two, but six files of 5 rows are far within what a level merge takes (R = 16 M rows): one job takes them all.
        var engine = await StartWithoutLogAsync(new CompactionOptions { LevelEnabled = false, HourlyMinFiles = 2, MaxFilesPerBatch = 2, DailyEnabled = false });
        long seq = 0;
        for (var flush = 0; flush < 6; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 5);
        }

        Assert.Equal([6], (await engine.Compaction.RunAsync(CompactionTier.Hourly)).Select(r => r.FilesIn));
        Assert.Single(Files(HourDirectory));
        Assert.Equal("30 30", await CountsAsync(engine));
    }

    [Fact]
    public async Task LevelMergesStartOnlyOnAFreeThreadAndAMeasurementLeftWaitingIsMergedOnceOneFrees()
    {
        // One job at a time and two measurements flushed in turns: a level merge planned while the other's runs must not
        // wait holding its files (the jobs listed are the running ones, never more than one), and the measurement
        // whose plan found no free thread is planned again when the job ends, with no flush to prompt it.
        var engine = await StartAsync(Data, new CompactionOptions { LevelMinFiles = 2, MaxConcurrent = 1 });
        var mem = Path.Combine(Data, "db", "mem", "2023", "11", "14", "22");
        var most = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                most = Math.Max(most, engine.Compaction.Jobs.Count);
                await Task.Delay(1);
            }
        });
        for (var flush = 0; flush < 40; flush++)
        {
            var lines = string.Concat(Enumerable.Range(0, 50).Select(i => Line((flush * 50) + i)));
            await EngineData.WriteAsync(engine, lines + lines.Replace("cpu,", "mem,", StringComparison.Ordinal));
            await engine.FlushAsync();
        }

        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length < 2 && Files(mem).Length < 2);
        await sampling.CancelAsync();
        await sampler;
        Assert.Equal(1, most);
        Assert.Equal("2000 2000", await CountsAsync(engine));
        Assert.Equal("2000", await EngineData.ScalarAsync(engine, "SELECT count(DISTINCT seq) FROM mem"));
    }

    [Fact]
    public async Task QueriesDuringLevelMergesSeeEachRowOnce()
    {
        var engine = await StartAsync(Data);
        long acknowledged = await FlushRowsAsync(engine, 0, 10);
        var writer = Task.Run(async () =>
        {
            var seq = Interlocked.Read(ref acknowledged);
            for (var flush = 1; flush < 60; flush++)
            {
                seq = await FlushRowsAsync(engine, seq, 10);
                Interlocked.Exchange(ref acknowledged, seq);
            }
        });

        var queries = 0;
        while (!writer.IsCompleted)
        {
            var before = Interlocked.Read(ref acknowledged);
            var counts = (await CountsAsync(engine)).Split(' ').Select(long.Parse).ToArray();
            Assert.Equal(counts[0], counts[1]);   // no row seen twice (a merge's inputs and output never both)
            Assert.True(counts[0] >= before, $"{counts[0]} rows seen, {before} acknowledged before the query");
            queries++;
        }

        await writer;
        Assert.True(engine.Compaction.Stats.JobsCompleted >= 5, $"{engine.Compaction.Stats.JobsCompleted} level merges");
        Assert.True(queries >= 10, $"{queries} queries");
        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && Files(HourDirectory).Length < MinFiles);
        Assert.Equal("600 600", await CountsAsync(engine));
        Assert.Equal(600, RowsOnDisk(HourDirectory));
    }

    [Fact]
    public async Task WithObjectStorageOnlyUploadedFilesAreMergedAndTheBucketHoldsEachRowOnce()
    {
        await using var engines = new BucketEngines(new InMemoryObjectStore());
        var engine = await engines.StartAsync("a", clock: _clock, compaction: new CompactionOptions { LevelMinFiles = MinFiles });
        long seq = 0;
        for (var flush = 0; flush < 14; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, 5);
        }

        const string prefix = "db/cpu/2023/11/14/22/";
        List<string> Keys() => engines.Bucket.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        bool Same() => Keys().Select(k => Path.Combine(engines.Root, "a", k)).Order().SequenceEqual(Files(Path.Combine(engines.Root, "a", prefix)).Order());

        // Settled: no job listed (also true for a moment between a merge's end and the next merge it lets the planner
        // find), no upload pending, and the bucket and the local files agree; a file in one and not the other for good
        // fails here.
        await EngineData.WaitForAsync(() => engine.Compaction.Jobs.Count == 0 && engine.Remote!.PendingUploads == 0 && Keys().Count < MinFiles && Same(),
            state: () => $"{engine.Compaction.Jobs.Count} jobs, {engine.Remote!.PendingUploads} uploads pending, keys " +
                         $"[{string.Join(", ", Keys().Select(Path.GetFileName))}], local files " +
                         $"[{string.Join(", ", Files(Path.Combine(engines.Root, "a", prefix)).Select(Path.GetFileName))}]");
        Assert.True(engine.Compaction.Stats.JobsCompleted >= 3, $"{engine.Compaction.Stats.JobsCompleted} level merges");
        Assert.All(Keys(), k => Assert.Equal(1, Name(k).Parts));
        Assert.Equal("70 70", await CountsAsync(engine));

        var other = await engines.StartAsync("b", clock: _clock); // another machine reads the bucket alone
        Assert.Equal("70 70", await CountsAsync(other));
    }

    private async Task<ArcEngine> StartAsync(string path, CompactionOptions? compaction = null, string compression = "zstd")
    {
        var engine = await _engines.StartAsync(new EngineOptions
        {
            DataPath = path,
            Compression = compression,
            MaxBufferAge = TimeSpan.FromHours(1),
            Time = _clock,
            Compaction = compaction ?? new CompactionOptions { LevelMinFiles = MinFiles },
        });
        return engine;
    }

    /// <summary>An engine without a write-ahead log: hourly compaction may take its files as soon as they are flushed.</summary>
    private Task<ArcEngine> StartWithoutLogAsync(CompactionOptions compaction) => _engines.StartAsync(new EngineOptions
    {
        DataPath = Data,
        MaxBufferAge = TimeSpan.FromHours(1),
        WalEnabled = false,
        Time = _clock,
        Compaction = compaction,
    });

    /// <summary>The data directory as a crash would leave it now (the engine is idle: no flush or merge under way).</summary>
    private string CopyData(ArcEngine engine)
    {
        Assert.Empty(engine.Compaction.Jobs);
        var copy = Path.Combine(_engines.Root, "copy");
        foreach (var file in Directory.GetFiles(Data, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(Data, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return copy;
    }

    /// <summary>N = 2, R = 100 rows, K = 4 (the default): a flush of 30 rows is at level 1, eight make a merge into series ranges.</summary>
    private static CompactionOptions SeriesRangeOptions => new() { LevelMinFiles = 2, LevelMaxRows = 100 };

    /// <summary><paramref name="flushes"/> flushes of <paramref name="rows"/> rows each (<see cref="FlushRowsAsync(ArcEngine, long, int)"/>).</summary>
    private static async Task<long> FlushRowsAsync(ArcEngine engine, long seq, int rows, int flushes)
    {
        for (var flush = 0; flush < flushes; flush++)
        {
            seq = await FlushRowsAsync(engine, seq, rows);
        }

        return seq;
    }

    /// <summary>Writes <paramref name="rows"/> rows (seq from <paramref name="seq"/>) into 22:xx as one flush; returns the next seq.</summary>
    private static async Task<long> FlushRowsAsync(ArcEngine engine, long seq, int rows)
    {
        var lines = string.Concat(Enumerable.Range(0, rows).Select(i => Line(seq + i)));
        await EngineData.WriteAsync(engine, lines);
        await engine.FlushAsync();
        return seq + rows;
    }

    private static string Line(long seq, long offset = 0) =>
        string.Create(CultureInfo.InvariantCulture, $"cpu,host=h{seq % 7} seq={seq}i {T0 + offset + (seq * 1_000_000)}\n");

    private static async Task<string> CountsAsync(ArcEngine engine) =>
        await EngineData.ScalarAsync(engine, "SELECT count(*) || ' ' || count(DISTINCT seq) FROM cpu");

    private static string[] Files(string directory) => Directory.Exists(directory) ? EngineData.ParquetFiles(directory) : [];

    private static ParquetFileName Name(string path) =>
        ParquetFileName.TryParse(Path.GetFileName(path), out var name) ? name : throw new InvalidOperationException($"not a flushed file: {path}");

    /// <summary>The rows of each of the partition's Parquet files, in write order, read by DuckDB.</summary>
    private static long[] RowsPerFile(string directory) =>
        [.. Files(directory).OrderBy(f => Name(f).FirstLsn).Select(f => long.Parse(Read($"SELECT count(*) FROM read_parquet('{f}')")[0][0]!, CultureInfo.InvariantCulture))];

    /// <summary>What wrote a file (its footer's created_by): DuckDB's COPY, or arc-native's own writer.</summary>
    private static string WrittenBy(string file) => Read($"SELECT created_by FROM parquet_file_metadata('{file}')")[0][0]!;

    private static string Codec(string file) => Read($"SELECT string_agg(DISTINCT compression, ',') FROM parquet_metadata('{file}')")[0][0]!;

    /// <summary>The file's arc_ key-value metadata, sorted, as <c>key=value</c> separated by spaces.</summary>
    private static string Metadata(string file) =>
        Read($"SELECT string_agg(decode(key) || '=' || decode(value), ' ' ORDER BY decode(key)) FROM parquet_kv_metadata('{file}') WHERE decode(key) LIKE 'arc%'")[0][0]!;

    /// <summary>The seq values of a file in time order.</summary>
    private static string ReadSeqs(string file) => Read($"SELECT string_agg(seq::VARCHAR, ',' ORDER BY time) FROM read_parquet('{file}')")[0][0] ?? "";

    /// <summary>Rows in the partition's Parquet files, read by DuckDB (each exactly once: count equals distinct seq).</summary>
    private static long RowsOnDisk(string directory)
    {
        var row = Read($"SELECT count(*), count(DISTINCT seq) FROM read_parquet('{directory}/*.parquet')")[0];
        Assert.Equal(row[0], row[1]);
        return long.Parse(row[0]!, CultureInfo.InvariantCulture);
    }

    /// <summary>The rows of <paramref name="sql"/> as text, run by a DuckDB of its own (the files, not the engine's views).</summary>
    private static List<string?[]> Read(string sql)
    {
        using var database = Arc.Engine.DuckDb.DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        return connection.QueryStrings(sql);
    }
}

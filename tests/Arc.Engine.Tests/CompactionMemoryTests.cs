using System.Globalization;
using System.Text;
using Arc.Engine.Compaction;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// A scheduled merge that runs out of compaction's memory merges the older half of its batch instead and marks that output
/// full, so no later merge tries the same merge again; every row is kept once.
/// </summary>
public sealed class CompactionMemoryTests
{
    private const long T0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z

    [Fact]
    public async Task AMergeThatRunsOutOfMemoryMergesTheOlderHalfAndLeavesThatOutputAlone()
    {
        // Sorted by a configured key, so DuckDB sorts the whole merge (by tags then time, the default: the next test).
        await using var engines = new TempEngines("compaction-memory");
        var engine = await StartAsync(engines, ["host"]);
        const int Flushes = 4, Rows = 100_000;
        await FlushAsync(engine, Flushes, Rows);

        var flushed = EngineData.ParquetFiles(engines.Root).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Flushes, flushed.Count);
        var results = await engine.Compaction.RunAsync(CompactionTier.Hourly);
        var merges = results.Where(r => r.Output is not null).ToList();
        Assert.All(results, r => Assert.True(r.Succeeded, r.Error));
        Assert.Equal([2, 2], merges.Select(r => r.FilesIn)); // the older half, then the rest in the run's next round
        Assert.Equal(2, EngineData.ParquetFiles(engines.Root).Length);

        // The first output is full: a later run leaves both files as they are.
        Assert.All(await engine.Compaction.RunAsync(CompactionTier.Hourly), r => Assert.True(r.Succeeded && r.Output is null, r.Error));
        Assert.Equal(2, EngineData.ParquetFiles(engines.Root).Length);
        const int All = Flushes * Rows;
        Assert.Equal($"{All}|{All}|{(long)All * (All - 1) / 2}",
            await EngineData.ScalarAsync(engine, "SELECT count(*) || '|' || count(DISTINCT time) || '|' || sum(v) FROM cpu"));
    }

    [Fact]
    public async Task InTagsThenTimeOrderTheSameFilesAreSortedOneByOneAndMergedAsStreamsWithinThatMemory()
    {
        await using var engines = new TempEngines("compaction-memory");
        var engine = await StartAsync(engines, []);
        const int Flushes = 4, Rows = 100_000;
        await FlushAsync(engine, Flushes, Rows);

        var results = await engine.Compaction.RunAsync(CompactionTier.Hourly);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Error));
        Assert.Equal([4], results.Where(r => r.Output is not null).Select(r => r.FilesIn)); // one merge, not halved
        const int All = Flushes * Rows;
        Assert.Equal($"{All}|{All}|{(long)All * (All - 1) / 2}",
            await EngineData.ScalarAsync(engine, "SELECT count(*) || '|' || count(DISTINCT time) || '|' || sum(v) FROM cpu"));
    }

    private static Task<ArcEngine> StartAsync(TempEngines engines, string[] sortKeys) => engines.StartAsync(new EngineOptions
    {
        DataPath = engines.Root,
        MaxBufferAge = TimeSpan.FromHours(1),
        Time = new FakeTimeProvider(new DateTimeOffset(2023, 11, 15, 0, 0, 0, TimeSpan.Zero)),
        Compaction = new CompactionOptions
        {
            MemoryLimit = "32MB",
            Threads = 1,
            HourlyMinFiles = 2,
            LevelEnabled = false,
            DefaultSortKeys = sortKeys,
            HourlySchedule = "0 0 1 1 *",
            DailySchedule = "0 0 1 1 *",
        },
    });

    /// <summary>
    /// Flushes into one hour, <paramref name="rows"/> each with a 60-byte string: within 32 MB DuckDB sorts two flushes of
    /// 100,000 rows (hosts out of order, so the sort moves every row) and not four.
    /// </summary>
    private static async Task FlushAsync(ArcEngine engine, int flushes, int rows)
    {
        for (var flush = 0; flush < flushes; flush++)
        {
            var lines = new StringBuilder();
            for (var i = 0; i < rows; i++)
            {
                var n = (flush * rows) + i;
                lines.Append(CultureInfo.InvariantCulture, $"cpu,host=h{n * 7919L % 1000} v={n}i,s=\"{new string((char)('a' + (n % 26)), 60)}\" {T0 + n}\n");
            }

            await EngineData.WriteAsync(engine, lines.ToString());
            await engine.CheckpointAsync();
        }
    }
}

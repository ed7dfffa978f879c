using Arc.Engine.Compaction;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// The manifest keeps each file's rows' time range, not only its partition's: a query over the last minutes of an hour
/// opens only the files holding those minutes, after a flush (its rows), a merge (its inputs' union) and a restart (the
/// footer's statistics) alike, and the answers stay those of every file.
/// </summary>
public sealed class FileTimeRangeTests : IAsyncLifetime
{
    private const long Minute = 60_000_000_000;
    private const long T0 = 1_700_002_800_000_000_000; // 2023-11-14T23:00:00Z, the start of an hour
    private readonly TempEngines _engines = new("ranges");

    // Standing still: the hourly schedule never fires by itself; the test runs it.
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 16, 0, 0, 0, TimeSpan.Zero));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _engines.DisposeAsync();

    [Fact]
    public async Task AQueryOverTheLastMinutesOfAnHourOpensOnlyTheFilesHoldingThem()
    {
        var engine = await StartAsync();

        // Four flushes into one hour partition, ten minutes apart: 23:05–23:06, 23:15–23:16, 23:25–23:26, 23:35–23:36, each
        // ending 400 ns after its minute.
        for (var i = 0; i < 4; i++)
        {
            var start = T0 + ((5 + (10 * i)) * Minute);
            await EngineData.WriteAsync(engine, $"cpu,host=a v={i}i {start}\ncpu,host=b v={i}i {start + Minute + 400}\n");
            await engine.FlushAsync();
        }

        Assert.Equal(4, EngineData.ParquetFiles(Path.Combine(_engines.Root, "db", "cpu")).Length);
        const string recent = "SELECT count(*), sum(v) FROM cpu WHERE time >= '2023-11-14T23:30:00Z'";
        const string middle = "SELECT count(*), sum(v) FROM cpu WHERE time BETWEEN '2023-11-14T23:16:00.0000004Z' AND '2023-11-14T23:25:00Z'";
        const string gap = "SELECT count(*) FROM cpu WHERE time > '2023-11-14T23:06:00.000003Z' AND time < '2023-11-14T23:14:59.999997Z'";
        const string last = "SELECT count(*) FROM cpu WHERE time > '2023-11-14T23:36:00.000000399Z'";
        await EngineData.AssertOpensAsync(engine, recent, 1, "2", "6");
        await EngineData.AssertOpensAsync(engine, middle, 2, "2", "3"); // both ends are rows
        await EngineData.AssertOpensAsync(engine, gap, 0, "0");
        await EngineData.AssertOpensAsync(engine, last, 1, "1");
        await EngineData.AssertOpensAsync(engine, "SELECT count(*), sum(v) FROM cpu", 4, "8", "12");

        // A restart reads the ranges from the footers (widened by just under a microsecond each way, hence the gap's
        // microseconds).
        await _engines.StopAsync(engine);
        engine = await StartAsync();
        await EngineData.AssertOpensAsync(engine, recent, 1, "2", "6");
        await EngineData.AssertOpensAsync(engine, gap, 0, "0");
        await EngineData.AssertOpensAsync(engine, last, 1, "1");

        // A merge of the hour's files covers their union: 23:05 to just after 23:36.
        var results = await engine.Compaction.RunAsync(CompactionTier.Hourly);
        Assert.Contains(results, r => r.Succeeded);
        Assert.Single(EngineData.ParquetFiles(Path.Combine(_engines.Root, "db", "cpu")));
        await EngineData.AssertOpensAsync(engine, recent, 1, "2", "6");
        await EngineData.AssertOpensAsync(engine, last, 1, "1");
        await EngineData.AssertOpensAsync(engine, "SELECT count(*) FROM cpu WHERE time > '2023-11-14T23:36:00.000003Z'", 0, "0");
        await EngineData.AssertOpensAsync(engine, "SELECT count(*) FROM cpu WHERE time < '2023-11-14T23:04:59.999997Z'", 0, "0");
        await EngineData.AssertOpensAsync(engine, "SELECT count(*) FROM cpu WHERE time <= '2023-11-14T23:05:00Z'", 1, "1");
    }

    private Task<ArcEngine> StartAsync() => _engines.StartAsync(new EngineOptions
    {
        DataPath = _engines.Root,
        MaxBufferAge = TimeSpan.FromHours(1),
        HotDataBytes = 0, // the files are what is counted, not rows kept in memory
        WalEnabled = false, // hourly compaction leaves files whose commits are still in the log
        Time = _clock,
        Compaction = new CompactionOptions { DailyEnabled = false, LevelEnabled = false, HourlyMinFiles = 2 },
    });
}

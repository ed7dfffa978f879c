using Arc.Engine.Compaction;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// Compaction's schedules and ages follow the engine's clock: with a fake one, a test moves time instead of waiting for it.
/// </summary>
public sealed class CompactionScheduleTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-schedule-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 15, 0, 0, 0, TimeSpan.Zero));
    private ArcEngine _engine = null!;

    public async Task InitializeAsync() => _engine = await ArcEngine.StartAsync(new EngineOptions
    {
        DataPath = _directory,
        MaxBufferAge = TimeSpan.FromHours(1),
        Time = _clock,
        Compaction = new CompactionOptions { HourlyMinFiles = 2, DailyMinFiles = 2, HourlySchedule = "5 * * * *", DailySchedule = "0 3 * * *" },
    });

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task TheHourlyScheduleRunsWhenTheClockReachesItsMinute()
    {
        await WriteTwoFilesInOneHourAsync();
        _clock.Advance(TimeSpan.FromMinutes(4)); // 00:04: not yet
        await Task.Delay(200);
        Assert.Null(_engine.Compaction.LastRunStarted);
        Assert.Equal(2, EngineData.ParquetFiles(_directory).Length);

        // Minute by minute until the run: a loop that registered its timer late waits for the next :05.
        for (var i = 0; i < 130 && _engine.Compaction.LastRunFinished is null; i++)
        {
            _clock.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(20);
        }

        await EngineData.WaitForAsync(() => EngineData.ParquetFiles(_directory).Length == 1, TimeSpan.FromSeconds(10));
        Assert.Equal(5, _engine.Compaction.LastRunStarted!.Value.Minute);
        Assert.Equal("2", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu"));
    }

    [Fact]
    public async Task ADayIsCompactedOnlyOnceItEndedLongEnoughAgo()
    {
        // 22:00 and 23:00 of 2023-11-14, two files each, hourly-compacted into one file per hour.
        await WriteTwoFilesInOneHourAsync();
        await WriteTwoFilesInOneHourAsync(EngineData.Hour);
        await _engine.Compaction.RunAsync(CompactionTier.Hourly);
        Assert.Equal(2, EngineData.ParquetFiles(_directory).Length);

        // At 00:00 on the 15th the day ended 0 h ago: the daily tier (24 h by default) leaves it alone ...
        Assert.Empty(await _engine.Compaction.CandidatesAsync(CompactionTier.Daily));
        _clock.Advance(TimeSpan.FromHours(23));
        Assert.Empty(await _engine.Compaction.CandidatesAsync(CompactionTier.Daily));

        // ... and takes it once 24 h have passed.
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Single(await _engine.Compaction.CandidatesAsync(CompactionTier.Daily));
        await _engine.Compaction.RunAsync(CompactionTier.Daily);
        Assert.EndsWith("_daily.parquet", Assert.Single(EngineData.ParquetFiles(_directory)), StringComparison.Ordinal);
        Assert.Equal("4", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu"));
    }

    /// <summary>Two flushes into one hour, checkpointed so the log no longer holds them (they are open to compaction).</summary>
    private async Task WriteTwoFilesInOneHourAsync(long offset = 0)
    {
        await EngineData.WriteAsync(_engine, $"cpu,host=a v=1 {T0 + offset}\n");
        await _engine.CheckpointAsync();
        await EngineData.WriteAsync(_engine, $"cpu,host=b v=2 {T0 + offset + 1}\n");
        await _engine.CheckpointAsync();
    }
}

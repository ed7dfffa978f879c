using Arc.Engine.Compaction;
using Arc.Engine.Retention;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// Retention on the engine with a fake clock: the schedule runs the active policies when the clock reaches it and removes
/// exactly the files whose rows are all past the cutoff; in object storage the objects go too; and under sustained
/// ingest with a short retention the file count and bytes stay flat over many periods.
/// </summary>
public sealed class RetentionEngineTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-retention-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero));

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        return Task.CompletedTask;
    }

    private EngineOptions Options(string schedule = "15 * * * *") => new()
    {
        DataPath = Path.Combine(_directory, "data"),
        MaxBufferAge = TimeSpan.FromHours(1),
        Time = _clock,
        Compaction = new CompactionOptions { HourlyEnabled = false, DailyEnabled = false },
        Retention = new RetentionOptions { DbPath = Path.Combine(_directory, "retention.json"), Schedule = schedule },
    };

    [Fact]
    public async Task TheScheduleRemovesExpiredFilesAndKeepsTheOthers()
    {
        await using var engine = await ArcEngine.StartAsync(Options());
        await EngineData.WriteAsync(engine, $"cpu,host=old v=1 {Nanos(2025, 1, 1, 5)}\ncpu,host=new v=2 {Nanos(2025, 2, 27, 10)}\n" +
                                            $"mem,host=old v=3 {Nanos(2025, 1, 1, 6)}\n");
        await engine.CheckpointAsync();
        Assert.Equal(3, EngineData.ParquetFiles(_directory).Length);
        var retention = engine.Retention!;
        var policy = retention.Create(new RetentionPolicyRequest("cpu", "db", "cpu", RetentionDays: 30, BufferDays: 1));
        retention.Start();

        // 00:14: not yet.
        _clock.Advance(TimeSpan.FromMinutes(14));
        await Task.Delay(100);
        Assert.Equal(0, retention.ScheduledRuns);
        Assert.Equal(3, EngineData.ParquetFiles(_directory).Length);

        for (var i = 0; i < 130 && retention.ScheduledRuns == 0; i++)
        {
            _clock.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(20);
        }

        Assert.Equal(1, retention.ScheduledRuns);
        var files = EngineData.ParquetFiles(_directory);
        Assert.Equal(2, files.Length);
        Assert.DoesNotContain(files, f => f.Contains("/cpu/2025/01/01/", StringComparison.Ordinal));
        Assert.Equal("new", await EngineData.ScalarAsync(engine, "SELECT string_agg(host) FROM cpu"));
        Assert.Equal("1", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM mem")); // not the policy's measurement
        var run = Assert.Single(retention.Executions(policy.Id, 10).Executions);
        Assert.Equal(("completed", "scheduled", 1, 1L), (run.Status, run.Trigger, run.FilesDeleted, run.DeletedCount));
        Assert.Equal("2025-03-01T00:15:00Z", run.ExecutionTime);
        Assert.False(Directory.Exists(Path.Combine(_directory, "data", "db", "cpu", "2025", "01")) &&
                     Directory.EnumerateFiles(Path.Combine(_directory, "data", "db", "cpu", "2025", "01"), "*", SearchOption.AllDirectories).Any());

        // The next pass prunes the directories the first one emptied.
        await retention.RunActiveAsync(CancellationToken.None);
        Assert.False(Directory.Exists(Path.Combine(_directory, "data", "db", "cpu", "2025", "01")));
    }

    [Fact]
    public async Task ObjectStorageLosesTheExpiredObjectsAndAnotherServerNoLongerSeesThem()
    {
        await using var engines = new BucketEngines(new InMemoryObjectStore());
        var engine = await engines.StartAsync("a", clock: _clock);
        await EngineData.WriteAsync(engine, $"cpu,host=old v=1 {Nanos(2025, 1, 1, 5)}\ncpu,host=new v=2 {Nanos(2025, 2, 27, 10)}\n");
        await engine.CheckpointAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, engines.Bucket.Keys.Count(k => k.EndsWith(".parquet", StringComparison.Ordinal)));

        var sweep = await engine.ExpireAsync("db", null, new DateTimeOffset(2025, 2, 1, 0, 0, 0, TimeSpan.Zero), dryRun: false, CancellationToken.None);
        Assert.Single(sweep.Files);
        var left = Assert.Single(engines.Bucket.Keys, k => k.EndsWith(".parquet", StringComparison.Ordinal));
        Assert.Contains("/2025/02/27/", left, StringComparison.Ordinal);
        Assert.Equal("1", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
        Assert.Empty(Directory.GetFiles(Path.Combine(engines.Root, "a", ".retention")));

        var cold = await engines.StartAsync("b", clock: _clock);
        Assert.Equal("new", await EngineData.ScalarAsync(cold, "SELECT string_agg(host) FROM cpu"));
    }

    /// <summary>
    /// Hourly files, for two weeks, under a 2 + 1 day policy run every day: once the first three days are
    /// past, each run removes a day's files as the day adds them, so the count and the bytes stay flat.
    /// </summary>
    [Fact]
    public async Task SustainedIngestUnderAShortRetentionKeepsDiskFlat()
    {
        await using var engine = await ArcEngine.StartAsync(Options(schedule: ""));
        var retention = engine.Retention!;
        retention.Create(new RetentionPolicyRequest("short", "db", RetentionDays: 2, BufferDays: 1));
        var perDay = new List<(int Files, long Bytes, int Directories)>();
        for (var day = 0; day < 14; day++)
        {
            for (var hour = 0; hour < 24; hour++)
            {
                var now = (_clock.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;
                await EngineData.WriteAsync(engine, string.Concat(Enumerable.Range(0, 50).Select(i => $"cpu,host=h{i % 5} v={i} {now + i}\n")));
                await engine.CheckpointAsync();
                _clock.Advance(TimeSpan.FromHours(1));
            }

            await retention.RunActiveAsync(CancellationToken.None);
            var files = EngineData.ParquetFiles(_directory);
            perDay.Add((files.Length, files.Sum(f => new FileInfo(f).Length),
                Directory.GetDirectories(Path.Combine(_directory, "data", "db", "cpu"), "*", SearchOption.AllDirectories).Length));
        }

        // Days 0-2 fill up to the window; from day 3 on every day ends with the same 72 hours of files.
        var steady = perDay.Skip(3).ToList();
        Assert.All(steady, d => Assert.Equal(72, d.Files));
        Assert.True(steady.Max(d => d.Bytes) <= steady.Min(d => d.Bytes) * 1.05, string.Join(", ", perDay));
        Assert.Equal("3600", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu")); // 72 hours of 50 rows

        // Partition directories a run empties are pruned by the next: their number stays bounded too (the window's hours,
        // the day just emptied, and their day, month and year directories).
        Assert.True(steady.Max(d => d.Directories) <= 72 + 24 + 12, string.Join(", ", perDay));
        Assert.True(steady.Max(d => d.Directories) - steady.Min(d => d.Directories) <= 3, string.Join(", ", perDay));
    }

    private static long Nanos(int year, int month, int day, int hour) =>
        (new DateTimeOffset(year, month, day, hour, 0, 0, TimeSpan.Zero) - DateTimeOffset.UnixEpoch).Ticks * 100;
}

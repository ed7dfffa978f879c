using Arc.Engine.ContinuousQueries;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// The continuous-query schedule on a fake clock: each window runs once, after it closed and its grace passed; windows
/// missed while the engine was down are caught up after a restart, and none runs twice.
/// </summary>
public sealed class ContinuousQueryScheduleTests : IAsyncLifetime
{
    /// <summary>2023-11-15T00:00:00Z in nanoseconds.</summary>
    private const long T0 = 1_700_006_400_000_000_000;

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-cq-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 15, 0, 0, 0, TimeSpan.Zero));
    private ArcEngine _engine = null!;

    private ContinuousQueryManager Queries => _engine.ContinuousQueries!;

    public async Task InitializeAsync() => _engine = await StartAsync();

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task<ArcEngine> StartAsync(TimeSpan? lateWindowMaxAge = null)
    {
        var engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = Path.Combine(_directory, "data"),
            MaxBufferAge = TimeSpan.FromHours(1),
            Time = _clock,
            ContinuousQueries = new ContinuousQueryOptions
            {
                DbPath = Path.Combine(_directory, "cq.db"),
                Grace = TimeSpan.FromSeconds(10),
                LateWindowMaxAge = lateWindowMaxAge ?? TimeSpan.FromHours(24),
            },
        });
        engine.ContinuousQueries!.Start();
        return engine;
    }

    [Fact]
    public async Task EachClosedWindowRunsOnceAndMissedOnesAreCaughtUp()
    {
        // Six hours of a point every 10 minutes for two hosts: v is the minute of the day.
        await EngineData.WriteAsync(_engine, string.Concat(Enumerable.Range(0, 36).SelectMany(i => new[]
        {
            $"cpu,host=a v={i * 10} {T0 + (i * EngineData.Hour / 6)}\n",
            $"cpu,host=b v={(i * 10) + 1} {T0 + (i * EngineData.Hour / 6)}\n",
        })));
        var created = await Queries.CreateAsync(new ContinuousQueryRequest
        {
            Name = "hourly",
            Database = "db",
            SourceMeasurement = "cpu",
            DestinationMeasurement = "cpu_1h",
            Query = "SELECT host, sum(v) AS total, count(*) AS n FROM cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY host",
            Interval = "1h",
            TagColumns = ["host"],
        }, CancellationToken.None);
        Assert.Equal("2023-11-15T00:00:00Z", created.LastProcessedTime); // the window it was created in is the first

        _clock.Advance(TimeSpan.FromHours(1)); // 01:00: the window closed, its grace has not passed
        _clock.Advance(TimeSpan.FromSeconds(10)); // 01:00:10: it runs
        await WaitForMarkAsync(created.Id, "2023-11-15T01:00:00Z");
        Assert.Equal("2", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu_1h"));
        // No time column in the output: the rows carry the window's start.
        Assert.Equal("1700006400000000000", await EngineData.ScalarAsync(_engine, "SELECT DISTINCT epoch_ns(time) FROM cpu_1h"));
        Assert.Equal("150", await EngineData.ScalarAsync(_engine, "SELECT total FROM cpu_1h WHERE host = 'a'")); // 0+10+...+50

        // Down from 01:00:10 to 04:30: the windows 01-02, 02-03 and 03-04 run after the restart, once each.
        await _engine.DisposeAsync();
        _clock.Advance(new TimeSpan(3, 29, 50));
        _engine = await StartAsync();
        await WaitForMarkAsync(created.Id, "2023-11-15T04:00:00Z");
        _clock.Advance(TimeSpan.FromMinutes(30) + TimeSpan.FromSeconds(10)); // 05:00:10: and the next one
        await WaitForMarkAsync(created.Id, "2023-11-15T05:00:00Z");

        var executions = Queries.Executions(created.Id, 100).Executions;
        Assert.Equal(
            ["2023-11-15T00:00:00Z", "2023-11-15T01:00:00Z", "2023-11-15T02:00:00Z", "2023-11-15T03:00:00Z", "2023-11-15T04:00:00Z"],
            executions.Select(e => e.StartTime).Reverse());
        Assert.All(executions, e => Assert.Equal(("completed", 2L), (e.Status, e.RecordsWritten)));
        Assert.Equal("10", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu_1h"));
        Assert.Equal("0", await EngineData.ScalarAsync(_engine,
            "SELECT count(*) FROM (SELECT time, host FROM cpu_1h GROUP BY ALL HAVING count(*) > 1)"));
        // Every window's total is the source's: the output equals the aggregation over the same hours.
        Assert.Equal("0", await EngineData.ScalarAsync(_engine,
            "SELECT count(*) FROM cpu_1h o FULL JOIN (SELECT time_bucket(INTERVAL 1 HOUR, time) AS t, host, sum(v) AS s FROM cpu " +
            "WHERE time < '2023-11-15T05:00:00Z' GROUP BY ALL) d ON o.time = d.t AND o.host = d.host WHERE o.total IS DISTINCT FROM d.s"));
    }

    [Fact]
    public async Task OnlyLateWindowsYoungerThanTheMaxAgeAreRecomputed()
    {
        await _engine.DisposeAsync();
        _engine = await StartAsync(lateWindowMaxAge: TimeSpan.FromHours(2));
        await EngineData.WriteAsync(_engine, string.Concat(Enumerable.Range(0, 36).Select(i => $"cpu,host=a v={i} {T0 + (i * EngineData.Hour / 6)}\n")));
        var created = await Queries.CreateAsync(new ContinuousQueryRequest
        {
            Name = "hourly",
            Database = "db",
            SourceMeasurement = "cpu",
            DestinationMeasurement = "cpu_1h",
            Query = "SELECT host, sum(v) AS total FROM cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY host",
            Interval = "1h",
            TagColumns = ["host"],
        }, CancellationToken.None);
        _clock.Advance(TimeSpan.FromHours(5) + TimeSpan.FromSeconds(10)); // 05:00:10: the windows 00 to 04 run
        await WaitForMarkAsync(created.Id, "2023-11-15T05:00:00Z");

        // 01:30 is older than the two hours late windows are recomputed for (from 03:00): its output stays as it was.
        await EngineData.WriteAsync(_engine, $"cpu,host=a v=1000 {T0 + (EngineData.Hour * 3 / 2)}\n");
        Assert.Equal(0, Queries.Get(created.Id).LateWindowsPending);
        // 04:30 is not: recomputed a grace period later.
        await EngineData.WriteAsync(_engine, $"cpu,host=a v=2000 {T0 + (EngineData.Hour * 9 / 2)}\n");
        Assert.Equal(1, Queries.Get(created.Id).LateWindowsPending);
        _clock.Advance(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 500 && Queries.Get(created.Id).LateWindowsPending > 0; i++)
        {
            await TickAsync();
        }

        Assert.Equal(0, Queries.Get(created.Id).LateWindowsPending);
        Assert.Equal("51", await EngineData.ScalarAsync(_engine, "SELECT total FROM cpu_1h WHERE time = '2023-11-15T01:00:00Z'")); // 6+...+11
        Assert.Equal("2159", await EngineData.ScalarAsync(_engine, "SELECT total FROM cpu_1h WHERE time = '2023-11-15T04:00:00Z'")); // 24+...+29 + 2000
        Assert.Equal("5", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu_1h"));
        var recompute = Assert.Single(Queries.Executions(created.Id, 100).Executions, e => e.Kind == "recompute");
        Assert.Equal(("2023-11-15T04:00:00Z", 1L, 1L), (recompute.StartTime, recompute.RecordsDeleted, recompute.RecordsWritten));
    }

    private async Task WaitForMarkAsync(long id, string mark)
    {
        for (var i = 0; i < 500 && Queries.Get(id).LastProcessedTime != mark; i++)
        {
            await TickAsync();
        }

        Assert.Equal(mark, Queries.Get(id).LastProcessedTime);
    }

    /// <summary>
    /// Waits a moment of real time and moves the clock a second: the scheduler sleeps a second of the engine's clock between
    /// passes, and a pass that was running when the test moved the clock sleeps from the moved time, waiting for one more.
    /// </summary>
    private async Task TickAsync()
    {
        await Task.Delay(20);
        _clock.Advance(TimeSpan.FromSeconds(1));
    }
}

using System.Globalization;
using Arc.Engine.Compaction;
using Arc.Engine.DuckDb;
using DuckDB.NET.Native;
using Microsoft.Extensions.Logging.Abstractions;

namespace Arc.Engine.Tests;

/// <summary>
/// The query DuckDB's renewal (<see cref="EngineOptions.RenewAfterFilesRemoved"/>): the new instance has dropped every cached
/// footer and answers like the old one — views of every database and measurement, rows in memory, the SQL sandbox, the
/// locked settings — while a query running across the swap finishes on the old one, and flushes and queries going on
/// meanwhile neither fail nor see a row twice.
/// </summary>
public sealed class QueryDatabaseRenewalTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000L;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-renew-" + Guid.NewGuid().ToString("N"));
    private ArcEngine _engine = null!;

    public async Task InitializeAsync() => _engine = await ArcEngine.StartAsync(new EngineOptions
    {
        DataPath = _directory,
        HotDataBytes = 0, // every flushed row is read from its file, so its footer is cached
        RenewAfterFilesRemoved = 0, // renewed by the tests alone
        Compaction = new CompactionOptions { Enabled = false },
    });

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task ARenewedInstanceHoldsNoFooterAndAnswersLikeTheOldOne()
    {
        await WriteFlushedAsync("cpu", 0, 500, "db");
        await WriteFlushedAsync("mem", 0, 300, "db");
        await WriteFlushedAsync("cpu", 0, 200, "other");
        await WriteFlushedAsync("gone", 0, 10, "db");
        await _engine.DropMeasurementAsync("db", "gone", CancellationToken.None);
        await EngineData.WriteAsync(_engine, $"cpu,host=h0 v=1 {T0 + 1_000_000}\n"); // buffered, not flushed
        Assert.Equal("501", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu"));
        Assert.Equal("300", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM mem"));
        Assert.Equal("200", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM other.cpu"));
        Assert.True(await FooterBytesAsync() > 0, "the footers the queries read are cached");

        _engine.RenewQueryDatabase(NullLogger.Instance);

        Assert.Equal(1, _engine.QueryDatabaseRenewals);
        Assert.Equal(0, await FooterBytesAsync());
        Assert.Equal("501", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu"));
        Assert.Equal("300", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM db.mem"));
        Assert.Equal("200", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu", "other"));
        Assert.Equal("1", await EngineData.ScalarAsync(_engine, $"SELECT count(*) FROM cpu WHERE time > make_timestamp({(T0 + 500_000) / 1000})"));
        Assert.True(await FooterBytesAsync() > 0, "footers are cached again");
        var dropped = await Assert.ThrowsAsync<DuckDbException>(() => EngineData.ScalarAsync(_engine, "SELECT count(*) FROM gone"));
        Assert.Contains("gone", dropped.Message);
        Assert.Equal("cpu,mem", await EngineData.ScalarAsync(_engine,
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'db'"));

        // Writes after the renewal: a new measurement's view is made on the new instance, and flushes still show.
        await WriteFlushedAsync("disk", 0, 40, "db");
        await WriteFlushedAsync("cpu", 1_000, 50, "db");
        Assert.Equal("40", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM disk"));
        Assert.Equal("551", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM cpu"));

        // The sandbox and the settings are the first instance's.
        Assert.Equal("UTC", await EngineData.ScalarAsync(_engine, "SELECT current_setting('TimeZone')"));
        Assert.Equal("true", await EngineData.ScalarAsync(_engine, "SELECT current_setting('parquet_metadata_cache')::VARCHAR"));
        var outside = await Assert.ThrowsAsync<DuckDbException>(() => EngineData.ScalarAsync(_engine, "SELECT count(*) FROM read_text('/etc/hostname')"));
        Assert.Contains("Permission Error", outside.Message);
        var locked = await Assert.ThrowsAsync<DuckDbException>(() => RunOnTheQueryInstanceAsync("SET threads = 1"));
        Assert.Contains("configuration has been locked", locked.Message);
    }

    [Fact]
    public async Task ViewsCreatedAndDroppedWhileTheNewInstanceIsPreparedAreCaughtUp()
    {
        await WriteFlushedAsync("dropped", 0, 10, "db");
        await WriteFlushedAsync("kept", 0, 10, "db");
        await WriteFlushedAsync("gonedb", 0, 10, "temporary");
        _engine.RenewQueryDatabase(NullLogger.Instance, () =>
        {
            // After the new instance got its views, before the catalog is locked: a drop, a new measurement with files,
            // one with rows in memory only, and a whole database dropped.
            _engine.DropMeasurementAsync("db", "dropped", CancellationToken.None).GetAwaiter().GetResult();
            WriteFlushedAsync("created", 0, 20, "db").GetAwaiter().GetResult();
            EngineData.WriteAsync(_engine, $"buffered,host=h v=1 {T0}\n").GetAwaiter().GetResult();
            _engine.DropDatabaseAsync("temporary", CancellationToken.None).GetAwaiter().GetResult();
        });

        Assert.Equal("20", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM created"));
        Assert.Equal("1", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM buffered"));
        Assert.Equal("10", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM kept"));
        await Assert.ThrowsAsync<DuckDbException>(() => EngineData.ScalarAsync(_engine, "SELECT count(*) FROM dropped"));
        Assert.Equal("0", await EngineData.ScalarAsync(_engine,
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'temporary'"));
        Assert.Equal("buffered,created,kept", await EngineData.ScalarAsync(_engine,
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'db'"));
    }

    [Fact]
    public async Task AQueryRunningAcrossARenewalFinishesOnTheOldInstance()
    {
        await WriteFlushedAsync("big", 0, 300_000, "db");
        using (var cursor = await _engine.Query.OpenAsync("SELECT v FROM big", "db", CancellationToken.None))
        {
            var rows = ChunkRows(cursor.Result.FetchChunk());
            _engine.RenewQueryDatabase(NullLogger.Instance);
            Assert.Equal(0, _engine.IdleQueryConnections); // the old instance's idle connections are closed
            for (var chunk = cursor.Result.FetchChunk(); chunk is not null; chunk = cursor.Result.FetchChunk())
            {
                rows += ChunkRows(chunk);
            }

            Assert.Equal(300_000, rows);
        }

        Assert.Equal(0, _engine.IdleQueryConnections); // the connection it ran on went with the old instance
        Assert.Equal("300000", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM big"));
        Assert.Equal(1, _engine.IdleQueryConnections);
    }

    [Fact]
    public async Task RenewalsDuringFlushesAndQueriesLoseNothingAndShowNoRowTwice()
    {
        await WriteFlushedAsync("m", 0, 1_000, "db");
        using var stop = new CancellationTokenSource();
        var written = 1_000;
        var writer = Task.Run(async () =>
        {
            for (var round = 1; !stop.IsCancellationRequested; round++)
            {
                await WriteFlushedAsync("m", round * 1_000, 100, "db");
                await WriteFlushedAsync($"n{round % 5}", round * 1_000, 10, "db");
                Interlocked.Add(ref written, 100);
            }
        });
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            var queries = 0;
            while (!stop.IsCancellationRequested)
            {
                var before = Volatile.Read(ref written);
                var count = int.Parse(await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM m"), CultureInfo.InvariantCulture);
                var after = Volatile.Read(ref written);
                Assert.InRange(count, before, after + 100); // a flush under way may already show
                Assert.Equal("0", await EngineData.ScalarAsync(_engine, "SELECT count(*) - count(DISTINCT time) FROM m"));
                queries++;
            }

            return queries;
        })).ToList();
        for (var i = 0; i < 15; i++)
        {
            await Task.Delay(100);
            _engine.RenewQueryDatabase(NullLogger.Instance);
        }

        await stop.CancelAsync();
        await writer;
        var answered = await Task.WhenAll(readers);
        Assert.All(answered, n => Assert.True(n > 0));
        Assert.Equal(15, _engine.QueryDatabaseRenewals);
        Assert.Equal(written.ToString(CultureInfo.InvariantCulture), await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM m"));
    }

    [Fact]
    public async Task TheEngineRenewsOnceRemovedFilesItReadReachTheThresholdAndOutnumberThoseStillListed()
    {
        var directory = Path.Combine(Path.GetTempPath(), "arc-renew-" + Guid.NewGuid().ToString("N"));
        var engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = directory,
            HotDataBytes = 0,
            RenewAfterFilesRemoved = 3,
            Compaction = new CompactionOptions { Enabled = false },
        });
        try
        {
            foreach (var (measurement, files) in new[] { ("kept", 4), ("dropped", 3), ("unread", 5) })
            {
                for (var i = 0; i < files; i++)
                {
                    await EngineData.WriteAsync(engine, $"{measurement},host=h v={i} {T0 + i}\n");
                    await engine.FlushAsync();
                }
            }

            Assert.Equal("4", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM kept"));
            Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM dropped"));
            Assert.Equal((0L, 8), engine.OpenedFiles); // of unread's files only the first, read for the schema file

            await engine.DropMeasurementAsync("db", "unread", CancellationToken.None);
            await engine.DropMeasurementAsync("db", "dropped", CancellationToken.None);
            Assert.Equal((4L, 4), engine.OpenedFiles);
            await Task.Delay(TimeSpan.FromSeconds(6)); // a check passed: 4 removed of those read, 4 of them listed
            Assert.Equal(0, engine.QueryDatabaseRenewals);

            await engine.DropMeasurementAsync("db", "kept", CancellationToken.None); // 8 removed, none listed
            await EngineData.WaitForAsync(() => engine.QueryDatabaseRenewals == 1, TimeSpan.FromSeconds(15));
            Assert.Equal((0L, 0), engine.OpenedFiles);
            await EngineData.WriteAsync(engine, $"later,host=h v=1 {T0}\n");
            await engine.FlushAsync();
            Assert.Equal("1", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM later"));
            Assert.Equal((0L, 1), engine.OpenedFiles);
        }
        finally
        {
            await engine.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task FootersReadAtTheStartCountAsNoneHeld()
    {
        await WriteFlushedAsync("m", 0, 10, "db");
        await WriteFlushedAsync("m", 10, 10, "db");
        await _engine.DisposeAsync();
        _engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = _directory,
            HotDataBytes = 0,
            RenewAfterFilesRemoved = 0,
            Compaction = new CompactionOptions { Enabled = false },
        });

        Assert.Equal((0L, 0), _engine.OpenedFiles); // the start read both footers, with the cache off
        Assert.Equal(0, await FooterBytesAsync());
        Assert.Equal("20", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM m"));
        Assert.Equal((0L, 2), _engine.OpenedFiles);
    }

    private async Task WriteFlushedAsync(string measurement, int first, int count, string database)
    {
        await EngineData.WriteAsync(_engine, string.Concat(Enumerable.Range(first, count).Select(i => $"{measurement},host=h{i % 7} v={i} {T0 + i}\n")), database);
        await _engine.FlushAsync();
    }

    private async Task<long> FooterBytesAsync() => long.Parse(await EngineData.ScalarAsync(_engine,
        "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'OBJECT_CACHE'"), CultureInfo.InvariantCulture);

    /// <summary>Runs a statement the query side would refuse (a SET) straight on a connection of the current instance.</summary>
    private Task RunOnTheQueryInstanceAsync(string sql)
    {
        using var connection = _engine.QueryDatabase.Connect();
        connection.Execute(sql);
        return Task.CompletedTask;
    }

    private static long ChunkRows(DuckDBDataChunk? chunk)
    {
        if (chunk is null)
        {
            return 0;
        }

        using (chunk)
        {
            return (long)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
        }
    }
}

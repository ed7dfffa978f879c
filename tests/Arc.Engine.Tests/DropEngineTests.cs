using Arc.Engine.Errors;
using Arc.Engine.Storage;
using Arc.Engine.Storage.Remote;

namespace Arc.Engine.Tests;

/// <summary>
/// Dropping a database or a measurement at engine level: buffered, logged and flushed rows go, locally and in an
/// in-memory object store with faults; restarts replay nothing dropped; the name takes new rows at once.
/// </summary>
public sealed class DropEngineTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000;
    private readonly InMemoryObjectStore _bucket = new();
    private readonly TempEngines _engines = new("drop");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _engines.DisposeAsync();

    [Fact]
    public async Task ADroppedDatabaseLosesFlushedBufferedAndLoggedRowsAndTheNameTakesNewRows()
    {
        var engine = await StartAsync(remote: false);
        await EngineData.WriteAsync(engine, Lines("cpu", 3, T0));
        await EngineData.WriteAsync(engine, Lines("mem", 2, T0));
        await engine.FlushAsync();
        await EngineData.WriteAsync(engine, Lines("cpu", 2, T0 + 1)); // buffered, in the log only
        await EngineData.WriteAsync(engine, Lines("cpu", 4, T0), "other");
        Assert.Equal(["db", "other"], engine.ListDatabases().Select(d => d.Name));
        Assert.Equal(2, engine.FindDatabase("DB")!.MeasurementCount);

        var result = await engine.DropDatabaseAsync("DB", CancellationToken.None);
        Assert.Equal("db", result.Database);
        Assert.Equal(["cpu", "mem"], result.Measurements);
        Assert.Equal(5, result.FilesDeleted); // 3 hourly cpu files and 2 of mem; the buffered rows never reached a file
        Assert.False(Directory.Exists(Path.Combine(_engines.Root, "local", "db")));
        Assert.Null(engine.FindDatabase("db"));
        Assert.Contains("does not exist", (await Assert.ThrowsAnyAsync<Exception>(() => EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"))).Message,
            StringComparison.Ordinal);

        await EngineData.WriteAsync(engine, "cpu,host=new v=1i 5\n"); // a new schema: v is an integer now
        Assert.Equal("1", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
        Assert.Equal("4", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu", "other"));

        var restarted = await RestartAsync(engine, remote: false);
        Assert.Equal("1", await EngineData.ScalarAsync(restarted, "SELECT count(*) FROM cpu"));
        Assert.Equal("4", await EngineData.ScalarAsync(restarted, "SELECT count(*) FROM cpu", "other"));
        Assert.Empty(Directory.GetFiles(Path.Combine(_engines.Root, "local", ".drops"))); // the log holds nothing it covers any more
    }

    [Fact]
    public async Task DroppingAMeasurementKeepsTheOthersAndWritesDuringTheDropAreRefusedNotLost()
    {
        var engine = await StartAsync(remote: false);
        await EngineData.WriteAsync(engine, Lines("cpu", 2, T0) + Lines("mem", 2, T0));
        await engine.FlushAsync();
        await EngineData.WriteAsync(engine, Lines("cpu", 1, T0 + 7));

        var result = await engine.DropMeasurementAsync("db", "CPU", CancellationToken.None);
        Assert.Equal(["cpu"], result.Measurements);
        Assert.Equal(["mem"], engine.ListMeasurements("db"));
        Assert.Equal("2", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM mem"));
        await Assert.ThrowsAsync<DatabaseOperationException>(() => engine.DropMeasurementAsync("db", "cpu", CancellationToken.None));

        var restarted = await RestartAsync(engine, remote: false);
        Assert.Equal(["mem"], restarted.ListMeasurements("db"));
        Assert.Equal("2", await EngineData.ScalarAsync(restarted, "SELECT count(*) FROM mem"));
    }

    [Fact]
    public async Task CreatingListsAnEmptyDatabaseAndRefusesBadOrTakenNames()
    {
        var engine = await StartAsync(remote: false);
        var created = engine.CreateDatabase("metrics");
        Assert.Equal(0, created.MeasurementCount);
        Assert.NotNull(created.CreatedAt);
        Assert.Equal(ErrorReason.Conflict, Assert.Throws<DatabaseOperationException>(() => engine.CreateDatabase("METRICS")).Reason);
        Assert.Equal(ErrorReason.Invalid, Assert.Throws<DatabaseOperationException>(() => engine.CreateDatabase("../x")).Reason);
        Assert.Equal(ErrorReason.Invalid, Assert.Throws<DatabaseOperationException>(() => engine.CreateDatabase("system")).Reason);

        var restarted = await RestartAsync(engine, remote: false);
        Assert.Equal("metrics", Assert.Single(restarted.ListDatabases()).Name);
        await restarted.DropDatabaseAsync("metrics", CancellationToken.None);
        Assert.Empty(restarted.ListDatabases());
    }

    [Fact]
    public async Task ADropInObjectStorageRemovesTheObjectsAndOneTheStoreFailsIsFinishedByTheNextCall()
    {
        var engine = await StartAsync(remote: true);
        await EngineData.WriteAsync(engine, Lines("cpu", 3, T0));
        await EngineData.WriteAsync(engine, Lines("cpu", 2, T0), "keep");
        await engine.FlushAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains(_bucket.Keys, k => k.StartsWith("db/", StringComparison.Ordinal));

        _bucket.Down = true;
        await Assert.ThrowsAsync<ObjectStoreException>(() => engine.DropDatabaseAsync("db", CancellationToken.None));
        var refused = await Assert.ThrowsAsync<DropInProgressException>(() => EngineData.WriteAsync(engine, Lines("cpu", 1, T0)));
        Assert.Equal(ErrorReason.Busy, refused.Reason);
        Assert.Contains("does not exist", (await Assert.ThrowsAnyAsync<Exception>(() => EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"))).Message,
            StringComparison.Ordinal);

        _bucket.Down = false;
        await engine.DropDatabaseAsync("db", CancellationToken.None);
        Assert.DoesNotContain(_bucket.Keys, k => k.StartsWith("db/", StringComparison.Ordinal));
        Assert.Contains(_bucket.Keys, k => k.StartsWith("keep/", StringComparison.Ordinal));
        await EngineData.WriteAsync(engine, Lines("cpu", 1, T0));
        await engine.FlushAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(20)));
        Assert.Single(_bucket.Keys, k => k.StartsWith("db/", StringComparison.Ordinal) && k.EndsWith(".parquet", StringComparison.Ordinal));

        var restarted = await RestartAsync(engine, remote: true);
        Assert.Equal("1", await EngineData.ScalarAsync(restarted, "SELECT count(*) FROM cpu"));
        Assert.Equal("2", await EngineData.ScalarAsync(restarted, "SELECT count(*) FROM cpu", "keep"));
    }

    [Fact]
    public async Task AStartFinishesAnUnfinishedDropOnceTheStoreIsBack()
    {
        var engine = await StartAsync(remote: true);
        await EngineData.WriteAsync(engine, Lines("cpu", 2, T0));
        await engine.FlushAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(20)));
        _bucket.Down = true;
        await Assert.ThrowsAsync<ObjectStoreException>(() => engine.DropDatabaseAsync("db", CancellationToken.None));

        var restarted = await RestartAsync(engine, remote: true); // still down: starts, the name stays refused and hidden
        Assert.Null(restarted.FindDatabase("db"));
        await Assert.ThrowsAsync<DropInProgressException>(() => EngineData.WriteAsync(restarted, Lines("cpu", 1, T0)));
        _bucket.Down = false;
        var again = await RestartAsync(restarted, remote: true);
        Assert.DoesNotContain(_bucket.Keys, k => k.StartsWith("db/", StringComparison.Ordinal));
        await EngineData.WriteAsync(again, Lines("cpu", 1, T0));
        Assert.Equal("1", await EngineData.ScalarAsync(again, "SELECT count(*) FROM cpu"));
    }

    [Fact]
    public async Task AQueryStartedBeforeADropReadsEveryRowAndTheFilesGoWhenItEnds()
    {
        // 48 hourly files of 2,000 rows of 200 bytes, more than DuckDB buffers ahead of a streaming result: the stream is
        // paused after its first chunk with files not opened yet.
        var engine = await StartAsync(remote: false);
        var body = new System.Text.StringBuilder();
        for (var hour = 0; hour < 48; hour++)
        {
            for (var i = 0; i < 2000; i++)
            {
                body.Append(System.Globalization.CultureInfo.InvariantCulture, $"cpu,host=h{i % 7} v={i}i,s=\"{new string((char)('a' + (i % 26)), 200)}\" {T0 + (hour * EngineData.Hour) + (i * 1000)}\n");
            }
        }

        await EngineData.WriteAsync(engine, body.ToString());
        await engine.FlushAsync();
        var measurement = Path.Combine(_engines.Root, "local", "db", "cpu");
        var old = EngineData.ParquetFiles(measurement);
        Assert.Equal(48, old.Length);

        var cursor = await engine.Query.OpenAsync("SELECT v, s FROM cpu", "db", CancellationToken.None);
        var rows = 0L;
        using (var first = cursor.Next()!)
        {
            rows += (long)DuckDB.NET.Native.NativeMethods.DataChunks.DuckDBDataChunkGetSize(first);
        }

        var result = await engine.DropMeasurementAsync("db", "cpu", CancellationToken.None);
        Assert.Equal(48, result.FilesDeleted);
        Assert.Contains("does not exist", (await Assert.ThrowsAnyAsync<Exception>(() => EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"))).Message,
            StringComparison.Ordinal);

        // The query still reads every row it started with.
        while (cursor.Next() is { } chunk)
        {
            using (chunk)
            {
                rows += (long)DuckDB.NET.Native.NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
            }
        }

        Assert.Equal(48 * 2000, rows);

        // The name takes rows at once; a start while the query is still open (a copy of the tree as a crash would leave
        // it) finishes the drop: the dropped files go, the new one stays.
        await EngineData.WriteAsync(engine, "cpu,host=new v=1.5 5\n");
        await engine.FlushAsync();
        var copy = Path.Combine(_engines.Root, "copy");
        CopyDirectory(Path.Combine(_engines.Root, "local"), copy);
        await using (var restarted = await ArcEngine.StartAsync(new EngineOptions { DataPath = copy, MaxBufferAge = TimeSpan.FromHours(1) }))
        {
            Assert.Equal("1", await EngineData.ScalarAsync(restarted, "SELECT count(*) FROM cpu"));
            Assert.Single(EngineData.ParquetFiles(Path.Combine(copy, "db", "cpu")));
        }

        Assert.All(old, f => Assert.True(File.Exists(f), f)); // until the query ends
        cursor.Dispose();
        Assert.All(old, f => Assert.False(File.Exists(f), f));
        Assert.Equal("1", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
        Assert.DoesNotContain(DropMarker.ReadAll(new LocalStore(Path.Combine(_engines.Root, "local"))), m => m.Pending is not null);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private async Task<ArcEngine> StartAsync(bool remote)
    {
        var engine = await _engines.StartAsync(new EngineOptions
        {
            DataPath = Path.Combine(_engines.Root, "local"),
            MaxBufferAge = TimeSpan.FromHours(1),
            ObjectStore = remote ? new ObjectStoreOptions { Bucket = "test", Store = _bucket } : null,
        });
        return engine;
    }

    private async Task<ArcEngine> RestartAsync(ArcEngine engine, bool remote)
    {
        await _engines.StopAsync(engine);
        return await StartAsync(remote);
    }

    private static string Lines(string measurement, int hours, long start) =>
        string.Concat(Enumerable.Range(0, hours).Select(h => $"{measurement},host=h{h} v={h}.5 {start + (h * EngineData.Hour)}\n"));
}

using Arc.Engine.Query;
using Arc.Engine.Storage.Remote;

namespace Arc.Engine.Tests;

/// <summary>
/// Object storage at engine level, over <see cref="InMemoryObjectStore"/>: uploads, the local cache, queries that fetch
/// evicted files, and the store's faults (errors, lost answers, latency, a store that is down). The same behaviour runs
/// against Ceph in <c>Arc.Native.Tests.ObjectStorageTests</c>; here each case takes milliseconds.
/// </summary>
public sealed class ObjectStoreEngineTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    private readonly BucketEngines _engines = new(new InMemoryObjectStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _engines.DisposeAsync();

    [Fact]
    public async Task UploadsRetryThroughErrorsAndLostAnswersAndEndInTheBucketOnce()
    {
        var engine = await StartAsync("a");
        _engines.Bucket.FailNext(2);
        _engines.Bucket.LoseNext(1);
        await EngineData.WriteAsync(engine, Lines(3, T0));
        await engine.FlushAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(20)), "uploads did not drain");

        var keys = _engines.Bucket.Keys.Where(k => k.EndsWith(".parquet", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, keys.Count); // one file per hour, each once whatever the retries
        Assert.All(keys, k => Assert.StartsWith("db/cpu/2023/11/", k, StringComparison.Ordinal));
        Assert.True(engine.ObjectStorage!.UploadFailures >= 3, $"{engine.ObjectStorage.UploadFailures} failures counted");
        Assert.Equal(0, engine.ObjectStorage.PendingUploads);
        Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
    }

    [Fact]
    public async Task QueriesFetchEvictedFilesAndOnlyTheHoursTheyNeed()
    {
        var engine = await StartAsync("b", cacheBytes: 1, hotBytes: 0); // uploaded files leave the local cache at once, but a measurement's newest
        await EngineData.WriteAsync(engine, Lines(3, T0));
        await engine.FlushAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(20)));
        var local = Directory.GetFiles(Path.Combine(_engines.Root, "b"), "*.parquet", SearchOption.AllDirectories)
            .Where(f => !f.Contains("_arc_schema", StringComparison.Ordinal));
        Assert.Contains("/2023/11/15/00/", Assert.Single(local), StringComparison.Ordinal);

        _engines.Bucket.Latency = TimeSpan.FromMilliseconds(20);
        var gets = _engines.Bucket.Calls("get");
        Assert.Equal("1", await EngineData.ScalarAsync(engine, $"SELECT count(*) FROM cpu WHERE time >= '2023-11-14T23:00:00Z' AND time < '2023-11-15T00:00:00Z'"));
        Assert.Equal(1, _engines.Bucket.Calls("get") - gets); // the one hour the filter names
        Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
    }

    [Fact]
    public async Task AStoreThatIsDownFailsTheQueryClearlyAndTheDataIsBackWhenItReturns()
    {
        var engine = await StartAsync("c", cacheBytes: 1, hotBytes: 0);
        await EngineData.WriteAsync(engine, Lines(2, T0));
        await engine.FlushAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(20)));

        _engines.Bucket.Down = true;
        var error = await Assert.ThrowsAsync<QueryUnavailableException>(() => EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
        Assert.Contains("cannot read the data from object storage", error.Message, StringComparison.Ordinal);
        Assert.Contains("unreachable", error.Message, StringComparison.Ordinal);

        _engines.Bucket.Down = false;
        Assert.Equal("2", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
    }

    [Fact]
    public async Task ANewEngineOnAnEmptyDiskReadsWhatTheBucketHolds()
    {
        var first = await StartAsync("d");
        await EngineData.WriteAsync(first, Lines(4, T0));
        await first.FlushAsync();
        Assert.True(await first.DrainUploadsAsync(TimeSpan.FromSeconds(20)));
        await first.DisposeAsync();

        var second = await StartAsync("e"); // another machine: nothing local, the same bucket
        Assert.Equal("4", await EngineData.ScalarAsync(second, "SELECT count(*) FROM db.cpu"));
    }

    [Fact]
    public async Task AStartThatFailsStopsWhatItStarted()
    {
        var wal = Path.Combine(_engines.Root, "wal-is-a-file");
        Directory.CreateDirectory(_engines.Root);
        await File.WriteAllTextAsync(wal, "not a directory");
        await Assert.ThrowsAnyAsync<IOException>(() => ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = Path.Combine(_engines.Root, "f"),
            WalDirectory = wal, // the log starts after object storage: its uploaders and DuckDB are running when this fails
            ObjectStore = new ObjectStoreOptions { Bucket = "test", Store = _engines.Bucket },
        }));
        Assert.Equal(1, _engines.Bucket.Disposals);

        var engine = await StartAsync("f"); // the same data directory starts cleanly afterwards
        Assert.Equal(0, engine.BufferedRows);
    }

    private Task<ArcEngine> StartAsync(string local, long cacheBytes = 1L << 30, long? hotBytes = null) =>
        _engines.StartAsync(local, cacheBytes, hotBytes: hotBytes);

    /// <summary>One point per hour from <paramref name="start"/>: <paramref name="hours"/> points in as many hourly files.</summary>
    private static string Lines(int hours, long start) =>
        string.Concat(Enumerable.Range(0, hours).Select(h => $"cpu,host=h{h} v={h}.5 {start + (h * EngineData.Hour)}\n"));
}

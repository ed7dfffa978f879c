using Arc.Engine.Compaction;
using Arc.Engine.Query;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// The local file cache of object storage, over <see cref="InMemoryObjectStore"/> and a fake clock: a file is downloaded
/// once and then read locally, the cache keeps to its byte budget by evicting the least recently used file (never one a
/// running query reads), an evicted file comes back on demand, and a query whose downloads partly failed leaves no file
/// that later queries overlook.
/// </summary>
public sealed class ObjectStoreCacheTests(ObjectStoreCacheTests.WrittenBucket written) : IAsyncLifetime, IClassFixture<ObjectStoreCacheTests.WrittenBucket>
{
    private const long T0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    private readonly BucketEngines _engines = new(written.Bucket.Copy());
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 15, 1, 0, 0, TimeSpan.Zero));

    public Task InitializeAsync()
    {
        Assert.Equal(3, Objects().Count);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _engines.DisposeAsync();

    [Fact]
    public async Task AFileIsDownloadedOnceAndThenReadFromTheCache()
    {
        var engine = await StartAsync("reader");
        var gets = _engines.Bucket.Calls("get");
        Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
        Assert.Equal(3, _engines.Bucket.Calls("get") - gets);
        Assert.Equal(3, LocalFiles("reader").Length);
        Assert.Equal(Objects().Sum(_engines.Bucket.SizeOf), engine.ObjectStorage!.CachedBytes);

        Assert.Equal("6", await EngineData.ScalarAsync(engine, "SELECT sum(v) FROM cpu"));
        Assert.Equal("1", await EngineData.ScalarAsync(engine, $"SELECT count(*) FROM cpu WHERE time >= '{Hour(1)}' AND time < '{Hour(2)}'"));
        Assert.Equal(3, _engines.Bucket.Calls("get") - gets);
    }

    [Fact]
    public async Task TheCacheEvictsTheLeastRecentlyUsedFileBeyondItsBudget()
    {
        var sizes = Objects().Select(_engines.Bucket.SizeOf).ToList();
        var engine = await StartAsync("reader", cacheBytes: sizes.Max() * 2); // room for two of the three files
        var gets = _engines.Bucket.Calls("get");
        foreach (var hour in new[] { 0, 1, 2 })
        {
            Assert.Equal("1", await CountHourAsync(engine, hour));
            _clock.Advance(TimeSpan.FromSeconds(1)); // the next use is more recent
        }

        Assert.Equal(3, _engines.Bucket.Calls("get") - gets);
        Assert.True(engine.ObjectStorage!.CachedBytes <= sizes.Max() * 2, $"{engine.ObjectStorage.CachedBytes} bytes cached");
        Assert.Equal(["23", "00"], LocalHours("reader")); // 22:00 was used least recently

        Assert.Equal("1", await CountHourAsync(engine, 2)); // cached: no download
        Assert.Equal(3, _engines.Bucket.Calls("get") - gets);
        Assert.Equal("1", await CountHourAsync(engine, 0)); // evicted: downloaded again, and 23:00 (now the oldest use) makes room
        Assert.Equal(4, _engines.Bucket.Calls("get") - gets);
        Assert.Equal(["22", "00"], LocalHours("reader"));
        Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
    }

    [Fact]
    public async Task AFileARunningQueryReadsIsNotEvicted()
    {
        var engine = await StartAsync("reader", cacheBytes: 1, hotBytes: 0); // every file but the newest leaves the cache when it can
        var gets = _engines.Bucket.Calls("get");
        using (var cursor = await engine.Query.OpenAsync($"SELECT v FROM cpu WHERE time >= '{Hour(0)}' AND time < '{Hour(1)}'", "db", CancellationToken.None))
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal("1", await CountHourAsync(engine, 1)); // over budget, but 22:00 is pinned by the open query
            Assert.Contains("22", LocalHours("reader"));
            var chunk = cursor.Next();
            Assert.NotNull(chunk);
            chunk.Dispose();
        }

        Assert.Equal(2, _engines.Bucket.Calls("get") - gets);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("1", await CountHourAsync(engine, 2)); // now both older files may go
        Assert.Equal(["00"], LocalHours("reader"));
        Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
    }

    [Fact]
    public async Task AQueryWhoseDownloadsPartlyFailedLeavesNoFileTheNextQueryOverlooks()
    {
        var engine = await StartAsync("reader");
        _engines.Bucket.FailNext("get", 1); // one of the three downloads fails, the others land
        await Assert.ThrowsAsync<QueryUnavailableException>(() => EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
        Assert.Equal(2, LocalFiles("reader").Length);

        var gets = _engines.Bucket.Calls("get");
        Assert.Equal("3", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
        Assert.Equal(1, _engines.Bucket.Calls("get") - gets); // only the missing one
        Assert.Equal("6", await EngineData.ScalarAsync(engine, "SELECT sum(v) FROM cpu"));
    }

    private Task<ArcEngine> StartAsync(string local, long cacheBytes = 1L << 30, long? hotBytes = null) =>
        _engines.StartAsync(local, cacheBytes, _clock, new CompactionOptions { Enabled = false }, hotBytes);

    /// <summary>The start of the <paramref name="hour"/>-th hour written, as SQL text.</summary>
    private static string Hour(int hour) => DateTime.UnixEpoch.AddTicks((T0 / 100) + (hour * TimeSpan.TicksPerHour))
        .ToString("yyyy-MM-dd'T'HH':00:00Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static Task<string> CountHourAsync(ArcEngine engine, int hour) =>
        EngineData.ScalarAsync(engine, $"SELECT count(*) FROM cpu WHERE time >= '{Hour(hour)}' AND time < '{Hour(hour + 1)}'");

    private List<string> Objects() => _engines.Bucket.Keys.Where(k => k.EndsWith(".parquet", StringComparison.Ordinal)).ToList();

    private string[] LocalFiles(string local) =>
        Directory.GetFiles(Path.Combine(_engines.Root, local, "db", "cpu"), "*.parquet", SearchOption.AllDirectories);

    /// <summary>
    /// The bucket every test starts from (each gets a copy): a writer put three hours into it (22:00 and 23:00 on the 14th,
    /// 00:00 on the 15th, one row each, v = 1, 2, 3) and left.
    /// </summary>
    public sealed class WrittenBucket : IAsyncLifetime
    {
        internal InMemoryObjectStore Bucket { get; } = new();

        public async Task InitializeAsync()
        {
            var directory = Path.Combine(Path.GetTempPath(), "arc-remote-cache-writer-" + Guid.NewGuid().ToString("N"));
            var writer = await ArcEngine.StartAsync(BucketEngines.Options(directory, Bucket,
                new FakeTimeProvider(new DateTimeOffset(2023, 11, 15, 1, 0, 0, TimeSpan.Zero)), compaction: new CompactionOptions { Enabled = false }));
            try
            {
                await EngineData.WriteAsync(writer, string.Concat(Enumerable.Range(0, 3).Select(h => $"cpu,host=h{h} v={h + 1} {T0 + (h * EngineData.Hour)}\n")));
                await writer.FlushAsync();
                Assert.True(await writer.DrainUploadsAsync(TimeSpan.FromSeconds(20)), "uploads did not drain");
            }
            finally
            {
                await writer.DisposeAsync();
                Directory.Delete(directory, recursive: true);
            }
        }

        public Task DisposeAsync() => Task.CompletedTask;
    }

    /// <summary>The hours (HH) of the data files in the local cache, oldest first.</summary>
    private List<string> LocalHours(string local) =>
        LocalFiles(local).Select(f => Path.GetFileName(Path.GetDirectoryName(f)!)).Order(StringComparer.Ordinal)
            .OrderBy(h => h == "00" ? 1 : 0).ToList();
}

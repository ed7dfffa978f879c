using Arc.Engine.Compaction;
using Arc.Engine.Storage.Remote;

namespace Arc.Engine.Tests;

/// <summary>
/// Engines over one <see cref="InMemoryObjectStore"/>, each with its own local directory under one temporary root (as
/// separate servers sharing a bucket), disposed together with the root.
/// </summary>
internal sealed class BucketEngines(InMemoryObjectStore bucket) : IAsyncDisposable
{
    private readonly TempEngines _engines = new("bucket");

    public InMemoryObjectStore Bucket => bucket;

    public string Root => _engines.Root;

    /// <summary>
    /// Starts an engine in <paramref name="local"/> (under <see cref="Root"/>) over the bucket; <paramref name="hotBytes"/> is
    /// its hot tier (the default's, unless a test of the local cache turns it off: the tier keeps its files on disk).
    /// </summary>
    public async Task<ArcEngine> StartAsync(string local, long cacheBytes = 1L << 30, TimeProvider? clock = null, CompactionOptions? compaction = null,
        long? hotBytes = null)
    {
        var options = Options(Path.Combine(Root, local), bucket, clock, cacheBytes, compaction);
        return await _engines.StartAsync(hotBytes is { } hot ? options with { HotDataBytes = hot } : options);
    }

    /// <summary>
    /// An engine's options over <paramref name="store"/>: buffers flushed only when a test asks; without
    /// <paramref name="compaction"/>, no hourly or daily schedule (on the real clock one would fire at :05 in the middle of
    /// a test and take the faults it set for the uploads).
    /// </summary>
    public static EngineOptions Options(string path, InMemoryObjectStore store, TimeProvider? clock = null, long cacheBytes = 1L << 30,
        CompactionOptions? compaction = null) => new()
        {
            DataPath = path,
            MaxBufferAge = TimeSpan.FromHours(1),
            Time = clock ?? TimeProvider.System,
            Compaction = compaction ?? new CompactionOptions { HourlyEnabled = false, DailyEnabled = false },
            ObjectStore = new ObjectStoreOptions { Bucket = "test", CacheBytes = cacheBytes, Store = store },
        };

    public ValueTask DisposeAsync() => _engines.DisposeAsync();
}

namespace Arc.Engine.Tests;

/// <summary>
/// Base of the tests that fill write batches directly: an engine over a fresh temporary directory whose buffers never
/// flush on their own during a test (an hour's age, ten million rows), deleted afterwards. The shared buffer pool may keep
/// 1 GB of free arrays while it runs: earlier tests can leave it at the default bound, which would drop what a warm-up
/// returns, and the next rent would allocate.
/// </summary>
public abstract class BatchEngineTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-batch-" + Guid.NewGuid().ToString("N"));

    protected ArcEngine Engine { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = _directory,
            MaxBufferAge = TimeSpan.FromHours(1),
            MaxBufferRows = 10_000_000,
            BufferPoolBytes = 1L << 30,
        });

    public async Task DisposeAsync()
    {
        await Engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>
    /// Ingests bodies of 2,000 and 20,000 <paramref name="unit"/>s (each once first, so pools hold buffers of the sizes
    /// needed) and asserts the larger allocates less than 4 KiB more: a fixed cost per request, none per record. Each size
    /// is measured three times and the least counts: a cost per record shows in every run, while a pooled array another
    /// thread took from <c>ArrayPool.Shared</c> in between (background work of other engines) shows in one.
    /// </summary>
    protected static void AssertNothingAllocatedPerRecord(Func<int, byte[]> body, Action<byte[]> ingest, string unit)
    {
        var small = body(2_000);
        var large = body(20_000);
        ingest(small);
        ingest(large);

        var smallBytes = Enumerable.Range(0, 3).Min(_ => Measure(small, ingest));
        var largeBytes = Enumerable.Range(0, 3).Min(_ => Measure(large, ingest));
        Assert.True(largeBytes - smallBytes < 4096,
            $"2,000 {unit}s allocated {smallBytes} B and 20,000 {unit}s {largeBytes} B: {(largeBytes - smallBytes) / 18_000.0:0.00} B per extra {unit}");
    }

    private static long Measure(byte[] body, Action<byte[]> ingest)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        ingest(body);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}

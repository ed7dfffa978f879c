namespace Arc.Engine.Tests;

/// <summary>
/// Row deletes at engine level over the in-memory object store: rewritten files replace their inputs in the store, a cold
/// engine sees only the survivors, a delete the store interrupts is finished by the next start, and a file whose every
/// row matches is removed (when no log entry depends on its name).
/// </summary>
public sealed class DeleteEngineTests
{
    private const long T0 = 1_700_000_000_000_000_000;

    [Fact]
    public async Task RewrittenFilesReplaceTheirInputsInTheStoreAndAColdEngineSeesOnlyTheSurvivors()
    {
        await using var engines = new BucketEngines(new InMemoryObjectStore());
        var writer = await engines.StartAsync("writer");
        await EngineData.WriteAsync(writer, Lines(0, 120));
        await writer.FlushAsync();
        Assert.True(await writer.DrainUploadsAsync(TimeSpan.FromSeconds(30)));
        var before = engines.Bucket.Keys.Where(k => k.EndsWith(".parquet", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(before);
        await EngineData.WriteAsync(writer, Lines(120, 30)); // buffered

        var dry = await writer.DeleteRowsAsync("db", "cpu", "host = 'h1'", dryRun: true, long.MaxValue, CancellationToken.None);
        Assert.Equal(50, dry.DeletedRows);
        Assert.Equal("150", await EngineData.ScalarAsync(writer, "SELECT count(*) FROM cpu"));

        var result = await writer.DeleteRowsAsync("db", "cpu", "host = 'h1'", dryRun: false, long.MaxValue, CancellationToken.None);
        Assert.Equal(50, result.DeletedRows);
        Assert.Equal(result.AffectedFiles.Count, result.FilesRewritten);
        Assert.Equal("100", await EngineData.ScalarAsync(writer, "SELECT count(DISTINCT seq) FROM cpu WHERE host <> 'h1'"));
        Assert.Equal("100", await EngineData.ScalarAsync(writer, "SELECT count(*) FROM cpu"));
        Assert.True(await writer.DrainUploadsAsync(TimeSpan.FromSeconds(30)));
        Assert.Empty(before.Intersect(engines.Bucket.Keys)); // every file of the first flush held an h1 row: all replaced

        var cold = await engines.StartAsync("cold");
        Assert.Equal("100", await EngineData.ScalarAsync(cold, "SELECT count(*) FROM cpu"));
        Assert.Equal("0", await EngineData.ScalarAsync(cold, "SELECT count(*) FROM cpu WHERE host = 'h1'"));
        Assert.Equal("100", await EngineData.ScalarAsync(cold, "SELECT count(DISTINCT seq) FROM cpu"));
    }

    [Fact]
    public async Task ADeleteTheStoreInterruptsIsFinishedByTheNextStart()
    {
        var bucket = new InMemoryObjectStore();
        await using var engines = new BucketEngines(bucket);
        var engine = await engines.StartAsync("local");
        await EngineData.WriteAsync(engine, Lines(0, 120));
        await engine.FlushAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(30)));

        bucket.FailNext("put", 1); // the first rewritten file's upload fails: the delete stops with its marker written
        await Assert.ThrowsAnyAsync<IOException>(() =>
            engine.DeleteRowsAsync("db", "cpu", "seq % 2 = 0", dryRun: false, long.MaxValue, CancellationToken.None));
        Assert.Single(Directory.GetFiles(Path.Combine(engines.Root, "local", ".deletes")));
        await engine.DisposeAsync();

        var restarted = await ArcEngine.StartAsync(BucketEngines.Options(Path.Combine(engines.Root, "local"), bucket));
        try
        {
            Assert.Equal("60", await EngineData.ScalarAsync(restarted, "SELECT count(*) FROM cpu"));
            Assert.Equal("0", await EngineData.ScalarAsync(restarted, "SELECT count(*) FROM cpu WHERE seq % 2 = 0"));
            Assert.Empty(Directory.GetFiles(Path.Combine(engines.Root, "local", ".deletes")));
            Assert.True(await restarted.DrainUploadsAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            await restarted.DisposeAsync();
        }

        var cold = await engines.StartAsync("cold");
        Assert.Equal("60", await EngineData.ScalarAsync(cold, "SELECT count(DISTINCT seq) FROM cpu"));
        Assert.Equal("60", await EngineData.ScalarAsync(cold, "SELECT count(*) FROM cpu"));
    }

    [Fact]
    public async Task AFileWhoseEveryRowMatchesIsRemovedWhenNoLogEntryDependsOnItsName()
    {
        var directory = Path.Combine(Path.GetTempPath(), "arc-delete-" + Guid.NewGuid().ToString("N"));
        var engine = await ArcEngine.StartAsync(new EngineOptions { DataPath = directory, MaxBufferAge = TimeSpan.FromHours(1), WalEnabled = false });
        try
        {
            await EngineData.WriteAsync(engine, Lines(0, 40)); // four hourly files
            await engine.FlushAsync();
            var result = await engine.DeleteRowsAsync("db", "cpu", $"time < '2023-11-14T23:00:00Z'", dryRun: false, long.MaxValue, CancellationToken.None);
            Assert.Equal(10, result.DeletedRows); // the first hour's rows
            Assert.Equal(1, result.FilesRemoved);
            Assert.Equal(0, result.FilesRewritten);
            Assert.Equal(3, EngineData.ParquetFiles(Path.Combine(directory, "db")).Length);
            Assert.Equal("30", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu"));
            await Assert.ThrowsAsync<Arc.Engine.Query.QueryRejectedException>(() =>
                engine.DeleteRowsAsync("db", "cpu", "seq IN (SELECT seq FROM cpu)", dryRun: true, long.MaxValue, CancellationToken.None));
        }
        finally
        {
            await engine.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Rows over four hours, hosts h0..h2, <c>seq</c> unique.</summary>
    private static string Lines(int first, int count) =>
        string.Concat(Enumerable.Range(first, count).Select(i => $"cpu,host=h{i % 3} seq={i}i {T0 + (i % 4 * EngineData.Hour) + i}\n"));
}

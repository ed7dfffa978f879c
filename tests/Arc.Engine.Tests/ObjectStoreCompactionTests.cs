using Arc.Engine.Compaction;
using Arc.Engine.Query;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// Compaction with object storage, over <see cref="InMemoryObjectStore"/> and a fake clock: the merged file replaces its
/// inputs in the bucket, queries return every row exactly once before, after and whatever the store does meanwhile (a
/// refused or unanswered upload of the merged file, a refused or unanswered delete of the inputs, a failed download),
/// and the file cache serves the merged file. The same runs against Ceph in <c>Arc.Native.Tests</c> over HTTP.
/// </summary>
public sealed class ObjectStoreCompactionTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    private const string Hour = "db/cpu/2023/11/14/22/";
    private readonly BucketEngines _engines = new(new InMemoryObjectStore());
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 15, 0, 0, 0, TimeSpan.Zero));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _engines.DisposeAsync();

    [Fact]
    public async Task TheMergedFileReplacesItsInputsInTheBucketAndServesQueriesFromTheCache()
    {
        var engine = await StartAsync("a");
        await WriteFilesAsync(engine, 4);
        Assert.Equal(4, HourKeys().Count);
        var before = await TotalsAsync(engine);
        Assert.Equal("4 rows, 4 times, sum 10", before);

        var result = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly));
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal((4, 4L, 4L), (result.FilesIn, result.RowsIn, result.RowsOut));
        var merged = Assert.Single(HourKeys());
        Assert.EndsWith("_compacted.parquet", merged, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(_engines.Root, "a", merged), result.Output);
        Assert.Equal([result.Output!], LocalFiles("a")); // the inputs left the disk too
        Assert.Empty(Manifests("a"));                   // the job is finished: nothing for recovery to do

        var gets = _engines.Bucket.Calls("get");
        Assert.Equal(before, await TotalsAsync(engine));
        Assert.Equal(gets, _engines.Bucket.Calls("get")); // the run left the merged file in the cache

        var other = await StartAsync("b"); // another machine reads the merged object alone
        Assert.Equal(before, await TotalsAsync(other));
        Assert.Equal(gets + 1, _engines.Bucket.Calls("get"));
    }

    [Fact]
    public async Task AQueryBetweenTheMergedFilesUploadAndItsPlacementReadsTheInputsAloneAndTheMergeStillLands()
    {
        // The merged object is in the bucket before it is in place on disk: a query (or a merge planned) in between must not
        // fetch it into that path. It once did: the query counted the output's rows beside its inputs', the job's move then
        // found the path taken and failed, and the inputs stayed on disk next to their output (every row twice for good).
        var engine = await StartAsync("a", hotBytes: 0);
        await WriteFilesAsync(engine, 4);
        string? during = null;
        _engines.Bucket.OnDelete = async keys =>
        {
            _engines.Bucket.OnDelete = null;
            during = await TotalsAsync(engine);
        };

        var result = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly));
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal("4 rows, 4 times, sum 10", during);
        Assert.Equal([result.Output!], LocalFiles("a"));
        Assert.Equal([Path.GetRelativePath(Path.Combine(_engines.Root, "a"), result.Output!)], HourKeys());
        Assert.Equal("4 rows, 4 times, sum 10", await TotalsAsync(engine));
        var gets = _engines.Bucket.Calls("get");
        Assert.Equal("4 rows, 4 times, sum 10", await TotalsAsync(engine));
        Assert.Equal(gets, _engines.Bucket.Calls("get")); // listed and cached once in place
    }

    [Fact]
    public async Task InputsThatLeftTheCacheAreFetchedForTheRun()
    {
        var engine = await StartAsync("a", cacheBytes: 1, hotBytes: 0); // uploaded files are evicted at once (the newest stays)
        await WriteFilesAsync(engine, 4);
        Assert.Single(LocalFiles("a"));
        const string before = "4 rows, 4 times, sum 10"; // (a query now would bring the files back into the cache)

        var gets = _engines.Bucket.Calls("get");
        var result = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly));
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(3, _engines.Bucket.Calls("get") - gets);
        Assert.EndsWith("_compacted.parquet", Assert.Single(HourKeys()), StringComparison.Ordinal);
        Assert.Equal(before, await TotalsAsync(engine));
    }

    [Fact]
    public async Task ARefusedUploadOfTheMergedFileKeepsTheInputsAndALaterRunSucceeds()
    {
        var engine = await StartAsync("a", cacheBytes: 1, hotBytes: 0); // the run fetches evicted inputs: they must stay visible after it fails
        await WriteFilesAsync(engine, 4);
        Assert.Single(LocalFiles("a"));
        var inputs = HourKeys();
        const string before = "4 rows, 4 times, sum 10";

        _engines.Bucket.FailNext("put", 1);
        var failed = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly));
        Assert.False(failed.Succeeded);
        Assert.Contains("SlowDown", failed.Error, StringComparison.Ordinal);
        Assert.Equal(inputs, HourKeys());
        Assert.Empty(Manifests("a"));
        Assert.Empty(Directory.GetFiles(engine.Store.TempDirectory, "compaction-*"));
        Assert.Equal(before, await TotalsAsync(engine));

        var result = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly));
        Assert.True(result.Succeeded, result.Error);
        Assert.EndsWith("_compacted.parquet", Assert.Single(HourKeys()), StringComparison.Ordinal);
        Assert.Equal(before, await TotalsAsync(engine));
    }

    [Fact]
    public async Task AnUnansweredUploadOfTheMergedFileLeavesNoSecondCopyInTheBucket()
    {
        var engine = await StartAsync("a");
        await WriteFilesAsync(engine, 4);
        var inputs = HourKeys();
        var before = await TotalsAsync(engine);

        _engines.Bucket.LoseNext("put", 1); // the merged object lands, but the engine hears a failure
        var failed = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly));
        Assert.False(failed.Succeeded);
        Assert.Equal(inputs, HourKeys());

        _clock.Advance(TimeSpan.FromMinutes(11)); // past the listing's life and any tombstone's: the bucket is listed anew
        Assert.Equal(before, await TotalsAsync(engine));

        var result = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly));
        Assert.True(result.Succeeded, result.Error);
        Assert.Single(HourKeys());
        Assert.Equal(before, await TotalsAsync(engine));
    }

    [Fact]
    public async Task AnUnansweredUploadWhoseRemovalFailsTooIsHiddenAndUndoneAtTheNextStart()
    {
        var engine = await StartAsync("a");
        await WriteFilesAsync(engine, 4);
        var inputs = HourKeys();
        var before = await TotalsAsync(engine);

        _engines.Bucket.LoseNext("put", 1);
        _engines.Bucket.FailNext("delete", 1);
        Assert.False(Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly)).Succeeded);
        Assert.Equal(5, HourKeys().Count); // the stray merged object is still in the bucket ...
        Assert.Single(Manifests("a"));     // ... and the job's manifest leaves its removal to the next start

        _clock.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(before, await TotalsAsync(engine)); // meanwhile nothing lists it

        await engine.DisposeAsync();
        var restarted = await StartAsync("a");
        Assert.Equal(inputs, HourKeys());
        Assert.Empty(Manifests("a"));
        Assert.Equal(before, await TotalsAsync(restarted));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ARefusedOrUnansweredDeleteOfTheInputsNeverShowsARowTwice(bool answerLost)
    {
        var engine = await StartAsync("a");
        await WriteFilesAsync(engine, 4);
        var before = await TotalsAsync(engine);

        if (answerLost)
        {
            _engines.Bucket.LoseNext("delete", 1);
        }
        else
        {
            _engines.Bucket.FailNext("delete", 1);
        }

        var result = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly));
        Assert.True(result.Succeeded, result.Error); // the merged file is in place: only the cleanup is left
        Assert.Equal(answerLost ? 1 : 5, HourKeys().Count);
        Assert.Equal(before, await TotalsAsync(engine));

        _clock.Advance(TimeSpan.FromMinutes(11)); // past the listing's life and the tombstones'
        Assert.Equal(before, await TotalsAsync(engine));
        Assert.Empty(await engine.Compaction.CandidatesAsync(CompactionTier.Hourly));

        // The next start finishes the job from its manifest: the inputs leave the bucket.
        await engine.DisposeAsync();
        var restarted = await StartAsync("a");
        Assert.Equal([result.Output![(Path.Combine(_engines.Root, "a").Length + 1)..]], HourKeys());
        Assert.Empty(Manifests("a"));
        Assert.Equal(before, await TotalsAsync(restarted));
    }

    [Fact]
    public async Task InputsLeftInTheBucketAreDeletedAtTheNextStartEvenAfterTheirOutputWasCompactedAgain()
    {
        var engine = await StartAsync("a");
        await WriteFilesAsync(engine, 4);
        await EngineData.WriteAsync(engine, $"cpu,host=h9 v=100 {T0 + EngineData.Hour}\n"); // 23:00, the same day
        await engine.CheckpointAsync();
        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(20)));
        const string before = "5 rows, 5 times, sum 110";
        Assert.Equal(before, await TotalsAsync(engine));

        _engines.Bucket.FailNext("delete", 1); // the hourly run's inputs stay in the bucket
        Assert.True(Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly)).Succeeded);
        _clock.Advance(TimeSpan.FromHours(24)); // the day is old enough for the daily tier, which merges the hourly output away
        var daily = Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Daily));
        Assert.True(daily.Succeeded, daily.Error);
        Assert.Equal(before, await TotalsAsync(engine));

        await engine.DisposeAsync();
        var restarted = await StartAsync("a"); // the hourly job's output is gone: its manifest must still roll forward
        Assert.EndsWith("_daily.parquet", Assert.Single(_engines.Bucket.Keys, k => k.StartsWith("db/cpu/2023/11/14/", StringComparison.Ordinal)),
            StringComparison.Ordinal);
        Assert.Empty(Manifests("a"));
        Assert.Equal(before, await TotalsAsync(restarted));
    }

    [Fact]
    public async Task AFailedDownloadFailsTheQueryClearlyAndTheNextQueryReadsEveryRowOnce()
    {
        var engine = await StartAsync("a");
        await WriteFilesAsync(engine, 3);
        var before = await TotalsAsync(engine);
        Assert.True(Assert.Single(await engine.Compaction.RunAsync(CompactionTier.Hourly)).Succeeded);

        var other = await StartAsync("b"); // nothing local: the query has to download the merged file
        var gets = _engines.Bucket.Calls("get");
        _engines.Bucket.FailNext("get", 1);
        var error = await Assert.ThrowsAsync<QueryUnavailableException>(() => TotalsAsync(other));
        Assert.Contains("cannot read the data from object storage", error.Message, StringComparison.Ordinal);
        Assert.Contains("SlowDown", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, _engines.Bucket.Calls("get") - gets); // no retry within the query: it fails at once

        Assert.Equal(before, await TotalsAsync(other));
        Assert.Equal(2, _engines.Bucket.Calls("get") - gets);
    }

    [Fact]
    public async Task AScheduledRunTheStoreRefusesIsSkippedAndTheNextOneStillRuns()
    {
        var engine = await _engines.StartAsync("a", clock: _clock, compaction: new CompactionOptions
        {
            HourlyMinFiles = 2,
            DailyEnabled = false,
            LevelEnabled = false,
            HourlySchedule = "5 * * * *",
        });
        await WriteFilesAsync(engine, 3);
        _engines.Bucket.FailNext("list", 1); // the 00:05 run cannot list the measurements

        await AdvanceUntilAsync(() => engine.Compaction.LastRunStarted is not null);
        Assert.Equal(new DateTime(2023, 11, 15, 0, 5, 0), engine.Compaction.LastRunStarted);
        // The failed run ends (before, the status showed it running for good).
        await EngineData.WaitForAsync(() => engine.Compaction.LastRunFinished is not null, TimeSpan.FromSeconds(10));
        Assert.Equal(new DateTime(2023, 11, 15, 0, 5, 0), engine.Compaction.LastRunFinished);
        Assert.Equal(3, HourKeys().Count);

        // The 01:05 run: before, the failure ended the schedule's loop, so nothing ever ran again (and the engine's
        // disposal threw the store's error).
        await AdvanceUntilAsync(() => HourKeys().Count == 1);
        Assert.Equal(new DateTime(2023, 11, 15, 1, 5, 0), engine.Compaction.LastRunStarted);
        Assert.Equal("3 rows, 3 times, sum 6", await TotalsAsync(engine));
    }

    /// <summary>Moves the clock a minute at a time (a schedule registers its next timer only after a run) until <paramref name="done"/>.</summary>
    private async Task AdvanceUntilAsync(Func<bool> done)
    {
        for (var i = 0; i < 200 && !done(); i++)
        {
            _clock.Advance(TimeSpan.FromMinutes(1));
            for (var wait = 0; wait < 10 && !done(); wait++)
            {
                await Task.Delay(10);
            }
        }

        Assert.True(done(), $"not reached by {_clock.GetUtcNow():u}");
    }

    private Task<ArcEngine> StartAsync(string local, long cacheBytes = 1L << 30, long? hotBytes = null) =>
        _engines.StartAsync(local, cacheBytes, _clock, new CompactionOptions { Enabled = false, HourlyMinFiles = 2, DailyMinFiles = 2 }, hotBytes); // runs only when the test asks

    /// <summary>
    /// <paramref name="files"/> files in the hour of <see cref="T0"/>, one row each (v = 1, 2, …), checkpointed so the log no
    /// longer holds them (they are open to compaction), and uploaded.
    /// </summary>
    private static async Task WriteFilesAsync(ArcEngine engine, int files)
    {
        for (var i = 0; i < files; i++)
        {
            await EngineData.WriteAsync(engine, $"cpu,host=h{i % 2} v={i + 1} {T0 + (i * 1000)}\n");
            await engine.CheckpointAsync();
        }

        Assert.True(await engine.DrainUploadsAsync(TimeSpan.FromSeconds(20)), "uploads did not drain");
    }

    /// <summary>Rows, distinct times (each row has its own) and the sum of v: a row lost or read twice changes them.</summary>
    private static async Task<string> TotalsAsync(ArcEngine engine) =>
        $"{await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu")} rows, " +
        $"{await EngineData.ScalarAsync(engine, "SELECT count(DISTINCT time) FROM cpu")} times, " +
        $"sum {await EngineData.ScalarAsync(engine, "SELECT sum(v) FROM cpu")}";

    /// <summary>The bucket's objects of the hour the tests write into.</summary>
    private List<string> HourKeys() => _engines.Bucket.Keys.Where(k => k.StartsWith(Hour, StringComparison.Ordinal)).ToList();

    private string[] LocalFiles(string local) =>
        Directory.GetFiles(Path.Combine(_engines.Root, local, Hour), "*.parquet");

    private string[] Manifests(string local)
    {
        var directory = Path.Combine(_engines.Root, local, ".compaction");
        return Directory.Exists(directory) ? Directory.GetFiles(directory, "*.json") : [];
    }
}

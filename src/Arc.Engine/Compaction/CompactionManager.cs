using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using Cronos;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Compaction;

/// <summary>Totals since the server started.</summary>
/// <param name="InputsSorted">
/// Merge inputs DuckDB sorted before a streamed merge could read them: files not in series order or not free of duplicates
/// (flushes written by time, or holding a point twice). Flushes in series order are streamed as they are.
/// </param>
public sealed record CompactionStats(long JobsCompleted, long JobsFailed, long FilesCompacted, long BytesBefore, long BytesAfter, long FilesQuarantined,
    long InputsSorted)
{
    /// <summary>Bytes after / bytes before over all completed jobs (lower is better), or 1 before any.</summary>
    public double Ratio => BytesBefore == 0 ? 1 : (double)BytesAfter / BytesBefore;
}

/// <summary>A job in progress.</summary>
public sealed record CompactionJob(string Key, CompactionTier Tier, int Files, long Bytes, DateTime Started);

/// <summary>A started compaction run: its number since the start (Arc's <c>cycle_id</c>) and the jobs' results to come.</summary>
public sealed record CompactionCycle(long Id, Task<IReadOnlyList<CompactionResult>> Results);

/// <summary>
/// Runs compaction: on the cron schedules when enabled, and on demand. At most <see cref="CompactionOptions.MaxConcurrent"/>
/// jobs run at once, never two on overlapping partitions (a day and one of its hours), on a DuckDB instance of their own
/// whose threads and memory are capped so queries and ingestion keep theirs. Level merges are planned for a measurement
/// each time a flush of it completes (<see cref="Flushed"/>) and after each level merge of it, under the same limits.
/// </summary>
public sealed class CompactionManager : IAsyncDisposable
{
    private const int HistoryLength = 200;
    private readonly CompactionOptions _options;
    private readonly CompactionPlanner _planner;
    private readonly CompactionRunner _runner;
    private readonly DuckDbDatabase _database;
    private readonly CompactionThreads _threads;
    private readonly Func<long> _oldestWalLsn;
    private readonly Func<string, string, long> _unflushed;
    private readonly QueryEpochs _epochs;
    private readonly Channel<(string Database, string Measurement)> _levelQueue =
        Channel.CreateUnbounded<(string, string)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly HashSet<(string Database, string Measurement)> _levelDue = []; // queued, not yet planned (lock it)
    private readonly HashSet<(string Database, string Measurement)> _starved = []; // level merges waiting for a free thread (lock it)

    // Hour partitions whose last level merge failed (DuckDB out of memory, a full disk): their level merges wait until then,
    // so a merge that cannot succeed is not tried again after every flush.
    private readonly ConcurrentDictionary<string, (DateTime Until, int Failures)> _levelBackoff = new(StringComparer.Ordinal);
    private readonly Task _levels;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CompactionLocks _locks = new();
    private readonly ConcurrentQueue<CompactionResult> _history = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task[] _schedules;
    private long _completed, _failed, _files, _bytesBefore, _bytesAfter, _quarantined, _cycles;

    /// <param name="unflushed">The lowest LSN of a measurement's rows not yet in a complete flush (long.MaxValue: none, or no
    /// write-ahead log): level merges take only files below it.</param>
    internal CompactionManager(LocalStore store, Catalog catalog, CompactionOptions options, Func<long> oldestWalLsn, TimeProvider time,
        ILogger logger, Storage.Remote.RemoteStore? remote = null, Func<string, string, long>? unflushed = null)
    {
        _options = options;
        _oldestWalLsn = oldestWalLsn;
        _unflushed = unflushed ?? ((_, _) => long.MaxValue);
        _epochs = catalog.Epochs;
        _time = time;
        _logger = logger;
        _planner = new CompactionPlanner(store, catalog.Epochs, options, remote, catalog.Manifest);
        _database = DuckDbDatabase.Open(null, new Dictionary<string, string>
        {
            ["threads"] = options.DuckDbThreads.ToString(CultureInfo.InvariantCulture),
            ["memory_limit"] = string.IsNullOrEmpty(options.MemoryLimit)
                ? (GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8).ToString(CultureInfo.InvariantCulture) + "B"
                : options.MemoryLimit,
            ["temp_directory"] = Path.Combine(store.TempDirectory, "compaction-duckdb"),
            ["autoinstall_known_extensions"] = "false",
            ["autoload_known_extensions"] = "false",
            ["enable_external_file_cache"] = "false", // every input is read once and then deleted: nothing to cache
        });
        _threads = new CompactionThreads(Math.Max(1, options.MaxConcurrent), options.Nice, logger);
        _runner = new CompactionRunner(store, catalog, _database, options, time, logger, remote);
        HourlyCron = CronExpression.Parse(options.HourlySchedule);
        DailyCron = CronExpression.Parse(options.DailySchedule);
        _schedules = options.Enabled
            ?
            [
                options.HourlyEnabled ? ScheduleLoop(CompactionTier.Hourly, HourlyCron) : Task.CompletedTask,
                options.DailyEnabled ? ScheduleLoop(CompactionTier.Daily, DailyCron) : Task.CompletedTask,
            ]
            : [];
        _levels = options.Enabled && options.LevelEnabled ? LevelLoop() : Task.CompletedTask;
    }

    public CompactionOptions Options => _options;

    /// <summary>What compaction's DuckDB holds now and its limit (<c>compaction.memory_limit</c>), in bytes.</summary>
    public (long Used, long Limit) DuckDbMemory() => _database.Memory();

    public CronExpression HourlyCron { get; }

    public CronExpression DailyCron { get; }

    public DateTime? LastRunStarted { get; private set; }

    public DateTime? LastRunFinished { get; private set; }

    /// <summary>Throws <see cref="CronFormatException"/> for an invalid schedule (used to validate configuration).</summary>
    public static void ValidateSchedule(string expression) => CronExpression.Parse(expression);

    public DateTime? NextRun(CompactionTier tier) =>
        _options.Enabled && (tier == CompactionTier.Hourly ? _options.HourlyEnabled : _options.DailyEnabled)
            ? (tier == CompactionTier.Hourly ? HourlyCron : DailyCron).GetNextOccurrence(Now)
            : null;

    public CompactionStats Stats => new(Interlocked.Read(ref _completed), Interlocked.Read(ref _failed), Interlocked.Read(ref _files),
        Interlocked.Read(ref _bytesBefore), Interlocked.Read(ref _bytesAfter), Interlocked.Read(ref _quarantined), _runner.InputsSorted);

    public IReadOnlyList<CompactionResult> History => _history.Reverse().ToList();

    public IReadOnlyList<CompactionJob> Jobs => _locks.Jobs;

    /// <summary>What a run would compact now (with object storage, from the store's listing).</summary>
    public async Task<IReadOnlyList<CompactionCandidate>> CandidatesAsync(CompactionTier? tier = null, string? database = null,
        string? measurement = null, CancellationToken cancellationToken = default) =>
        await _planner.FindAsync(Now, _oldestWalLsn(), tier, database, measurement, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Compacts every candidate (repeating while partitions still have more files than one batch takes) and returns the
    /// jobs' results. Partitions already being compacted are skipped.
    /// </summary>
    public Task<IReadOnlyList<CompactionResult>> RunAsync(CompactionTier? tier = null, string? database = null, string? measurement = null,
        CancellationToken cancellationToken = default) => Start(tier, database, measurement, cancellationToken).Results;

    /// <summary>Starts a run as <see cref="RunAsync"/> does, numbered (1, 2, … since the start) before it begins.</summary>
    public CompactionCycle Start(CompactionTier? tier = null, string? database = null, string? measurement = null,
        CancellationToken cancellationToken = default) =>
        new(Interlocked.Increment(ref _cycles), RunCycleAsync(tier, database, measurement, cancellationToken));

    private async Task<IReadOnlyList<CompactionResult>> RunCycleAsync(CompactionTier? tier, string? database, string? measurement,
        CancellationToken cancellationToken)
    {
        LastRunStarted = Now;
        var results = new List<CompactionResult>();
        var started = new HashSet<string>(StringComparer.Ordinal); // partitions this run merged part of: finished whatever their file count
        try
        {
            for (var round = 0; round < 100; round++)
            {
                var candidates = await _planner.FindAsync(Now, _oldestWalLsn(), tier, database, measurement, cancellationToken, started)
                    .ConfigureAwait(false);
                var jobs = candidates.Select(c => TryStart(c, cancellationToken)).OfType<Task<CompactionResult>>().ToList();
                if (jobs.Count == 0)
                {
                    break;
                }

                var done = await Task.WhenAll(jobs).ConfigureAwait(false);
                results.AddRange(done);
                started.UnionWith(done.Where(r => r.Succeeded && !r.Settled).Select(r => r.Candidate.Key));
                if (!done.Any(r => r.Succeeded))
                {
                    break;
                }
            }
        }
        finally
        {
            LastRunFinished = Now; // also when planning failed: the status must not show a run in progress for good
        }

        return results;
    }

    /// <summary>
    /// A flush of the measurement completed: plan its level merges (soon, in the background; signals for a measurement
    /// already waiting to be planned are merged into one).
    /// </summary>
    internal void Flushed(string database, string measurement)
    {
        if (!_options.Enabled || !_options.LevelEnabled)
        {
            return;
        }

        lock (_levelDue)
        {
            if (!_levelDue.Add((database, measurement)))
            {
                return;
            }
        }

        _levelQueue.Writer.TryWrite((database, measurement));
    }

    private async Task LevelLoop()
    {
        try
        {
            await foreach (var (database, measurement) in _levelQueue.Reader.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
            {
                lock (_levelDue)
                {
                    _levelDue.Remove((database, measurement));
                }

                try
                {
                    foreach (var candidate in await _planner.FindLevelAsync(database, measurement, _unflushed, _locks.Holds, _stopping.Token).ConfigureAwait(false))
                    {
                        var hour = CompactionCandidate.KeyOf(database, measurement, CompactionTier.Hourly, candidate.Start);
                        if (_levelBackoff.TryGetValue(hour, out var backoff) && Now < backoff.Until)
                        {
                            continue;
                        }

                        // A level merge starts only on a free thread: one queued behind running jobs would hold its files
                        // while later flushes and merges make longer runs of them. The end of a job plans it again.
                        if (!_threads.TryTake(candidate.Behind, out var lane))
                        {
                            lock (_starved)
                            {
                                _starved.Add((database, measurement));
                            }

                            // A job that ended between the failed take and the line above found no one to wake: take
                            // again. If this fails too, the thread's job has not ended yet, and its end will see the entry.
                            if (!_threads.TryTake(candidate.Behind, out lane))
                            {
                                break;
                            }

                            lock (_starved)
                            {
                                _starved.Remove((database, measurement));
                            }
                        }

                        if (TryStart(candidate, _stopping.Token, lane) is not { } job)
                        {
                            lane.Dispose();
                            continue;
                        }

                        // A merge's output may complete the next level: plan again once it is in place.
                        _ = job.ContinueWith(t =>
                        {
                            if (t.IsCompletedSuccessfully && t.Result.Succeeded)
                            {
                                _levelBackoff.TryRemove(hour, out _);
                                Flushed(database, measurement);
                            }
                            else if (!_stopping.IsCancellationRequested)
                            {
                                BackOff(hour, t.IsCompletedSuccessfully ? t.Result.Error : t.Exception?.GetBaseException().Message);
                            }
                        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    }
                }
                catch (Exception e) when (IsStorageFailure(e))
                {
                    // The next flush of the measurement plans again.
                    _logger.LogWarning(e, "Planning level merges of {Database}.{Measurement} failed", database, measurement);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>
    /// Starts <paramref name="candidate"/> unless a job under way holds one of its files (null): on <paramref name="lane"/>
    /// (which the job then hands back; the caller keeps it when null is returned), or on the next thread that is free.
    /// </summary>
    private Task<CompactionResult>? TryStart(CompactionCandidate candidate, CancellationToken cancellationToken, CompactionThreads.Lane? lane = null)
    {
        if (!_locks.TryTake(candidate, new CompactionJob(candidate.Key, candidate.Tier, candidate.Files.Count, candidate.Bytes, Now), _epochs.IsRetired))
        {
            return null;
        }

        // Not Task.Run's token: a job cancelled before it ran must still let go of its files (its delegate is what does).
        return Task.Run(async () =>
        {
            try
            {
                lane ??= await _threads.TakeAsync(normal: false, cancellationToken).ConfigureAwait(false);
                var result = await _runner.RunAsync(candidate, lane, _stopping.Token).ConfigureAwait(false); // a started job ends with the engine, not with a caller
                if (result.Settled)
                {
                    _planner.Settled(candidate);
                }

                Record(result);
                return result;
            }
            finally
            {
                lane?.Dispose();
                _locks.Release(candidate);
                WakeStarved();
            }
        }, CancellationToken.None);
    }

    /// <summary>
    /// A level merge of <paramref name="hour"/> failed (for <paramref name="reason"/>, logged): the hour's level merges wait a minute, twice as long after each
    /// further failure, at most <see cref="MaxLevelBackoff"/>; the first merge that succeeds there ends the wait.
    /// </summary>
    private void BackOff(string hour, string? reason)
    {
        var (until, failures) = _levelBackoff.AddOrUpdate(hour, _ => (Now + Wait(1), 1), (_, last) => (Now + Wait(last.Failures + 1), last.Failures + 1));
        _logger.LogWarning("Level merges of {Partition} wait until {Until:O} after {Failures} failed merge(s) in a row; the last: {Reason}", hour, until,
            failures, reason);
        foreach (var (key, (over, _)) in _levelBackoff)
        {
            if (over < Now - TimeSpan.FromHours(1))
            {
                _levelBackoff.TryRemove(key, out _); // an hour long closed, or merged by hourly compaction since
            }
        }

        static TimeSpan Wait(int failures) =>
            TimeSpan.FromTicks(Math.Min(MaxLevelBackoff.Ticks, TimeSpan.FromMinutes(1).Ticks << Math.Min(failures - 1, 10)));
    }

    /// <summary>The longest wait of an hour's level merges after failures (<see cref="BackOff"/>).</summary>
    private static readonly TimeSpan MaxLevelBackoff = TimeSpan.FromMinutes(10);

    /// <summary>A thread is free again: plan the measurements whose level merges found none.</summary>
    private void WakeStarved()
    {
        List<(string Database, string Measurement)> starved;
        lock (_starved)
        {
            starved = [.. _starved];
            _starved.Clear();
        }

        foreach (var (database, measurement) in starved)
        {
            Flushed(database, measurement);
        }
    }

    /// <summary>
    /// Keeps jobs off the partitions under <paramref name="prefix"/> (<c>db/</c> or <c>db/m/</c>, ignoring case) until
    /// <see cref="Unblock"/>, and waits for the jobs running there to finish: a drop then removes files no job still
    /// writes, renames or deletes.
    /// </summary>
    internal async Task BlockAsync(string prefix, CancellationToken cancellationToken)
    {
        _locks.Block(prefix);
        while (_locks.AnyUnder(prefix))
        {
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    internal void Unblock(string prefix) => _locks.Unblock(prefix);

    private void Record(CompactionResult result)
    {
        if (result.Succeeded && !result.Settled) // a job that found nothing to merge is in the history only
        {
            Interlocked.Increment(ref _completed);
            Interlocked.Add(ref _files, result.FilesIn);
            Interlocked.Add(ref _bytesBefore, result.BytesIn);
            Interlocked.Add(ref _bytesAfter, result.BytesOut);
        }
        else if (!result.Succeeded)
        {
            Interlocked.Increment(ref _failed);
        }

        Interlocked.Add(ref _quarantined, result.Quarantined.Count);
        _history.Enqueue(result);
        while (_history.Count > HistoryLength && _history.TryDequeue(out _))
        {
        }
    }

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    private async Task ScheduleLoop(CompactionTier tier, CronExpression schedule)
    {
        while (!_stopping.IsCancellationRequested)
        {
            var next = schedule.GetNextOccurrence(Now);
            if (next is null)
            {
                return;
            }

            try
            {
                var wait = next.Value - Now;
                await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, _time, _stopping.Token).ConfigureAwait(false);
                var results = await RunAsync(tier, cancellationToken: _stopping.Token).ConfigureAwait(false);
                if (results.Count > 0)
                {
                    _logger.LogInformation("Scheduled {Tier} compaction: {Jobs} jobs, {Failed} failed", tier, results.Count, results.Count(r => !r.Succeeded));
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (IsStorageFailure(e))
            {
                // Planning failed (a listing the object store refused, a directory gone): this run is skipped, the schedule
                // goes on. Before, the loop ended here, so one transient error stopped the tier's schedule until a restart.
                _logger.LogWarning(e, "Scheduled {Tier} compaction failed; the next run is at the schedule's next time", tier);
            }
        }
    }

    /// <summary>
    /// A failure of the storage a plan reads (a directory gone, access refused, the object store refusing or not answering):
    /// the background loops log it and go on, where anything else is a bug that should surface.
    /// </summary>
    private static bool IsStorageFailure(Exception e) =>
        e is IOException or UnauthorizedAccessException or Storage.Remote.ObjectStoreException;

    /// <summary>Stops the schedules and waits for running jobs (a job is never abandoned halfway by a clean stop).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_schedules).ConfigureAwait(false);
        _levelQueue.Writer.TryComplete();
        await _levels.ConfigureAwait(false);
        await _threads.DrainAsync().ConfigureAwait(false);
        _threads.Dispose();
        _database.Dispose();
        _stopping.Dispose();
    }
}

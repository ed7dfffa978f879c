using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Errors;
using Arc.Engine.Ingest;
using Arc.Engine.Query;
using Arc.Engine.Scheduling;
using Arc.Engine.Storage;
using DuckDB.NET.Native;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.ContinuousQueries;

/// <summary>A run that could not finish (its write was refused, the data could not be read); carries the cause's reason.</summary>
public sealed class ContinuousQueryRunException(ErrorReason reason, string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason { get; } = reason;
}

/// <summary>
/// Continuous queries: definitions (validated on DuckDB's binder when stored), the schedule, and runs.
/// <para>
/// A run binds Arc's <c>{start_time}</c>/<c>{end_time}</c> placeholders to the window's bounds as TIMESTAMPTZ literals,
/// runs the SELECT through the query engine (the same statement checks as <c>/api/v1/query</c>, limited to the query's
/// database) and writes the rows into the destination measurement through the normal MessagePack write path, so they are
/// WAL-logged, buffered and queryable at once: <c>time</c> as the timestamp (the window's start when the query has no
/// <c>time</c> column), <c>tag_columns</c> as tags, the rest as fields.
/// </para>
/// <para>
/// Exactly once: a window's output rows are identified by (time, tag values), which a deterministic aggregation produces
/// the same on every run. Before writing, a run reads which of those identities the destination already holds (per
/// identity, how many rows) and writes only the rest. So re-running a window whose output was written — the mark was
/// not saved before a kill -9, or a manual run over windows the schedule did — writes nothing, and a run cut between its
/// write and its mark is finished by the next one; the mark only says where the schedule resumes. The alternative, the
/// mark written atomically with the output, would need the mark inside the write-ahead log entry; checking the
/// destination needs nothing beyond what a query already sees, and the check and the write run under one lock so two
/// runs never interleave.
/// </para>
/// <para>
/// Late windows: every set of rows merged into a source measurement's buffer passes <see cref="OnMerging"/> first (under
/// the buffer's lock, before a query can see the rows; also the write-ahead log's replay at startup). Rows whose time falls
/// in a window the query already ran (before its mark, or in the window a scheduled run is reading) mark that window late,
/// in memory and in the store, before the rows become visible, so a crash never loses a mark of rows that were stored. A
/// late window is recomputed once <see cref="ContinuousQueryOptions.Grace"/> passed since its first late write (a burst
/// costs one recompute): the destination's rows of the window are deleted through the engine's crash-safe row delete,
/// then the new output is written the usual way (only what the destination lacks). The mark is cleared only if no late
/// write arrived since the recompute started; a kill -9 anywhere leaves it set, and the next recompute deletes and writes
/// again, so the output ends up exactly once. Windows older than <see cref="ContinuousQueryOptions.LateWindowMaxAge"/> or
/// whose source <c>delete_source_after_days</c> removed are not recomputed.
/// </para>
/// <para>
/// <c>retention_days</c> removes the destination's rows older than that many days, and <c>delete_source_after_days</c>
/// the source's rows older than that many days in windows the query completed (before its mark and its earliest late
/// window), through the retention engine every <see cref="ContinuousQueryOptions.CleanupPeriod"/>.
/// </para>
/// </summary>
public sealed class ContinuousQueryManager : IAsyncDisposable
{
    /// <summary>The dry run's rows shown at most (records_read says how many there were).</summary>
    private const int MaxDryRunRows = 10_000;

    private const string Scheduled = "scheduled";
    private const string Manual = "manual";
    private const string Recompute = "recompute";

    private readonly QueryEngine _query;
    private readonly WriteSession _writes;
    private readonly Func<string, string, DateTime, DateTime, CancellationToken, Task<long>> _deleteRange;
    private readonly Func<string, string, DateTime, CancellationToken, Task<(long Rows, int Files)>> _expire;
    private readonly ContinuousQueryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ContinuousQueryStore _store;
    private readonly SemaphoreSlim _runGate = new(1, 1);
    private readonly SchedulerWake _wake;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<long, State> _queries = [];

    /// <summary>The active queries by source measurement, for <see cref="OnMerging"/> (replaced whole under the lock).</summary>
    private Dictionary<(string Database, string Measurement), State[]> _sources = new(MeasurementNameComparer.Instance);
    private Task _loop = Task.CompletedTask;
    private long _nextId;
    private int _disposed;

    private sealed class State(ContinuousQueryRecord record)
    {
        public ContinuousQueryRecord Record { get; } = record;

        public ExecutionRecord? LastExecution { get; set; }

        /// <summary>After a failed scheduled run: not before this time.</summary>
        public DateTime? RetryAt { get; set; }

        public bool Deleted { get; set; }

        /// <summary>The end of the window a scheduled run is reading: rows before it that arrive now are late.</summary>
        public DateTime? Reading { get; set; }

        /// <summary>Windows (by start) that received late writes and wait to be recomputed.</summary>
        public SortedDictionary<DateTime, LateWindow> Late { get; } = [];

        /// <summary>When <c>retention_days</c> and <c>delete_source_after_days</c> are next applied (null: at once).</summary>
        public DateTime? CleanupAt { get; set; }
    }

    private sealed class LateWindow(DateTime since)
    {
        /// <summary>When its first late write arrived: it is recomputed a grace period later.</summary>
        public DateTime Since { get; } = since;

        /// <summary>Moves with every late write, so a recompute that started before one does not clear the window.</summary>
        public long Generation { get; set; } = 1;
    }

    /// <param name="deleteRange">Deletes a measurement's rows in [start, end) (database, measurement, start, end), crash-safe;
    /// the engine's row delete.</param>
    /// <param name="expire">Removes a measurement's rows older than a cutoff (database, measurement, cutoff) and returns the
    /// rows and files removed; the retention engine's removal.</param>
    internal ContinuousQueryManager(QueryEngine query, WriteSession writes, ContinuousQueryOptions options, TimeProvider time, ILogger logger,
        Func<string, string, DateTime, DateTime, CancellationToken, Task<long>> deleteRange,
        Func<string, string, DateTime, CancellationToken, Task<(long Rows, int Files)>> expire)
    {
        _query = query;
        _writes = writes;
        _deleteRange = deleteRange;
        _expire = expire;
        _options = options;
        _time = time;
        _wake = new SchedulerWake(time);
        _logger = logger;
        _store = new ContinuousQueryStore(options.DbPath);
        var latest = _store.LatestExecutions();
        var late = _store.LateWindows();
        foreach (var record in _store.Load())
        {
            var state = new State(record) { LastExecution = latest.GetValueOrDefault(record.Id) };
            foreach (var (start, since) in late.GetValueOrDefault(record.Id) ?? [])
            {
                state.Late[start] = new LateWindow(since);
            }

            _queries[record.Id] = state;
            _nextId = Math.Max(_nextId, record.Id);
        }

        IndexSources();
    }

    /// <summary>Under <see cref="_lock"/> (or in the constructor): rebuilds <see cref="_sources"/>.</summary>
    private void IndexSources() =>
        Volatile.Write(ref _sources, _queries.Values.Where(q => q.Record.Spec.IsActive == true)
            .GroupBy(q => (q.Record.Spec.Database!, q.Record.Spec.SourceMeasurement!), MeasurementNameComparer.Instance)
            .ToDictionary(g => g.Key, g => g.ToArray(), MeasurementNameComparer.Instance));

    /// <summary>
    /// Called with rows about to be merged into a measurement's buffer, under its lock, before queries see them: marks the
    /// windows of each active query on the measurement that the rows are late for (see the class remarks). Costs a
    /// dictionary lookup for measurements no query reads, and a comparison with the batch's earliest time for rows that
    /// are not late; only late rows are looked at one by one.
    /// </summary>
    internal void OnMerging(ColumnSet set)
    {
        if (!Volatile.Read(ref _sources).TryGetValue((set.Database, set.Measurement), out var states) || _options.LateWindowMaxAge <= TimeSpan.Zero)
        {
            return;
        }

        lock (_lock)
        {
            if (_disposed != 0)
            {
                return;
            }

            var now = Now;
            foreach (var state in states)
            {
                var done = Later(state.Record.Mark, state.Reading);
                if (state.Deleted || done is not { } doneAt || set.MinTime >= Nanos(doneAt))
                {
                    continue;
                }

                var interval = ParseInterval(state.Record.Spec.Interval!);
                var oldest = Later(Floor(now - _options.LateWindowMaxAge, interval), state.Record.SourceRemovedBefore)!.Value;
                var (low, high, step) = (Nanos(oldest), Nanos(doneAt), interval.Ticks * 100);
                if (set.MaxTime < low)
                {
                    continue;
                }

                var windows = new HashSet<long>();
                var times = set.Time;
                for (var r = 0; r < set.RowCount; r++)
                {
                    var t = times.GetInt64(r);
                    if (t >= low && t < high)
                    {
                        windows.Add(t - (((t % step) + step) % step));
                    }
                }

                foreach (var start in windows)
                {
                    var startTime = DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(start / 100), DateTimeKind.Utc);
                    if (state.Late.TryGetValue(startTime, out var window))
                    {
                        window.Generation++;
                    }
                    else
                    {
                        state.Late[startTime] = new LateWindow(now);
                        _store.AddLateWindow(state.Record.Id, startTime, now);
                    }
                }
            }
        }
    }

    private static DateTime? Later(DateTime? a, DateTime? b) => a is null ? b : b is null ? a : a > b ? a : b;

    private static DateTime? Earlier(DateTime? a, DateTime? b) => a is null ? b : b is null ? a : a < b ? a : b;

    private static long Nanos(DateTime time) => Ticks(time) * 100;

    /// <summary>Starts the scheduler.</summary>
    public void Start() => _loop = Task.Run(SchedulerLoop);

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    public IReadOnlyList<ContinuousQueryView> List(string? database, bool? isActive)
    {
        lock (_lock)
        {
            return _queries.Values
                .Where(q => database is null || q.Record.Spec.Database!.Equals(database, StringComparison.OrdinalIgnoreCase))
                .Where(q => isActive is null || q.Record.Spec.IsActive == isActive)
                .OrderBy(q => q.Record.Id).Select(View).ToList();
        }
    }

    public ContinuousQueryView Get(long id)
    {
        lock (_lock)
        {
            return View(Find(id));
        }
    }

    /// <summary>Validates and stores a definition; its first scheduled window is the one it was created in.</summary>
    public async Task<ContinuousQueryView> CreateAsync(ContinuousQueryRequest request, CancellationToken cancellationToken)
    {
        var spec = await ValidateAsync(request, cancellationToken).ConfigureAwait(false);
        var now = Now;
        lock (_lock)
        {
            CheckNameIsFree(spec.Name!, null);
            var record = new ContinuousQueryRecord
            {
                Id = ++_nextId,
                Spec = spec,
                CreatedAt = now,
                UpdatedAt = now,
                Mark = Floor(now, ParseInterval(spec.Interval!)),
            };
            _store.Save(record);
            var state = new State(record);
            _queries[record.Id] = state;
            IndexSources();
            _wake.Wake();
            _logger.LogInformation("Continuous query {Id} ({Name}) created: {Database}.{Source} -> {Destination} every {Interval}", record.Id, spec.Name,
                spec.Database, spec.SourceMeasurement, spec.DestinationMeasurement, spec.Interval);
            return View(state);
        }
    }

    /// <summary>Changes the properties the request sets (the others keep their values), validating the result.</summary>
    public async Task<ContinuousQueryView> UpdateAsync(long id, ContinuousQueryRequest request, CancellationToken cancellationToken)
    {
        ContinuousQueryRequest current;
        lock (_lock)
        {
            current = Find(id).Record.Spec;
        }

        var spec = await ValidateAsync(new ContinuousQueryRequest
        {
            Name = request.Name ?? current.Name,
            Description = request.Description ?? current.Description,
            Database = request.Database ?? current.Database,
            SourceMeasurement = request.SourceMeasurement ?? current.SourceMeasurement,
            DestinationMeasurement = request.DestinationMeasurement ?? current.DestinationMeasurement,
            Query = request.Query ?? current.Query,
            Interval = request.Interval ?? current.Interval,
            TagColumns = request.TagColumns ?? current.TagColumns,
            RetentionDays = request.RetentionDays ?? current.RetentionDays,
            DeleteSourceAfterDays = request.DeleteSourceAfterDays ?? current.DeleteSourceAfterDays,
            IsActive = request.IsActive ?? current.IsActive,
        }, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            var state = Find(id);
            CheckNameIsFree(spec.Name!, id);
            var record = state.Record;
            record.Spec = spec;
            record.UpdatedAt = Now;
            // A new interval starts its windows at the one the old mark falls in: a window is never skipped, and one that
            // is done again adds nothing (a run writes only output the destination lacks).
            var interval = ParseInterval(spec.Interval!);
            record.Mark = record.Mark is { } mark ? Floor(mark, interval) : null;
            record.SourceRemovedBefore = record.SourceRemovedBefore is { } removed ? Floor(removed, interval) : null;
            state.RetryAt = null;
            state.CleanupAt = null;
            // Late windows of the old interval become the windows of the new one that cover them.
            var oldInterval = ParseInterval(current.Interval!);
            foreach (var (start, window) in state.Late.ToList())
            {
                state.Late.Remove(start);
                _store.RemoveLateWindow(id, start);
                for (var s = Floor(start, interval); s < start + oldInterval; s += interval)
                {
                    state.Late.TryAdd(s, new LateWindow(window.Since));
                    _store.AddLateWindow(id, s, window.Since);
                }
            }

            _store.Save(record);
            IndexSources();
            _wake.Wake();
            return View(state);
        }
    }

    /// <summary>Deletes the definition and its history (not its output); a run in progress finishes its window.</summary>
    public void Delete(long id)
    {
        lock (_lock)
        {
            var state = Find(id);
            state.Deleted = true;
            _queries.Remove(id);
            _store.Delete(id);
            IndexSources();
        }
    }

    public ContinuousQueryExecutions Executions(long id, int limit)
    {
        lock (_lock)
        {
            Find(id);
        }

        var executions = _store.Executions(id, Math.Clamp(limit, 1, ContinuousQueryStore.MaxExecutionsPerQuery));
        return new ContinuousQueryExecutions(id, executions, executions.Count);
    }

    /// <summary>
    /// Runs the query over [start, end) (defaults: the mark, or an hour ago, to now), or with <c>dry_run</c>
    /// computes the rows and returns them without writing. A manual run does not move the schedule's mark; output the
    /// destination already holds is not written again.
    /// </summary>
    public async Task<ExecuteContinuousQueryResponse> ExecuteAsync(long id, ExecuteContinuousQueryRequest request, CancellationToken cancellationToken)
    {
        ContinuousQueryRequest spec;
        DateTime start, end;
        State state;
        lock (_lock)
        {
            state = Find(id);
            var record = state.Record;
            spec = record.Spec;
            if (spec.IsActive != true)
            {
                throw new ContinuousQueryValidationException("Continuous query is not active");
            }

            var now = Now;
            start = ParseTime(request.StartTime, "start_time") ?? record.Mark ?? now.AddHours(-1);
            end = ParseTime(request.EndTime, "end_time") ?? now;
        }

        if (start >= end)
        {
            throw new ContinuousQueryValidationException("start_time must be before end_time");
        }

        var executionId = "cq-exec-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var watch = Stopwatch.StartNew();
        if (request.DryRun)
        {
            var output = await ComputeAsync(spec, start, end, cancellationToken).ConfigureAwait(false);
            return new ExecuteContinuousQueryResponse(id, spec.Name!, executionId, "dry_run", ContinuousQueryStore.Rfc3339(start),
                ContinuousQueryStore.Rfc3339(end), output.Rows.Count, 0, watch.Elapsed.TotalSeconds, spec.DestinationMeasurement!, true,
                ContinuousQueryStore.Rfc3339(Now), Bind(spec.Query!, start, end), output.ToJson(MaxDryRunRows));
        }

        var (read, written) = await RunAsync(state, spec, start, end, executionId, Manual, cancellationToken).ConfigureAwait(false);
        return new ExecuteContinuousQueryResponse(id, spec.Name!, executionId, "completed", ContinuousQueryStore.Rfc3339(start),
            ContinuousQueryStore.Rfc3339(end), read, written, watch.Elapsed.TotalSeconds, spec.DestinationMeasurement!, false,
            ContinuousQueryStore.Rfc3339(Now), null, null);
    }

    /// <summary>
    /// One run under the run lock: computes the rows, writes those the destination lacks, moves the mark (scheduled runs)
    /// and records the run, also when it failed. A recompute first deletes the window's earlier output, and clears the
    /// window's late mark unless another late write arrived meanwhile.
    /// </summary>
    private async Task<(long Read, long Written)> RunAsync(State state, ContinuousQueryRequest spec, DateTime start, DateTime end, string executionId,
        string kind, CancellationToken cancellationToken)
    {
        var id = state.Record.Id;
        var watch = Stopwatch.StartNew();
        await _runGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        long read = 0, written = 0;
        long? deleted = null;
        long generation = 0;
        try
        {
            lock (_lock)
            {
                if (kind == Scheduled)
                {
                    state.Reading = end; // from here rows arriving for this window are late for it
                }
                else if (kind == Recompute)
                {
                    generation = state.Late.TryGetValue(start, out var window) ? window.Generation : 0;
                }
            }

            var output = await ComputeAsync(spec, start, end, cancellationToken).ConfigureAwait(false);
            read = output.Rows.Count;
            if (kind == Recompute)
            {
                deleted = await _deleteRange(spec.Database!, spec.DestinationMeasurement!, start, end, cancellationToken).ConfigureAwait(false);
            }

            written = await WriteMissingAsync(spec, output, cancellationToken).ConfigureAwait(false);
            Record(id, new ExecutionRecord(id, executionId, Now, "completed", start, end, read, written, watch.Elapsed.TotalSeconds, null, kind, deleted),
                kind == Scheduled ? end : null, kind == Recompute ? (start, generation) : null);
            return (read, written);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Record(id, new ExecutionRecord(id, executionId, Now, "failed", start, end, read, written, watch.Elapsed.TotalSeconds, e.Message, kind, deleted),
                null, null);
            throw;
        }
        finally
        {
            if (kind == Scheduled)
            {
                lock (_lock)
                {
                    state.Reading = null; // after the mark moved (or the run failed and the window runs again)
                }
            }

            _runGate.Release();
        }
    }

    /// <summary>
    /// Records a run (and the new mark; for a recompute, clears the window's late mark when no late write arrived since
    /// <paramref name="recomputed"/>'s generation) unless the query was deleted meanwhile.
    /// </summary>
    private void Record(long id, ExecutionRecord execution, DateTime? mark, (DateTime Start, long Generation)? recomputed)
    {
        lock (_lock)
        {
            if (!_queries.TryGetValue(id, out var state))
            {
                return;
            }

            if (mark is { } m)
            {
                state.Record.Mark = m;
                _store.SaveMark(id, m);
            }

            if (recomputed is var (start, generation) && state.Late.TryGetValue(start, out var window) && window.Generation == generation)
            {
                state.Late.Remove(start);
                _store.RemoveLateWindow(id, start);
            }

            state.LastExecution = execution;
            _store.AddExecution(execution);
        }
    }

    private Task SchedulerLoop() => _wake.RunAsync(RunDueWindowsAsync, _stopping.Token);

    /// <summary>
    /// Runs every closed window after each active query's mark, oldest first (catching up after downtime), at most 100 per
    /// query per pass so one query far behind does not hold the others back.
    /// </summary>
    private async Task RunDueWindowsAsync(CancellationToken cancellationToken)
    {
        List<State> due;
        lock (_lock)
        {
            due = _queries.Values.Where(q => q.Record.Spec.IsActive == true).OrderBy(q => q.Record.Id).ToList();
        }

        var more = true;
        while (more && !cancellationToken.IsCancellationRequested)
        {
            more = false;
            foreach (var state in due)
            {
                for (var i = 0; i < 100; i++)
                {
                    ContinuousQueryRequest spec;
                    DateTime start, end;
                    lock (_lock)
                    {
                        var now = Now;
                        if (state.Deleted || state.Record.Spec.IsActive != true || state.RetryAt > now || state.Record.Mark is not { } mark)
                        {
                            break;
                        }

                        spec = state.Record.Spec;
                        start = mark;
                        end = mark + ParseInterval(spec.Interval!);
                        if (end + _options.Grace > now)
                        {
                            break;
                        }
                    }

                    try
                    {
                        await RunAsync(state, spec, start, end, "cq-sched-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)),
                            Scheduled, cancellationToken).ConfigureAwait(false);
                        more |= i == 99;
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                    {
                        lock (_lock)
                        {
                            state.RetryAt = Now + _options.RetryDelay;
                        }

                        _logger.LogWarning("Continuous query {Id} ({Name}): window {Start:o} to {End:o} failed, retried in {Delay} s: {Error}", state.Record.Id,
                            spec.Name, start, end, _options.RetryDelay.TotalSeconds, e.Message);
                        break;
                    }
                }

                more |= await RecomputeLateWindowsAsync(state, cancellationToken).ConfigureAwait(false);
            }
        }

        List<State> all;
        lock (_lock)
        {
            all = _queries.Values.OrderBy(q => q.Record.Id).ToList();
        }

        foreach (var state in all)
        {
            await CleanupAsync(state, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Recomputes the query's late windows whose first late write is a grace period old, oldest first, at most 100 per pass
    /// (true when there may be more); forgets those that became too old to recompute.
    /// </summary>
    private async Task<bool> RecomputeLateWindowsAsync(State state, CancellationToken cancellationToken)
    {
        for (var i = 0; i < 100; i++)
        {
            ContinuousQueryRequest spec;
            DateTime start, end;
            lock (_lock)
            {
                var now = Now;
                if (state.Deleted || state.Record.Spec.IsActive != true || state.RetryAt > now || state.Late.Count == 0)
                {
                    return false;
                }

                spec = state.Record.Spec;
                var interval = ParseInterval(spec.Interval!);
                var oldest = _options.LateWindowMaxAge <= TimeSpan.Zero
                    ? DateTime.MaxValue
                    : Later(Floor(now - _options.LateWindowMaxAge, interval), state.Record.SourceRemovedBefore)!.Value;
                foreach (var expired in state.Late.Keys.Where(k => k < oldest).ToList())
                {
                    state.Late.Remove(expired);
                    _store.RemoveLateWindow(state.Record.Id, expired);
                    _logger.LogWarning("Continuous query {Id} ({Name}): window {Start:o} received late writes but is too old to recompute (or its source was removed)",
                        state.Record.Id, spec.Name, expired);
                }

                var due = state.Late.FirstOrDefault(w => w.Value.Since + _options.Grace <= now);
                if (due.Value is null)
                {
                    return false;
                }

                (start, end) = (due.Key, due.Key + interval);
            }

            try
            {
                await RunAsync(state, spec, start, end, "cq-recompute-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), Recompute, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                lock (_lock)
                {
                    state.RetryAt = Now + _options.RetryDelay;
                }

                _logger.LogWarning("Continuous query {Id} ({Name}): recomputing window {Start:o} failed, retried in {Delay} s: {Error}", state.Record.Id,
                    spec.Name, start, _options.RetryDelay.TotalSeconds, e.Message);
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Every <see cref="ContinuousQueryOptions.CleanupPeriod"/>: removes the destination's rows older than
    /// <c>retention_days</c>, and the source's rows older than <c>delete_source_after_days</c> that lie in windows the query
    /// completed (before its mark and its earliest late window). The source's cutoff is saved before anything is removed,
    /// so from then on no window before it is recomputed; a crash in the removal is finished by the retention engine's
    /// marker at the next start, or by the next pass. Runs under the run lock, so no run reads a window meanwhile.
    /// </summary>
    private async Task CleanupAsync(State state, CancellationToken cancellationToken)
    {
        ContinuousQueryRequest spec;
        DateTime now;
        lock (_lock)
        {
            now = Now;
            spec = state.Record.Spec;
            if (state.Deleted || state.CleanupAt > now || (spec.RetentionDays is not > 0 && spec.DeleteSourceAfterDays is not > 0))
            {
                return;
            }

            state.CleanupAt = now + _options.CleanupPeriod;
        }

        await _runGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (spec.RetentionDays is > 0 and var days)
            {
                await RemoveAsync(state, "retention", spec.DestinationMeasurement!, DateTime.UnixEpoch, now.AddDays(-days), cancellationToken).ConfigureAwait(false);
            }

            if (spec.DeleteSourceAfterDays is > 0 and var sourceDays)
            {
                DateTime from, cutoff;
                lock (_lock)
                {
                    var interval = ParseInterval(spec.Interval!);
                    var completed = state.Late.Count > 0 ? Earlier(state.Record.Mark, state.Late.Keys.First()) : state.Record.Mark;
                    cutoff = Floor(Earlier(now.AddDays(-sourceDays), completed)!.Value, interval);
                    from = state.Record.SourceRemovedBefore ?? DateTime.UnixEpoch;
                    if (state.Deleted || state.Record.Mark is null || cutoff <= from)
                    {
                        return;
                    }

                    state.Record.SourceRemovedBefore = cutoff; // before the removal: late writes before it are no longer recomputed
                    _store.SaveSourceRemoved(state.Record.Id, cutoff);
                }

                await RemoveAsync(state, "delete_source", spec.SourceMeasurement!, from, cutoff, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning("Continuous query {Id} ({Name}): applying retention_days or delete_source_after_days failed, retried in {Period}: {Error}",
                state.Record.Id, spec.Name, _options.CleanupPeriod, e.Message);
        }
        finally
        {
            _runGate.Release();
        }
    }

    /// <summary>One removal of <see cref="CleanupAsync"/>, recorded in the history when it removed anything or failed.</summary>
    private async Task RemoveAsync(State state, string kind, string measurement, DateTime from, DateTime cutoff, CancellationToken cancellationToken)
    {
        var id = state.Record.Id;
        var spec = state.Record.Spec;
        var watch = Stopwatch.StartNew();
        var executionId = $"cq-{kind.Replace('_', '-')}-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        try
        {
            var (rows, files) = await _expire(spec.Database!, measurement, cutoff, cancellationToken).ConfigureAwait(false);
            if (rows > 0 || files > 0)
            {
                _logger.LogInformation("Continuous query {Id} ({Name}): {Kind} removed {Rows} rows ({Files} files) of {Measurement} before {Cutoff:o}", id,
                    spec.Name, kind, rows, files, measurement, cutoff);
                Record(id, new ExecutionRecord(id, executionId, Now, "completed", from, cutoff, null, 0, watch.Elapsed.TotalSeconds, null, kind, rows), null, null);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Record(id, new ExecutionRecord(id, executionId, Now, "failed", from, cutoff, null, 0, watch.Elapsed.TotalSeconds, e.Message, kind, null), null, null);
            throw;
        }
    }

    /// <summary>
    /// Writes the output rows whose identity (time, tag values) the destination does not hold yet: for each identity, the
    /// rows beyond the number already there. Returns the rows written.
    /// </summary>
    private async Task<long> WriteMissingAsync(ContinuousQueryRequest spec, RunOutput output, CancellationToken cancellationToken)
    {
        if (output.Rows.Count == 0)
        {
            return 0;
        }

        var existing = await ExistingAsync(spec, output, cancellationToken).ConfigureAwait(false);
        var missing = new List<OutputRow>();
        foreach (var row in output.Rows)
        {
            var key = output.Key(row);
            if (existing.TryGetValue(key, out var count) && count > 0)
            {
                existing[key] = count - 1;
            }
            else
            {
                missing.Add(row);
            }
        }

        if (missing.Count == 0)
        {
            return 0;
        }

        var body = output.Encode(spec.DestinationMeasurement!, missing);
        var outcome = await _writes.MsgPackAsync(new WriteRequest(spec.Database!, BodyCompression.None, body.Length),
            PipeReader.Create(new ReadOnlySequence<byte>(body))).ConfigureAwait(false);
        if (outcome.Failure is { } failure)
        {
            throw new ContinuousQueryRunException(failure, $"writing into '{spec.DestinationMeasurement}' failed: {outcome.Message}");
        }

        if (outcome.Rejected > 0)
        {
            throw new ContinuousQueryRunException(ErrorReason.Invalid,
                $"'{spec.DestinationMeasurement}' refused the output: {string.Join("; ", outcome.Errors.Select(e => e.Message))}");
        }

        return missing.Count;
    }

    /// <summary>How many rows of each output identity the destination holds between the output's first and last time.</summary>
    private async Task<Dictionary<string, int>> ExistingAsync(ContinuousQueryRequest spec, RunOutput output, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var destination = await _query.ExportSchemaAsync(spec.Database!, spec.DestinationMeasurement!, cancellationToken).ConfigureAwait(false);
        if (destination is null)
        {
            return counts; // nothing written there yet
        }

        var tags = output.Columns.Where(c => c.Kind == OutputKind.Tag).Select(c =>
            destination.Columns.FirstOrDefault(d => d.Name.Equals(c.Name, StringComparison.OrdinalIgnoreCase)) is { } column
                ? $"CAST({Names.QuoteIdentifier(column.Name)} AS VARCHAR)"
                : "CAST(NULL AS VARCHAR)").ToList();
        var (low, high) = (output.Rows.Min(r => r.Time), output.Rows.Max(r => r.Time));
        var sql = string.Create(CultureInfo.InvariantCulture,
            $"SELECT epoch_ns(\"time\"){string.Concat(tags.Select(t => ", " + t))} " +
            $"FROM {Names.QuoteIdentifier(destination.Database)}.{Names.QuoteIdentifier(destination.Measurement)} " +
            $"WHERE \"time\" >= make_timestamp_ns({low}) AND \"time\" <= make_timestamp_ns({high})");
        using var cursor = await _query.OpenAsync(sql, spec.Database, cancellationToken, priority: QueryPriority.Low).ConfigureAwait(false);
        var key = new StringBuilder();
        while (cursor.Next() is { } chunk)
        {
            using (chunk)
            {
                var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
                for (var r = 0; r < size; r++)
                {
                    key.Clear();
                    key.Append(RunOutput.ReadLong(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, 0), r));
                    for (var t = 0; t < tags.Count; t++)
                    {
                        RunOutput.AppendKeyPart(key, RunOutput.ReadString(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, t + 1), r));
                    }

                    var text = key.ToString();
                    counts[text] = counts.GetValueOrDefault(text) + 1;
                }
            }
        }

        return counts;
    }

    /// <summary>The query's rows over [start, end), typed for writing.</summary>
    private async Task<RunOutput> ComputeAsync(ContinuousQueryRequest spec, DateTime start, DateTime end, CancellationToken cancellationToken)
    {
        // Probed over the window itself: on object storage with a cold cache, a measurement's columns are known only from
        // files in the range a query reads (and the probe fetches them for the run).
        var columns = await ProbeAsync(spec, start, end, cancellationToken).ConfigureAwait(false);
        var projections = columns.Select(c =>
        {
            var name = "arc_cq." + Names.QuoteIdentifier(c.Name);
            return c.Kind switch
            {
                OutputKind.Time => $"epoch_ns(CAST({name} AS TIMESTAMP_NS))",
                OutputKind.Float => $"CAST({name} AS DOUBLE)",
                OutputKind.Integer => $"CAST({name} AS BIGINT)",
                OutputKind.UInteger => $"CAST({name} AS UBIGINT)",
                OutputKind.Boolean => $"CAST({name} AS BOOLEAN)",
                _ => $"CAST({name} AS VARCHAR)",
            };
        });
        // The newlines keep a trailing comment in the query from swallowing the wrapper's end; the order makes a dry run's
        // rows and a run's writes the same every time.
        var sql = $"SELECT {string.Join(", ", projections)} FROM (\n{Bind(spec.Query!, start, end)}\n) AS arc_cq ORDER BY ALL";
        var output = new RunOutput(columns, Ticks(start) * 100);
        using var cursor = await _query.OpenAsync(sql, spec.Database, cancellationToken, Access(spec), QueryPriority.Low).ConfigureAwait(false);
        while (cursor.Next() is { } chunk)
        {
            using (chunk)
            {
                output.Read(chunk);
            }

            if (output.Rows.Count > _options.MaxRowsPerRun)
            {
                throw new ContinuousQueryRunException(ErrorReason.TooLarge,
                    $"the run produces more than {_options.MaxRowsPerRun} rows (continuous_query.max_rows_per_run): use a shorter interval or a coarser grouping");
            }
        }

        return output;
    }

    /// <summary>
    /// The query's output columns and how each is written, from DuckDB's binder: the query is opened over the window (an
    /// empty one, both placeholders at the same instant, to validate a definition) with the statement checks of a read
    /// token on its database only, and closed before it produced a row.
    /// </summary>
    private async Task<List<OutputColumn>> ProbeAsync(ContinuousQueryRequest spec, DateTime start, DateTime end, CancellationToken cancellationToken)
    {
        var columns = new List<OutputColumn>();
        try
        {
            using var cursor = await _query.OpenAsync(Bind(spec.Query!, start, end), spec.Database, cancellationToken, Access(spec), QueryPriority.Low)
                .ConfigureAwait(false);
            var result = cursor.Result;
            var tags = spec.TagColumns ?? [];
            for (var i = 0; i < result.ColumnCount; i++)
            {
                var name = result.GetColumnName(i);
                var type = result.GetColumnTypeId(i);
                if (columns.Any(c => c.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
                {
                    throw new ContinuousQueryValidationException($"query: the output has two columns named '{name}' (names are compared ignoring case)");
                }

                if (name.Equals("time", StringComparison.OrdinalIgnoreCase))
                {
                    if (type is not (DuckDBType.Timestamp or DuckDBType.TimestampNs or DuckDBType.TimestampMs or DuckDBType.TimestampS or DuckDBType.TimestampTz
                        or DuckDBType.Date))
                    {
                        throw new ContinuousQueryValidationException($"query: the output column 'time' must be a timestamp, not {type}");
                    }

                    columns.Add(new OutputColumn("time", OutputKind.Time));
                    continue;
                }

                if (tags.Contains(name, StringComparer.OrdinalIgnoreCase))
                {
                    columns.Add(new OutputColumn(name, OutputKind.Tag));
                    continue;
                }

                columns.Add(new OutputColumn(name, type switch
                {
                    DuckDBType.Double or DuckDBType.Float or DuckDBType.Decimal or DuckDBType.HugeInt or DuckDBType.UnsignedHugeInt => OutputKind.Float,
                    DuckDBType.TinyInt or DuckDBType.SmallInt or DuckDBType.Integer or DuckDBType.BigInt => OutputKind.Integer,
                    DuckDBType.UnsignedTinyInt or DuckDBType.UnsignedSmallInt or DuckDBType.UnsignedInteger or DuckDBType.UnsignedBigInt => OutputKind.UInteger,
                    DuckDBType.Boolean => OutputKind.Boolean,
                    _ => OutputKind.String,
                }));
            }
        }
        catch (QueryRejectedException e)
        {
            throw new ContinuousQueryValidationException("query: " + e.Message);
        }
        catch (DuckDbException e)
        {
            throw new ContinuousQueryValidationException("query does not bind: " + e.Message);
        }

        if (spec.TagColumns?.FirstOrDefault(t => !columns.Any(c => c.Kind == OutputKind.Tag && c.Name.Equals(t, StringComparison.OrdinalIgnoreCase))) is { } missing)
        {
            throw new ContinuousQueryValidationException($"tag_columns: '{missing}' is not an output column of the query");
        }

        if (!columns.Any(c => c.Kind is not (OutputKind.Time or OutputKind.Tag)))
        {
            throw new ContinuousQueryValidationException("query: the output needs at least one field (a column that is neither time nor a tag column)");
        }

        return columns;
    }

    /// <summary>A read token's statement checks on the query's database: no other database, no files, no catalog.</summary>
    private static QueryAccess Access(ContinuousQueryRequest spec) =>
        new(false, new HashSet<string>([spec.Database!], StringComparer.OrdinalIgnoreCase));

    /// <summary>
    /// The query with each placeholder replaced by a TIMESTAMPTZ literal of the bound cast to TIMESTAMP_NS, the type of
    /// <c>time</c> (also when the placeholder is quoted,
    /// as some Arc examples write it). Nothing else of the SQL is touched; the values are the server's own.
    /// </summary>
    internal static string Bind(string query, DateTime start, DateTime end)
    {
        var startLiteral = Literal(start);
        var endLiteral = Literal(end);
        return query
            .Replace("'{start_time}'", startLiteral, StringComparison.Ordinal).Replace("{start_time}", startLiteral, StringComparison.Ordinal)
            .Replace("'{end_time}'", endLiteral, StringComparison.Ordinal).Replace("{end_time}", endLiteral, StringComparison.Ordinal);

        // Cast to time's own type, so the comparison binds without TimeComparisons' rewrite (which falls back to the text
        // when its rendering does not prepare, as on a cold object-storage cache).
        static string Literal(DateTime time) =>
            "CAST(TIMESTAMPTZ '" + time.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00' AS TIMESTAMP_NS)";
    }

    private async Task<ContinuousQueryRequest> ValidateAsync(ContinuousQueryRequest request, CancellationToken cancellationToken)
    {
        var name = request.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 128)
        {
            throw new ContinuousQueryValidationException("name is required (at most 128 characters)");
        }

        if (request.Description is { Length: > 1024 })
        {
            throw new ContinuousQueryValidationException("description has more than 1024 characters");
        }

        if (string.IsNullOrEmpty(request.Database))
        {
            throw new ContinuousQueryValidationException("database is required");
        }

        if (Names.ValidateDatabase(request.Database) is { } badDatabase)
        {
            throw new ContinuousQueryValidationException("database: " + badDatabase);
        }

        if (string.IsNullOrEmpty(request.SourceMeasurement))
        {
            throw new ContinuousQueryValidationException("source_measurement is required");
        }

        if (!Names.IsValidMeasurement(request.SourceMeasurement))
        {
            throw new ContinuousQueryValidationException($"invalid source_measurement '{request.SourceMeasurement}'");
        }

        if (string.IsNullOrEmpty(request.DestinationMeasurement))
        {
            throw new ContinuousQueryValidationException("destination_measurement is required");
        }

        if (!Names.IsValidMeasurement(request.DestinationMeasurement))
        {
            throw new ContinuousQueryValidationException(
                "invalid destination_measurement: must start with a letter and contain only alphanumeric characters, underscores, or hyphens");
        }

        if (request.DestinationMeasurement.Equals(request.SourceMeasurement, StringComparison.OrdinalIgnoreCase))
        {
            throw new ContinuousQueryValidationException("destination_measurement must differ from source_measurement (the output would feed the next run)");
        }

        if (string.IsNullOrWhiteSpace(request.Query))
        {
            throw new ContinuousQueryValidationException("query is required");
        }

        var query = request.Query.Trim().TrimEnd(';').TrimEnd();
        if (!query.Contains("{start_time}", StringComparison.Ordinal) || !query.Contains("{end_time}", StringComparison.Ordinal))
        {
            throw new ContinuousQueryValidationException("query must contain {start_time} and {end_time} placeholders");
        }

        if (string.IsNullOrWhiteSpace(request.Interval))
        {
            throw new ContinuousQueryValidationException("interval is required");
        }

        var interval = request.Interval.Trim();
        ParseInterval(interval);
        var tags = request.TagColumns ?? [];
        if (tags.Count > 256)
        {
            throw new ContinuousQueryValidationException("tag_columns has more than 256 names");
        }

        foreach (var tag in tags)
        {
            if (string.IsNullOrEmpty(tag) || tag.Equals("time", StringComparison.OrdinalIgnoreCase))
            {
                throw new ContinuousQueryValidationException($"tag_columns: '{tag}' cannot be a tag (empty, or the reserved 'time')");
            }
        }

        if (request.RetentionDays is < 0 || request.DeleteSourceAfterDays is < 0)
        {
            throw new ContinuousQueryValidationException("retention_days and delete_source_after_days must not be negative");
        }

        var spec = request with
        {
            Name = name,
            Query = query,
            Interval = interval,
            TagColumns = tags.Distinct(StringComparer.OrdinalIgnoreCase).ToList(),
            IsActive = request.IsActive ?? true,
        };
        // Checked over an empty window at now, or on object storage over a second of the source's newest partition: with a
        // cold cache only the files a query reads tell the source's columns, and the probe fetches one partition's.
        var instant = Floor(Now, TimeSpan.FromSeconds(1));
        var (probeStart, probeEnd) = await _query.NewestRemotePartitionAsync(spec.Database!, spec.SourceMeasurement!, cancellationToken).ConfigureAwait(false)
            is { } partition
            ? (partition, partition.AddSeconds(1))
            : (instant, instant);
        await ProbeAsync(spec, probeStart, probeEnd, cancellationToken).ConfigureAwait(false);
        return spec;
    }

    /// <summary>Under <see cref="_lock"/>.</summary>
    private void CheckNameIsFree(string name, long? self)
    {
        if (_queries.Values.Any(q => q.Record.Id != self && q.Record.Spec.Name!.Equals(name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ContinuousQueryValidationException($"Continuous query with name '{name}' already exists");
        }
    }

    /// <summary>Under <see cref="_lock"/>.</summary>
    private State Find(long id) => _queries.TryGetValue(id, out var state) ? state : throw new ContinuousQueryNotFoundException(id);

    /// <summary>
    /// A Go duration (Arc's grammar: <c>30s</c>, <c>5m</c>, <c>1h30m</c>, <c>500ms</c>) or days and weeks (<c>1d</c>,
    /// <c>1w</c>); from 1 second to 366 days.
    /// </summary>
    internal static TimeSpan ParseInterval(string text)
    {
        var total = TimeSpan.Zero;
        var i = 0;
        while (i < text.Length)
        {
            var numberStart = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < text.Length && char.IsAsciiLetter(text[i]))
            {
                i++;
            }

            if (!double.TryParse(text.AsSpan(numberStart, unitStart - numberStart), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                total = TimeSpan.Zero;
                break;
            }

            var unit = text[unitStart..i] switch
            {
                "ms" => TimeSpan.FromMilliseconds(1),
                "s" => TimeSpan.FromSeconds(1),
                "m" => TimeSpan.FromMinutes(1),
                "h" => TimeSpan.FromHours(1),
                "d" => TimeSpan.FromDays(1),
                "w" => TimeSpan.FromDays(7),
                _ => TimeSpan.Zero,
            };
            if (unit == TimeSpan.Zero || number > 1e7)
            {
                total = TimeSpan.Zero;
                break;
            }

            total += unit * number;
        }

        if (total < TimeSpan.FromSeconds(1) || total > TimeSpan.FromDays(366))
        {
            throw new ContinuousQueryValidationException($"invalid interval '{text}': use a duration such as 30s, 5m, 1h or 1d, from 1 second to 366 days");
        }

        return total;
    }

    private static DateTime? ParseTime(string? text, string name)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time.UtcDateTime
            : throw new ContinuousQueryValidationException($"Invalid {name} format: expected RFC 3339, e.g. 2026-01-01T00:00:00Z");
    }

    /// <summary>Windows are aligned to multiples of the interval since the Unix epoch, as <c>time_bucket</c> aligns them.</summary>
    private static DateTime Floor(DateTime time, TimeSpan interval) =>
        DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(Ticks(time) - (((Ticks(time) % interval.Ticks) + interval.Ticks) % interval.Ticks)), DateTimeKind.Utc);

    private static long Ticks(DateTime time) => (time - DateTime.UnixEpoch).Ticks;

    /// <summary>Under <see cref="_lock"/>.</summary>
    private static ContinuousQueryView View(State state)
    {
        var record = state.Record;
        var spec = record.Spec;
        var last = state.LastExecution;
        return new ContinuousQueryView(record.Id, spec.Name!, spec.Description, spec.Database!, spec.SourceMeasurement!, spec.DestinationMeasurement!,
            spec.Query!, spec.Interval!, spec.TagColumns ?? [], spec.RetentionDays, spec.DeleteSourceAfterDays, spec.IsActive == true,
            last is null ? null : ContinuousQueryStore.Rfc3339(last.ExecutedAt), last?.Status,
            record.Mark is { } mark ? ContinuousQueryStore.Rfc3339(mark) : null, last?.RecordsWritten,
            ContinuousQueryStore.Rfc3339(record.CreatedAt), ContinuousQueryStore.Rfc3339(record.UpdatedAt), state.Late.Count,
            record.SourceRemovedBefore is { } removed ? ContinuousQueryStore.Rfc3339(removed) : null);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await _runGate.WaitAsync().ConfigureAwait(false); // a manual run in progress finishes first
        lock (_lock)
        {
            _store.Dispose(); // OnMerging checks _disposed under the same lock before it saves a late window
        }

        _stopping.Dispose();
    }
}

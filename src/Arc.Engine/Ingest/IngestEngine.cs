using System.Collections.Concurrent;
using System.Threading.Channels;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Errors;
using Arc.Engine.Storage;
using Arc.Engine.Wal;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Ingest;

/// <summary>
/// The shared write buffers: one <see cref="ColumnSet"/> per measurement that committed request batches are merged into
/// (through the write-ahead log when it is enabled). A buffer is handed to the flush workers when it reaches its row or
/// byte limit or its age limit, and on shutdown. A failed flush keeps its rows and is retried, so nothing acknowledged is
/// dropped. The memory all buffers hold is accounted against <see cref="IIngestSettings.MaxBufferMemory"/>.
/// </summary>
internal sealed class IngestEngine : IAsyncDisposable, IBufferSnapshotSource
{
    private readonly ConcurrentDictionary<(string Database, string Measurement), SharedBuffer> _buffers = new();
    private readonly ConcurrentBag<WriteBatch> _batches = [];
    private readonly Channel<FlushJob> _flushQueue = Channel.CreateUnbounded<FlushJob>(new UnboundedChannelOptions { SingleReader = false });
    private readonly IIngestSettings _options;
    private readonly Catalog _catalog;
    private readonly ParquetFlusher _flusher;
    private readonly ILogger _logger;
    private readonly Task[] _workers;
    private readonly Timer _ageTimer;
    private readonly Action<IReadOnlyList<string>>? _placed;
    /// <summary>
    /// Called with each set of rows about to be merged into a measurement's buffer (commits and the write-ahead log's
    /// replay), under the buffer's lock, before any query can see them; continuous queries note the windows late rows fall in.
    /// </summary>
    private readonly Action<ColumnSet>? _merging;
    private readonly Action<string, string>? _flushed;
    private readonly Lock _gate = new();
    private readonly List<(string Database, string? Measurement)> _dropping = [];
    private readonly Dictionary<string, int> _committing = new(StringComparer.OrdinalIgnoreCase);
    private WriteAheadLog<WriteBatch>? _wal;
    private long _pendingFlushes;
    private long _pendingRows;
    private long _bufferedBytes;
    private TaskCompletionSource _memoryReleased = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _flushedRows;
    private long _flushFailures;
    private long _flushes;
    private int _disposed;

    /// <param name="placed">Called with the files of each completed flush (object storage queues them for upload).</param>
    /// <param name="flushed">Called after each completed flush with its database and measurement (compaction plans level merges).</param>
    public IngestEngine(IIngestSettings options, Catalog catalog, LocalStore store, ILogger logger, Action<IReadOnlyList<string>>? placed = null,
        Action<string, string>? flushed = null, Action<ColumnSet>? merging = null)
    {
        _options = options;
        _placed = placed;
        _flushed = flushed;
        _merging = merging;
        _catalog = catalog;
        _logger = logger;
        _flusher = new ParquetFlusher(store, options.Compression, options.RowGroupSize, options.FlushesBySeries);
        _workers = new Task[Math.Max(1, options.FlushWorkers)];
        for (var i = 0; i < _workers.Length; i++)
        {
            _workers[i] = Task.Factory.StartNew(FlushLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }

        var period = TimeSpan.FromMilliseconds(Math.Clamp(options.MaxBufferAge.TotalMilliseconds / 4, 10, 1000));
        _ageTimer = new Timer(_ => FlushAged(), null, period, period);
    }

    public long FlushedRows => Interlocked.Read(ref _flushedRows);

    public long FlushFailures => Interlocked.Read(ref _flushFailures);

    /// <summary>Buffers written to Parquet since startup.</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>Seconds each successful flush took (staging the files, placing them, publishing the view).</summary>
    public Metrics.Histogram FlushSeconds { get; } = new(Metrics.Histogram.LatencyBuckets);

    /// <summary>Bytes of buffer memory held by rows not yet in Parquet (active buffers and queued flushes).</summary>
    public long BufferedBytes => Interlocked.Read(ref _bufferedBytes);

    /// <summary>Whether buffered rows use up <see cref="IIngestSettings.MaxBufferMemory"/>: writes are refused (503).</summary>
    public bool IsOverMemoryBudget => BufferedBytes >= _options.MaxBufferMemory;

    /// <summary>
    /// Waits until buffered rows take less than <paramref name="budget"/> bytes, woken by each flush that releases memory
    /// (no polling); false if that did not happen within <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> WaitForMemoryAsync(long budget, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        while (true)
        {
            var released = Volatile.Read(ref _memoryReleased).Task; // taken before the check: a release in between wakes us
            if (BufferedBytes < budget)
            {
                return true;
            }

            try
            {
                await released.WaitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return BufferedBytes < budget;
            }
        }
    }

    /// <summary>Rows accepted and not yet in Parquet.</summary>
    public long BufferedRows
    {
        get
        {
            long rows = 0;
            foreach (var buffer in _buffers.Values)
            {
                rows += buffer.Rows;
            }

            return rows + Interlocked.Read(ref _pendingRows);
        }
    }

    public WriteAheadLog<WriteBatch>? Wal => _wal;

    /// <summary>
    /// The lowest LSN of the measurement's rows not yet in a complete flush: in its buffer or in a flush not done yet
    /// (long.MaxValue when there are none, or without a write-ahead log, where LSNs mean nothing). Commits are applied in LSN
    /// order and a buffer holds a contiguous run of its measurement's commits, so every commit of the measurement below it
    /// is in placed files (all parts of their flush), and every later commit gets a higher LSN.
    /// </summary>
    public long UnflushedFloor(string database, string measurement)
    {
        if (_wal is null || !_buffers.TryGetValue((database, measurement), out var buffer))
        {
            return long.MaxValue;
        }

        lock (buffer)
        {
            return buffer.UnflushedFloor();
        }
    }

    /// <summary>From now on commits go through <paramref name="wal"/> (set once, after recovery).</summary>
    public void AttachWal(WriteAheadLog<WriteBatch> wal) => _wal = wal;

    public WriteBatch RentBatch(string database)
    {
        if (!_batches.TryTake(out var batch))
        {
            batch = new WriteBatch(_catalog, _options);
        }

        batch.Begin(database);
        return batch;
    }

    public void ReturnBatch(WriteBatch batch)
    {
        batch.Clear();
        _batches.Add(batch);
    }

    /// <summary>
    /// Hands the batch's pending rows to the engine: logged and synced first when the WAL is enabled, then merged into the
    /// shared buffers. When the returned task completes the rows are acknowledged.
    /// </summary>
    /// <remarks>
    /// A batch writing into a database or measurement being dropped is refused (<see cref="DropInProgressException"/>):
    /// a drop first waits for the commits already admitted, so every row it removes has an LSN up to its cut.
    /// </remarks>
    public async Task CommitAsync(WriteBatch batch)
    {
        if (batch.PendingRows == 0)
        {
            return;
        }

        var database = batch.Database;
        lock (_gate)
        {
            foreach (var (dropDatabase, dropMeasurement) in _dropping)
            {
                if (dropDatabase.Equals(database, StringComparison.OrdinalIgnoreCase)
                    && (dropMeasurement is null || batch.Sets.Any(s => s.RowCount > 0 && s.Measurement.Equals(dropMeasurement, StringComparison.OrdinalIgnoreCase))))
                {
                    throw new DropInProgressException(dropMeasurement is null
                        ? $"database '{dropDatabase}' is being dropped; retry once the drop has finished"
                        : $"measurement '{dropMeasurement}' of '{dropDatabase}' is being dropped; retry once the drop has finished");
                }
            }

            _committing[database] = _committing.GetValueOrDefault(database) + 1;
        }

        try
        {
            if (_wal is null)
            {
                Apply(batch, 0);
            }
            else
            {
                await _wal.AppendAsync(batch).ConfigureAwait(false);
            }
        }
        finally
        {
            lock (_gate)
            {
                if (--_committing[database] == 0)
                {
                    _committing.Remove(database);
                }
            }
        }
    }

    /// <summary>
    /// Stops commits into the target (a database, or one of its measurements) and waits for those already admitted to be
    /// applied; until <see cref="EndDrop"/> new ones are refused. Returns the last LSN logged (0 without the log): every
    /// row of the target has an LSN up to it.
    /// </summary>
    public async Task<long> BeginDropAsync(string database, string? measurement, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_dropping.Any(d => d.Database.Equals(database, StringComparison.OrdinalIgnoreCase)
                                   && (d.Measurement is null || measurement is null || d.Measurement.Equals(measurement, StringComparison.OrdinalIgnoreCase))))
            {
                throw new DropInProgressException($"'{database}{(measurement is null ? "" : "." + measurement)}' is already being dropped");
            }

            _dropping.Add((database, measurement));
        }

        try
        {
            while (true)
            {
                lock (_gate)
                {
                    if (!_committing.ContainsKey(database))
                    {
                        break;
                    }
                }

                await Task.Delay(2, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            EndDrop(database, measurement);
            throw;
        }

        return _wal?.LastLsn ?? 0;
    }

    /// <summary>Lets commits into the target again (the drop is complete, or it failed before removing anything).</summary>
    public void EndDrop(string database, string? measurement)
    {
        lock (_gate)
        {
            _dropping.RemoveAll(d => d.Database == database && d.Measurement == measurement);
        }
    }

    /// <summary>
    /// Discards the target's buffered rows and waits for its flushes already under way to finish (their files are then in
    /// place, for the caller to delete). The log counts the target as flushed up to <paramref name="lsn"/>, so its segments
    /// are reclaimed as usual. Call between <see cref="BeginDropAsync"/> and <see cref="EndDrop"/>.
    /// </summary>
    public async Task DiscardAsync(string database, string? measurement, long lsn)
    {
        var dropped = new List<SharedBuffer>();
        foreach (var (key, buffer) in _buffers)
        {
            if (key.Database.Equals(database, StringComparison.OrdinalIgnoreCase)
                && (measurement is null || key.Measurement.Equals(measurement, StringComparison.OrdinalIgnoreCase))
                && _buffers.TryRemove(key, out _))
            {
                dropped.Add(buffer);
                long bytes;
                lock (buffer)
                {
                    buffer.Dropped = true;
                    bytes = buffer.Data.ByteSize;
                    buffer.Data.Dispose();
                }

                Interlocked.Add(ref _bufferedBytes, -bytes);
            }
        }

        foreach (var buffer in dropped)
        {
            while (buffer.Flushing)
            {
                await Task.Delay(5).ConfigureAwait(false);
            }

            if (lsn > 0)
            {
                _wal?.MarkFlushed(buffer.Database, buffer.Measurement, lsn);
            }
        }
    }

    /// <summary>Merges a batch (commit <paramref name="lsn"/>) into the shared buffers; called in LSN order.</summary>
    internal void Apply(WriteBatch batch, long lsn)
    {
        foreach (var set in batch.Sets)
        {
            if (set.RowCount > 0)
            {
                Merge(set, lsn);
                set.Reset();
            }
        }

        batch.Committed();
    }

    /// <summary>Puts rows recovered from the WAL back into the buffers, in LSN order, claiming their columns.</summary>
    public void Replay(IEnumerable<WalReplay> replays)
    {
        foreach (var replay in replays)
        {
            foreach (var set in replay.Sets)
            {
                if (_catalog.ResolveMeasurement(set.Database, set.Measurement, out var error) is { } entry)
                {
                    foreach (var column in set.Columns)
                    {
                        if (column.Kind != ColumnKind.Time && entry.Schema.Check(column.Name, column.Kind, claim: true) is { } conflict)
                        {
                            _logger.LogWarning("Replaying acknowledged rows of {Database}.{Measurement} despite: {Conflict}",
                                set.Database, set.Measurement, conflict);
                        }
                    }
                }
                else
                {
                    _logger.LogWarning("Replaying acknowledged rows of {Database}.{Measurement} despite: {Error}", set.Database, set.Measurement, error);
                }

                Merge(set, replay.Lsn);
                set.Dispose();
            }
        }
    }

    /// <summary>
    /// The measurement's rows a query reads from memory, shared in place (no row is copied, and no array they are in is
    /// reused until the snapshot is disposed): those of its flushed files kept in memory (the manifest's hot tier, from
    /// <paramref name="from"/> on; the file list leaves those files out under the same visibility lock), then the rows not
    /// yet visible in Parquet (buffered or being flushed).
    /// </summary>
    public BufferSnapshot? Snapshot(string database, string measurement, long from)
    {
        BufferSnapshot? snapshot = null;
        try
        {
            foreach (var range in _catalog.Manifest.Retained(database, measurement, from))
            {
                (snapshot ??= new BufferSnapshot()).Add(range.Set.Rows, range.Start, range.End, range.MinTime, range.MaxTime);
            }

            if (_buffers.TryGetValue((database, measurement), out var buffer))
            {
                lock (buffer)
                {
                    snapshot = buffer.Snapshot(snapshot);
                }
            }

            return snapshot;
        }
        catch
        {
            snapshot?.Dispose();
            throw;
        }
    }

    public bool Holds(string database, string measurement, long from, long to, IReadOnlySet<string> filed)
    {
        if (_catalog.Manifest.Retained(database, measurement, from).Exists(range => range.MinTime <= to))
        {
            return true;
        }

        if (!_buffers.TryGetValue((database, measurement), out var buffer))
        {
            return false;
        }

        lock (buffer)
        {
            return buffer.Holds(from, to, filed);
        }
    }

    private void Merge(ColumnSet set, long lsn)
    {
        var buffer = _buffers.GetOrAdd((set.Database, set.Measurement), static (key, engine) => new SharedBuffer(engine, key.Database, key.Measurement), this);
        if (!buffer.Queryable)
        {
            // The first rows of a measurement: make them queryable before they are acknowledged.
            if (_catalog.ResolveMeasurement(set.Database, set.Measurement, out _) is { } entry)
            {
                _catalog.EnsureView(entry, withFiles: false);
            }

            buffer.Queryable = true;
        }

        FlushJob? full = null;
        lock (buffer)
        {
            _merging?.Invoke(set); // before the rows are visible: a reader that sees what the callback recorded sees them too
            var before = buffer.Data.ByteSize;
            buffer.Data.AppendFrom(set);
            buffer.Data.NoteLsn(lsn);
            Interlocked.Add(ref _bufferedBytes, buffer.Data.ByteSize - before);
            if (buffer.Data.RowCount >= _options.MaxBufferRows || buffer.Data.ByteSize >= _options.MaxBufferBytes)
            {
                full = buffer.Swap();
            }
        }

        // After the rows are visible to new queries and before the commit is acknowledged (read-your-writes for cached results).
        _catalog.Versions.Bump(set.Database, set.Measurement);
        if (full is not null)
        {
            Enqueue(full);
        }
    }

    /// <summary>Flushes every buffer now and waits until all queued flushes are written.</summary>
    public async Task FlushAllAsync()
    {
        foreach (var buffer in _buffers.Values)
        {
            FlushJob? job;
            lock (buffer)
            {
                job = buffer.Data.RowCount > 0 && !buffer.Dropped ? buffer.Swap() : null;
            }

            if (job is not null)
            {
                Enqueue(job);
            }
        }

        while (Interlocked.Read(ref _pendingFlushes) > 0)
        {
            await Task.Delay(5).ConfigureAwait(false);
        }
    }

    private void FlushAged()
    {
        var now = Environment.TickCount64;
        var age = (long)_options.MaxBufferAge.TotalMilliseconds;
        foreach (var buffer in _buffers.Values)
        {
            FlushJob? job = null;
            lock (buffer)
            {
                if (buffer.Data.RowCount > 0 && !buffer.Dropped && now - buffer.Data.FirstRowTicks >= age)
                {
                    job = buffer.Swap();
                }
            }

            if (job is not null)
            {
                Enqueue(job);
            }
        }
    }

    private void Enqueue(FlushJob job)
    {
        Interlocked.Increment(ref _pendingFlushes);
        Interlocked.Add(ref _pendingRows, job.Data.RowCount);
        if (!_flushQueue.Writer.TryWrite(job))
        {
            // Only after shutdown began, which first flushes everything; nothing can arrive after that.
            throw new InvalidOperationException("the engine is shutting down");
        }
    }

    private async Task FlushLoop()
    {
        await foreach (var job in _flushQueue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            await FlushAsync(job).ConfigureAwait(false);
            var watermark = job.Owner.Complete(job);
            if (watermark > 0)
            {
                _wal?.MarkFlushed(job.Data.Database, job.Data.Measurement, watermark);
            }

            Interlocked.Add(ref _pendingRows, -job.Data.RowCount);
            Interlocked.Add(ref _bufferedBytes, -job.Bytes);
            Interlocked.Exchange(ref _memoryReleased, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            Interlocked.Decrement(ref _pendingFlushes);
            _flushed?.Invoke(job.Data.Database, job.Data.Measurement);
            if (!job.Retained)
            {
                job.Data.Dispose();
            }
        }
    }

    /// <summary>
    /// Writes one buffer, retrying with backoff until storage takes it: acknowledged rows are never dropped. The files are
    /// placed and the rows leave the buffer in one step under the visibility lock.
    /// </summary>
    private async Task FlushAsync(FlushJob job)
    {
        var data = job.Data;
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                using var staged = _flusher.Stage(data);
                List<string> placed;
                _catalog.Visibility.EnterWriteLock();
                try
                {
                    placed = ParquetFlusher.Place(staged);
                    job.Owner.Publish(job);
                    MakeFilesQueryable(data, placed, staged.RowsOf);
                    Retain(job, staged, placed);
                }
                finally
                {
                    _catalog.Visibility.ExitWriteLock();
                }

                _placed?.Invoke(placed);

                Interlocked.Add(ref _flushedRows, data.RowCount);
                Interlocked.Increment(ref _flushes);
                FlushSeconds.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started));
                return;
            }
            catch (Exception e) when (e is ParquetSharp.ParquetException or IOException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref _flushFailures);
                _logger.LogError(e, "Flush of {Rows} rows of {Database}.{Measurement} failed; keeping them and retrying in {Delay}",
                    data.RowCount, data.Database, data.Measurement, delay);
                await Task.Delay(delay).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    /// <summary>
    /// Keeps the flushed rows in memory for queries (the hot tier, <c>query.hot_data_size_mb</c>): the sorted rows the files
    /// were written from, each file's range of them, handed to the manifest in the step that lists the files. The manifest
    /// owns them from here (the flushed buffer is then not disposed by the flush).
    /// </summary>
    private void Retain(FlushJob job, StagedFlush staged, List<string> placed)
    {
        if (placed.Count != staged.Files.Count || !_catalog.Manifest.Admits(staged.Rows.ByteSize))
        {
            return;
        }

        var rows = staged.RowsAreCopy ? staged.TakeRows() : job.Data;
        job.Retained = !staged.RowsAreCopy;
        var parts = new List<(string, int, int, long, long)>(placed.Count);
        for (var i = 0; i < placed.Count; i++)
        {
            var (_, _, start, end, minTime, maxTime) = staged.Files[i];
            parts.Add((placed[i], start, end, minTime, maxTime));
        }

        _catalog.Manifest.Retain(new RetainedSet(rows), parts);
    }

    /// <summary>
    /// Lists the placed files in the manifest and makes them queryable (schema file, view). The files are in place whatever
    /// happens here; a view or schema file that cannot be updated now is retried by the next flush.
    /// </summary>
    private void MakeFilesQueryable(ColumnSet data, List<string> placed, Func<string, RowRange?> rows)
    {
        if (_catalog.ResolveMeasurement(data.Database, data.Measurement, out _) is not { } entry)
        {
            _catalog.Manifest.Added(placed, rows: rows);
            return;
        }

        try
        {
            _catalog.FilesPlaced(entry, placed, data.Columns.Select(c => c.Name).ToHashSet(StringComparer.Ordinal), rows);
        }
        catch (DuckDbException e)
        {
            _logger.LogError(e, "Could not update the schema file or view of {Database}.{Measurement}", data.Database, data.Measurement);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _ageTimer.DisposeAsync().ConfigureAwait(false);
        await FlushAllAsync().ConfigureAwait(false);
        _flushQueue.Writer.Complete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
        _flusher.Dispose();
        foreach (var batch in _batches)
        {
            batch.Clear();
        }
    }

    /// <summary>A buffer on its way to Parquet.</summary>
    private sealed class FlushJob(SharedBuffer owner, ColumnSet data, long bytes)
    {
        public SharedBuffer Owner { get; } = owner;

        public ColumnSet Data { get; } = data;

        public long Bytes { get; } = bytes;

        public bool Done { get; set; }

        /// <summary>The rows are in placed files; queries no longer read them from the buffer.</summary>
        public bool Published { get; set; }

        /// <summary>The hot tier took <see cref="Data"/> itself (sorted already): the manifest disposes it.</summary>
        public bool Retained { get; set; }
    }

    /// <summary>
    /// The live buffer of one measurement; lock the object to use <see cref="Data"/>. Flushes of one measurement may finish
    /// out of order (several workers), so the flushed watermark only moves past a flush once all earlier ones are done.
    /// </summary>
    private sealed class SharedBuffer
    {
        private readonly Queue<FlushJob> _inFlight = new();
        private readonly IngestEngine _engine;
        private readonly string _database;
        private readonly string _measurement;

        public SharedBuffer(IngestEngine engine, string database, string measurement)
        {
            _engine = engine;
            _database = database;
            _measurement = measurement;
            Data = NewData();
        }

        public ColumnSet Data { get; private set; }

        public string Database => _database;

        public string Measurement => _measurement;

        /// <summary>The measurement was dropped: the buffer takes no rows and is never flushed again.</summary>
        public bool Dropped { get; set; }

        /// <summary>Whether flushes of it are still under way.</summary>
        public bool Flushing
        {
            get
            {
                lock (this)
                {
                    return _inFlight.Count > 0;
                }
            }
        }

        /// <summary>Whether the measurement's view exists (it does before its first rows are acknowledged).</summary>
        public bool Queryable { get; set; }

        public long Rows => Data.RowCount;

        /// <summary>Takes the buffered rows, leaving an empty buffer.</summary>
        public FlushJob Swap()
        {
            var job = new FlushJob(this, Data, Data.ByteSize);
            _inFlight.Enqueue(job);
            Data = NewData();
            return job;
        }

        private ColumnSet NewData()
        {
            var data = new ColumnSet(_database, _measurement);
            Interlocked.Add(ref _engine._bufferedBytes, data.ByteSize);
            return data;
        }

        public void Publish(FlushJob job)
        {
            lock (this)
            {
                job.Published = true;
            }
        }

        /// <summary>
        /// Adds the rows queries must read from memory, in place, to <paramref name="snapshot"/> (creating it if need be):
        /// flushes not yet published (their data no longer changes, and is disposed only after publishing), then the live
        /// rows (appended to only past the rows taken). Call under the lock; the caller disposes the snapshot if this throws.
        /// </summary>
        public BufferSnapshot? Snapshot(BufferSnapshot? snapshot)
        {
            if (Dropped)
            {
                return snapshot;
            }

            foreach (var rows in Unflushed())
            {
                (snapshot ??= new BufferSnapshot()).Add(rows);
            }

            return snapshot;
        }

        /// <summary>
        /// Whether <see cref="Snapshot(BufferSnapshot?)"/> would add rows timed <paramref name="from"/> … <paramref name="to"/>
        /// or a column not in <paramref name="filed"/>; call under the lock.
        /// </summary>
        public bool Holds(long from, long to, IReadOnlySet<string> filed)
        {
            return !Dropped
                   && Unflushed().Any(rows => (rows.MaxTime >= from && rows.MinTime <= to) || rows.Columns.Any(c => !filed.Contains(c.Name)));
        }

        /// <summary>
        /// The row sets a query reads from memory, those holding rows: flushes not yet published, then the live rows. Call
        /// under the lock.
        /// </summary>
        private IEnumerable<ColumnSet> Unflushed()
        {
            foreach (var job in _inFlight)
            {
                if (!job.Published && job.Data.RowCount > 0)
                {
                    yield return job.Data;
                }
            }

            if (Data.RowCount > 0)
            {
                yield return Data;
            }
        }

        /// <summary>See <see cref="IngestEngine.UnflushedFloor"/>; call under the lock.</summary>
        public long UnflushedFloor()
        {
            var floor = Data.RowCount > 0 ? Data.FirstLsn : long.MaxValue;
            foreach (var job in _inFlight)
            {
                if (!job.Done && job.Data.RowCount > 0)
                {
                    floor = Math.Min(floor, job.Data.FirstLsn);
                }
            }

            return floor;
        }

        /// <summary>Marks a flush done; returns the LSN every row up to which is now in Parquet, or 0 if that did not move.</summary>
        public long Complete(FlushJob job)
        {
            lock (this)
            {
                job.Done = true;
                long watermark = 0;
                while (_inFlight.TryPeek(out var head) && head.Done)
                {
                    watermark = _inFlight.Dequeue().Data.LastLsn;
                }

                return watermark;
            }
        }
    }
}

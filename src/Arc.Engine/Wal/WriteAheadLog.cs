using System.Buffers;
using System.Threading.Channels;
using Arc.Engine.Errors;
using Arc.Engine.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Arc.Engine.Wal;

/// <summary>How a commit is made durable before it is acknowledged (<c>wal.sync_mode</c>).</summary>
public enum WalSyncMode
{
    /// <summary>fdatasync after each group of commits: the 2xx means the data is on disk.</summary>
    FDataSync,
    /// <summary>fsync after each group of commits (also flushes file metadata).</summary>
    FSync,
    /// <summary>Written to the OS at once, synced every second: a crash of the machine (not of the process) can lose up to about a second.</summary>
    Async,
}

/// <summary>A commit the WAL could not write (disk full, I/O error); the request is not acknowledged.</summary>
public sealed class WalWriteException(string message, Exception inner) : IOException(message, inner), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.StorageFailed;
}

/// <summary>
/// The write-ahead log. Commits are queued; one writer thread takes every queued commit as a group, gives each the next
/// LSN, appends them to the active segment in one write, syncs once for the whole group (group commit), then applies them
/// to the buffers in LSN order and acknowledges them. Applying in LSN order means a measurement's buffer always holds a
/// contiguous run of its commits, so a Parquet file can name the LSN range it covers and recovery can tell, per entry and
/// measurement, whether the rows already reached Parquet. A closed segment is deleted once every measurement it touched
/// has been flushed past the segment's last entry for that measurement.
/// </summary>
/// <typeparam name="TCommit">
/// What a commit is to its caller (the ingest engine's write batch): the log encodes its rows and hands it back, as is, to
/// the callback that applies it.
/// </typeparam>
internal sealed class WriteAheadLog<TCommit> : IAsyncDisposable
    where TCommit : class, IWalCommit
{
    private const int MaxGroupBytes = 16 << 20;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<(string, string), long> _flushed = [];
    private readonly List<Segment> _closed = [];
    private readonly Lock _segmentsLock = new();
    private readonly string _directory;
    private readonly WalSyncMode _mode;
    private readonly long _maxSegmentBytes;
    private readonly TimeSpan _maxSegmentAge;
    private readonly Action<TCommit, long> _apply;
    private readonly ILogger _logger;
    private readonly Task _writer;
    private readonly ITimer? _asyncSync;
    private readonly ITimer _rotation;
    private readonly TimeProvider _time;
    private Segment _active;
    private SafeFileHandle _handle;
    private long _offset;
    private long _lastLsn;
    private long _unsyncedBytes;
    private long _appendedEntries;
    private long _appendedBytes;
    private long _writeFailures;

    /// <summary>Starts a new segment in <paramref name="directory"/>; LSNs continue after <paramref name="lastLsn"/>.</summary>
    public WriteAheadLog(string directory, WalSyncMode mode, long maxSegmentBytes, TimeSpan maxSegmentAge, long lastLsn,
        Action<TCommit, long> apply, TimeProvider time, ILogger logger)
    {
        _directory = directory;
        _time = time;
        _mode = mode;
        _maxSegmentBytes = maxSegmentBytes;
        _maxSegmentAge = maxSegmentAge;
        _apply = apply;
        _logger = logger;
        _lastLsn = lastLsn;
        LocalStore.EnsureDirectory(directory);
        (_active, _handle) = OpenSegment(lastLsn + 1);
        _offset = WalSegment.HeaderSize;
        if (mode == WalSyncMode.Async)
        {
            _asyncSync = time.CreateTimer(_ => SyncQuietly(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }

        _writer = Task.Factory.StartNew(WriteLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

        // An idle log still rotates on age, so flushed commits leave it and their files become compactable.
        var check = TimeSpan.FromMilliseconds(Math.Clamp(maxSegmentAge.TotalMilliseconds / 4, 250, 15_000));
        _rotation = time.CreateTimer(_ => _queue.Writer.TryWrite(Pending.RotateIfDue), null, check, check);
    }

    /// <summary>Closes the active segment now if it holds any entry (tests and compaction triggers use it).</summary>
    public Task RotateAsync()
    {
        var pending = new Pending(null);
        return _queue.Writer.TryWrite(pending) ? pending.Done.Task : Task.CompletedTask;
    }

    public long LastLsn => Interlocked.Read(ref _lastLsn);

    /// <summary>Commits logged since startup.</summary>
    public long AppendedEntries => Interlocked.Read(ref _appendedEntries);

    /// <summary>Bytes of log entries written since startup.</summary>
    public long AppendedBytes => Interlocked.Read(ref _appendedBytes);

    /// <summary>Groups of commits that could not be written (their requests got 507).</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    /// <summary>Seconds each group write took, its sync included (<c>wal.sync_mode</c>).</summary>
    public Metrics.Histogram WriteSeconds { get; } = new(Metrics.Histogram.LatencyBuckets);

    /// <summary>
    /// The first LSN still kept in a segment: a Parquet file holding only older commits can be rewritten (compacted) without
    /// recovery ever needing its name to tell which commits reached Parquet.
    /// </summary>
    public long OldestRetainedLsn
    {
        get
        {
            lock (_segmentsLock)
            {
                return _closed.Count > 0 ? _closed.Min(s => s.FirstLsn) : _active.FirstLsn;
            }
        }
    }

    /// <summary>Segment files on disk (for metrics and tests).</summary>
    public int SegmentCount
    {
        get
        {
            lock (_segmentsLock)
            {
                return _closed.Count + 1;
            }
        }
    }

    /// <summary>
    /// Logs the batch and, once it is durable (per the sync mode), applies it to the buffers. Completes when both are done;
    /// throws <see cref="WalWriteException"/> if the log could not be written (nothing was applied then).
    /// </summary>
    public Task AppendAsync(TCommit batch)
    {
        var pending = new Pending(batch);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new InvalidOperationException("the write-ahead log is closed");
        }

        return pending.Done.Task;
    }

    /// <summary>Records that the rows of (database, measurement) up to <paramref name="lsn"/> are durable in Parquet.</summary>
    public void MarkFlushed(string database, string measurement, long lsn)
    {
        lock (_segmentsLock)
        {
            var key = (database, measurement);
            if (!_flushed.TryGetValue(key, out var current) || current < lsn)
            {
                _flushed[key] = lsn;
            }

            ReclaimLocked();
        }
    }

    private async Task WriteLoop()
    {
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        var group = new List<Pending>();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            buffer.ResetWrittenCount();
            var rotate = false;
            var rotateRequests = new List<Pending>();
            while (buffer.WrittenCount < MaxGroupBytes && _queue.Reader.TryRead(out var pending))
            {
                if (pending.Batch is null)
                {
                    rotate |= pending != Pending.RotateIfDue || _time.GetUtcNow() - _active.Created >= _maxSegmentAge;
                    if (pending != Pending.RotateIfDue)
                    {
                        rotateRequests.Add(pending);
                    }

                    continue;
                }

                pending.Lsn = _lastLsn + group.Count + 1;
                var start = buffer.WrittenCount;
                buffer.GetSpan(WalSegment.EntryHeaderSize);
                buffer.Advance(WalSegment.EntryHeaderSize);
                WalCodec.Encode(buffer, pending.Lsn, pending.Batch.Sets);
                var entry = System.Runtime.InteropServices.MemoryMarshal.AsMemory(buffer.WrittenMemory)[start..].Span;
                WalSegment.SealEntry(entry);
                group.Add(pending);
            }

            if (group.Count == 0)
            {
                RotateIfNeeded(rotate);
                rotateRequests.ForEach(r => r.Done.TrySetResult());
                continue;
            }

            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                WriteAndSync(buffer.WrittenSpan);
                WriteSeconds.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started));
                Interlocked.Add(ref _appendedEntries, group.Count);
                Interlocked.Add(ref _appendedBytes, buffer.WrittenCount);
            }
            catch (IOException e)
            {
                Interlocked.Increment(ref _writeFailures);
                _logger.LogError(e, "Write-ahead log append of {Count} commits failed", group.Count);
                var failure = new WalWriteException($"the write-ahead log could not be written: {e.Message}", e);
                foreach (var pending in group)
                {
                    pending.Done.TrySetException(failure);
                }

                rotateRequests.ForEach(r => r.Done.TrySetResult());
                continue;
            }

            foreach (var pending in group)
            {
                Interlocked.Exchange(ref _lastLsn, pending.Lsn);
                _active.Track(pending.Batch!, pending.Lsn);
                try
                {
                    _apply(pending.Batch!, pending.Lsn);
                    pending.Done.TrySetResult();
                }
                catch (Exception e) when (e is InvalidOperationException or IOException)
                {
                    pending.Done.TrySetException(e);
                }
            }

            RotateIfNeeded(rotate || _offset >= _maxSegmentBytes || _time.GetUtcNow() - _active.Created >= _maxSegmentAge);
            rotateRequests.ForEach(r => r.Done.TrySetResult());
        }
    }

    private void RotateIfNeeded(bool due)
    {
        if (due && _offset > WalSegment.HeaderSize)
        {
            Rotate();
        }
    }

    private void WriteAndSync(ReadOnlySpan<byte> entries)
    {
        try
        {
            RandomAccess.Write(_handle, entries, _offset);
            if (_mode != WalSyncMode.Async)
            {
                Durability.Sync(_handle, dataOnly: _mode == WalSyncMode.FDataSync);
            }
            else
            {
                Interlocked.Add(ref _unsyncedBytes, entries.Length);
            }

            _offset += entries.Length;
        }
        catch (IOException)
        {
            // Cut off whatever part of the group reached the file, so later entries do not follow a torn one.
            try
            {
                RandomAccess.SetLength(_handle, _offset);
            }
            catch (IOException)
            {
                Rotate();
            }

            throw;
        }
    }

    private void SyncQuietly()
    {
        if (Interlocked.Exchange(ref _unsyncedBytes, 0) == 0)
        {
            return;
        }

        try
        {
            lock (_segmentsLock)
            {
                Durability.Sync(_handle, dataOnly: true);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            _logger.LogWarning(e, "Background sync of the write-ahead log failed");
        }
    }

    private void Rotate()
    {
        lock (_segmentsLock)
        {
            Durability.Sync(_handle, dataOnly: false);
            _handle.Dispose();
            _closed.Add(_active);
            (_active, _handle) = OpenSegment(_lastLsn + 1);
            _offset = WalSegment.HeaderSize;
            ReclaimLocked();
        }
    }

    private (Segment, SafeFileHandle) OpenSegment(long firstLsn)
    {
        var path = Path.Combine(_directory, WalSegment.FileName(firstLsn));
        var handle = WalSegment.Create(path);
        Durability.Sync(handle, dataOnly: false);
        Durability.FsyncDirectory(_directory);
        return (new Segment(path, firstLsn, _time.GetUtcNow()), handle);
    }

    private void ReclaimLocked()
    {
        for (var i = _closed.Count - 1; i >= 0; i--)
        {
            var segment = _closed[i];
            if (segment.IsCoveredBy(_flushed))
            {
                File.Delete(segment.Path);
                _closed.RemoveAt(i);
                _logger.LogDebug("Deleted write-ahead log segment {Path}: all its rows are in Parquet", segment.Path);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _rotation.DisposeAsync().ConfigureAwait(false);
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        if (_asyncSync is not null)
        {
            await _asyncSync.DisposeAsync().ConfigureAwait(false);
        }

        lock (_segmentsLock)
        {
            Durability.Sync(_handle, dataOnly: false);
            _handle.Dispose();
        }
    }

    /// <summary>A commit, or (without a batch) a request to rotate the active segment.</summary>
    private sealed class Pending(TCommit? batch)
    {
        /// <summary>The timer's request: rotate only if the segment reached its age limit.</summary>
        public static readonly Pending RotateIfDue = new(null);

        public TCommit? Batch { get; } = batch;

        public long Lsn { get; set; }

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>What a segment holds: per measurement, the last LSN that wrote to it.</summary>
    private sealed class Segment(string path, long firstLsn, DateTimeOffset created)
    {
        private readonly Dictionary<(string, string), long> _lastLsn = [];

        public string Path { get; } = path;

        public long FirstLsn { get; } = firstLsn;

        public DateTimeOffset Created { get; } = created;

        public void Track(TCommit batch, long lsn)
        {
            foreach (var set in batch.Sets)
            {
                if (set.RowCount > 0)
                {
                    _lastLsn[(set.Database, set.Measurement)] = lsn;
                }
            }
        }

        public bool IsCoveredBy(Dictionary<(string, string), long> flushed)
        {
            foreach (var (key, lsn) in _lastLsn)
            {
                if (!flushed.TryGetValue(key, out var done) || done < lsn)
                {
                    return false;
                }
            }

            return true;
        }
    }
}

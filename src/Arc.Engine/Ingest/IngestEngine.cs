using System.Collections.Concurrent;
using System.Threading.Channels;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Ingest;

/// <summary>
/// The shared write buffers: one <see cref="ColumnSet"/> per measurement that request batches are merged into. A buffer is
/// handed to the flush workers when it reaches its row or byte limit or its age limit, and on shutdown. A failed flush keeps
/// its rows and is retried, so nothing acknowledged is dropped.
/// </summary>
internal sealed class IngestEngine : IAsyncDisposable
{
    private readonly ConcurrentDictionary<(string Database, string Measurement), SharedBuffer> _buffers = new();
    private readonly ConcurrentBag<WriteBatch> _batches = [];
    private readonly Channel<ColumnSet> _flushQueue = Channel.CreateUnbounded<ColumnSet>(new UnboundedChannelOptions { SingleReader = false });
    private readonly EngineOptions _options;
    private readonly Catalog _catalog;
    private readonly ParquetFlusher _flusher;
    private readonly ILogger _logger;
    private readonly Task[] _workers;
    private readonly Timer _ageTimer;
    private long _pendingFlushes;
    private long _pendingRows;
    private long _flushedRows;
    private long _flushFailures;
    private int _disposed;

    public IngestEngine(EngineOptions options, Catalog catalog, LocalStore store, ILogger logger)
    {
        _options = options;
        _catalog = catalog;
        _logger = logger;
        _flusher = new ParquetFlusher(store, options.Compression, options.RowGroupSize);
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

    /// <summary>Moves the batch's rows into the shared buffers; from here on they are the engine's to store.</summary>
    public void Commit(WriteBatch batch)
    {
        foreach (var set in batch.Sets)
        {
            if (set.RowCount == 0)
            {
                continue;
            }

            var buffer = _buffers.GetOrAdd((set.Database, set.Measurement), static key => new SharedBuffer(key.Database, key.Measurement));
            ColumnSet? full = null;
            lock (buffer)
            {
                buffer.Data.AppendFrom(set);
                if (buffer.Data.RowCount >= _options.MaxBufferRows || buffer.Data.ByteSize >= _options.MaxBufferBytes)
                {
                    full = buffer.Swap();
                }
            }

            set.Reset();
            if (full is not null)
            {
                Enqueue(full);
            }
        }

        batch.Committed();
    }

    /// <summary>Flushes every buffer now and waits until all queued flushes are written.</summary>
    public async Task FlushAllAsync()
    {
        foreach (var buffer in _buffers.Values)
        {
            ColumnSet? data;
            lock (buffer)
            {
                data = buffer.Data.RowCount > 0 ? buffer.Swap() : null;
            }

            if (data is not null)
            {
                Enqueue(data);
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
            ColumnSet? data = null;
            lock (buffer)
            {
                if (buffer.Data.RowCount > 0 && now - buffer.Data.FirstRowTicks >= age)
                {
                    data = buffer.Swap();
                }
            }

            if (data is not null)
            {
                Enqueue(data);
            }
        }
    }

    private void Enqueue(ColumnSet data)
    {
        Interlocked.Increment(ref _pendingFlushes);
        Interlocked.Add(ref _pendingRows, data.RowCount);
        if (!_flushQueue.Writer.TryWrite(data))
        {
            // Only after shutdown began; FlushLoop drains what was queued before.
            throw new InvalidOperationException("the engine is shutting down");
        }
    }

    private async Task FlushLoop()
    {
        await foreach (var data in _flushQueue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            await FlushAsync(data).ConfigureAwait(false);
            Interlocked.Add(ref _pendingRows, -data.RowCount);
            Interlocked.Decrement(ref _pendingFlushes);
            data.Dispose();
        }
    }

    /// <summary>Writes one buffer, retrying with backoff until storage takes it: acknowledged rows are never dropped.</summary>
    private async Task FlushAsync(ColumnSet data)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                _flusher.Write(data);
                if (_catalog.ResolveMeasurement(data.Database, data.Measurement, out _) is { } entry)
                {
                    _catalog.EnsureView(entry);
                }

                Interlocked.Add(ref _flushedRows, data.RowCount);
                return;
            }
            catch (Exception e) when (e is ParquetSharp.ParquetException or DuckDbException or IOException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref _flushFailures);
                _logger.LogError(e, "Flush of {Rows} rows of {Database}.{Measurement} failed; keeping them and retrying in {Delay}",
                    data.RowCount, data.Database, data.Measurement, delay);
                await Task.Delay(delay).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
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

    /// <summary>The live buffer of one measurement; lock the object to use <see cref="Data"/>.</summary>
    private sealed class SharedBuffer(string database, string measurement)
    {
        public ColumnSet Data { get; private set; } = new(database, measurement);

        public long Rows => Data.RowCount;

        /// <summary>Takes the buffered rows, leaving an empty buffer.</summary>
        public ColumnSet Swap()
        {
            var full = Data;
            Data = new ColumnSet(database, measurement);
            return full;
        }
    }
}

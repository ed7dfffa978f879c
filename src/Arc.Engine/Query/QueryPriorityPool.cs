using System.Diagnostics;
using Arc.Engine.Errors;
using Arc.Engine.Metrics;

namespace Arc.Engine.Query;

/// <summary>How soon a query gets a connection when all are busy: a higher priority is served first, FIFO within one.</summary>
public enum QueryPriority
{
    Low = 0,
    Normal = 1,
    High = 2,

    /// <summary>Served before everything else and never refused because the queue is full (the HTTP layer keeps it for admins).</summary>
    Critical = 3,
}

/// <summary>The query could not get a connection (the queue is full or the wait took too long): the server answers 503.</summary>
public abstract class QueryPoolException(string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.Busy;
}

/// <summary>Every connection is busy and <c>query.queue_size</c> queries already wait.</summary>
public sealed class QueryQueueFullException(string message) : QueryPoolException(message);

/// <summary>The query waited <c>query.queue_timeout</c> for a connection without getting one.</summary>
public sealed class QueryQueueTimeoutException(string message) : QueryPoolException(message);

/// <summary>A snapshot of <see cref="QueryPriorityPool"/> for the metrics endpoints.</summary>
public sealed record QueryPoolStats(
    int Size,
    int Active,
    int QueueLimit,
    TimeSpan QueueTimeout,
    IReadOnlyList<int> QueuedByPriority,
    IReadOnlyList<long> AcquiredByPriority,
    long Waited,
    long Rejected,
    long TimedOut,
    long Cancelled,
    WindowStats WaitMs,
    WindowStats ExecutionMs,
    TimeSpan Window)
{
    public int Queued => QueuedByPriority.Sum();
}

/// <summary>
/// The admission gate of the query connection pool: at most <c>size</c> holders at once (<c>database.max_connections</c>);
/// the others wait in one FIFO queue per <see cref="QueryPriority"/>, and a freed slot goes to the oldest waiter of the
/// highest priority that has one. At most <c>queueLimit</c> may wait (<c>query.queue_size</c>; critical ones are not
/// counted against it), and none longer than <c>queueTimeout</c> (<c>query.queue_timeout</c>); a cancelled wait
/// (the client went away) leaves the queue at once. Priorities are strict: under sustained load a low-priority query
/// can wait until its queue timeout.
/// </summary>
public sealed class QueryPriorityPool
{
    private const int Priorities = 4;
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter>[] _queues = [new(), new(), new(), new()];
    private readonly long[] _acquired = new long[Priorities];
    private readonly int _size;
    private readonly int _queueLimit;
    private readonly TimeSpan _queueTimeout;
    private int _free;
    private int _queued;
    private long _waited;
    private long _rejected;
    private long _timedOut;
    private long _cancelled;
    private long _lastRelease = Stopwatch.GetTimestamp();

    public QueryPriorityPool(int size, int queueLimit, TimeSpan queueTimeout, TimeSpan? window = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(queueLimit);
        _size = _free = size;
        _queueLimit = queueLimit;
        _queueTimeout = queueTimeout;
        WaitWindow = new RollingWindow(window ?? TimeSpan.FromMinutes(1));
        ExecutionWindow = new RollingWindow(window ?? TimeSpan.FromMinutes(1));
    }

    public int Size => _size;

    /// <summary>Seconds each acquisition waited (0 when a slot was free).</summary>
    public Histogram WaitSeconds { get; } = new(Histogram.LatencyBuckets);

    /// <summary>Seconds each holder kept its slot (the query's execution, from admission to the connection's return).</summary>
    public Histogram ExecutionSeconds { get; } = new(Histogram.LatencyBuckets);

    public RollingWindow WaitWindow { get; }

    public RollingWindow ExecutionWindow { get; }

    /// <summary>Waits for a slot; throws <see cref="QueryPoolException"/> (queue full, waited too long) or <see cref="OperationCanceledException"/>.</summary>
    public ValueTask AcquireAsync(QueryPriority priority, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Waiter waiter;
        lock (_lock)
        {
            if (_free > 0)
            {
                // A free slot means nobody waits: a released slot goes straight to the next waiter.
                _free--;
                _acquired[(int)priority]++;
                WaitSeconds.Observe(0);
                WaitWindow.Add(0);
                return ValueTask.CompletedTask;
            }

            if (priority != QueryPriority.Critical && _queued - _queues[(int)QueryPriority.Critical].Count >= _queueLimit)
            {
                _rejected++;
                throw new QueryQueueFullException(
                    $"all {_size} query connections are busy and {_queueLimit} queries are waiting (database.max_connections, query.queue_size); retry later");
            }

            waiter = new Waiter(priority);
            waiter.Node = _queues[(int)priority].AddLast(waiter);
            _queued++;
            _waited++;
        }

        return new ValueTask(WaitAsync(waiter, cancellationToken));
    }

    private async Task WaitAsync(Waiter waiter, CancellationToken cancellationToken)
    {
        try
        {
            await waiter.Granted.Task.WaitAsync(_queueTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            if (!TryRemove(waiter))
            {
                // The slot was handed over as the wait ended: keep it after a timeout, give it back after a cancellation.
                if (e is TimeoutException)
                {
                    return;
                }

                Release(TimeSpan.Zero, record: false);
                throw;
            }

            if (e is TimeoutException)
            {
                Interlocked.Increment(ref _timedOut);
                throw new QueryQueueTimeoutException(
                    $"no query connection became free within {_queueTimeout.TotalSeconds:0.###} s (query.queue_timeout); retry later");
            }

            Interlocked.Increment(ref _cancelled);
            throw;
        }
    }

    private bool TryRemove(Waiter waiter)
    {
        lock (_lock)
        {
            if (waiter.Node?.List is null)
            {
                return false;
            }

            _queues[(int)waiter.Priority].Remove(waiter.Node);
            _queued--;
            return true;
        }
    }

    /// <summary>Frees a slot (handing it to the next waiter, if any); <paramref name="held"/> is how long it was held.</summary>
    public void Release(TimeSpan held) => Release(held, record: true);

    private void Release(TimeSpan held, bool record)
    {
        if (record)
        {
            ExecutionSeconds.Observe(held);
            ExecutionWindow.Add(held.TotalMilliseconds);
        }

        Waiter? next = null;
        lock (_lock)
        {
            _lastRelease = Stopwatch.GetTimestamp();
            for (var p = Priorities - 1; p >= 0 && next is null; p--)
            {
                if (_queues[p].First is { } node)
                {
                    _queues[p].RemoveFirst();
                    _queued--;
                    _acquired[p]++;
                    next = node.Value;
                }
            }

            if (next is null)
            {
                if (_free >= _size)
                {
                    throw new InvalidOperationException("a query slot was released more often than acquired");
                }

                _free++;
            }
        }

        if (next is not null)
        {
            var waited = Stopwatch.GetElapsedTime(next.Enqueued);
            WaitSeconds.Observe(waited);
            WaitWindow.Add(waited.TotalMilliseconds);
            next.Granted.TrySetResult();
        }
    }

    /// <summary>
    /// Whether no query holds or waits for a connection, and none let go of one within <paramref name="span"/> (counted
    /// from the pool's creation before the first), for background work that yields to queries.
    /// </summary>
    public bool QuietFor(TimeSpan span)
    {
        lock (_lock)
        {
            return _free == _size && _queued == 0 && Stopwatch.GetElapsedTime(_lastRelease) >= span;
        }
    }

    public QueryPoolStats Stats()
    {
        int[] queued;
        long[] acquired;
        int active;
        long waited, rejected;
        lock (_lock)
        {
            queued = [.. _queues.Select(q => q.Count)];
            acquired = [.. _acquired];
            active = _size - _free;
            waited = _waited;
            rejected = _rejected;
        }

        return new QueryPoolStats(_size, active, _queueLimit, _queueTimeout, queued, acquired, waited, rejected,
            Interlocked.Read(ref _timedOut), Interlocked.Read(ref _cancelled), WaitWindow.Snapshot(), ExecutionWindow.Snapshot(), ExecutionWindow.Window);
    }

    private sealed class Waiter(QueryPriority priority)
    {
        public QueryPriority Priority { get; } = priority;

        public long Enqueued { get; } = Stopwatch.GetTimestamp();

        public LinkedListNode<Waiter>? Node { get; set; }

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

using Arc.Engine.Query;

namespace Arc.Engine.Tests;

public sealed class QueryPriorityPoolOpsTests
{
    [Fact]
    public async Task WaitersAreServedByPriorityThenInArrivalOrder()
    {
        var pool = new QueryPriorityPool(1, 16, TimeSpan.FromSeconds(30));
        await pool.AcquireAsync(QueryPriority.Normal, CancellationToken.None); // the only slot is taken
        var order = new List<string>();
        var arrivals = new (string Name, QueryPriority Priority)[]
        {
            ("low-1", QueryPriority.Low), ("normal-1", QueryPriority.Normal), ("high-1", QueryPriority.High), ("low-2", QueryPriority.Low),
            ("critical-1", QueryPriority.Critical), ("normal-2", QueryPriority.Normal), ("high-2", QueryPriority.High),
        };
        var waits = arrivals.Select(a => Hold(pool, a.Priority, a.Name, order)).ToList();
        Assert.Equal(7, pool.Stats().Queued);
        Assert.Equal([2, 2, 2, 1], pool.Stats().QueuedByPriority);

        pool.Release(TimeSpan.Zero); // each holder releases when it is done, handing the slot to the next
        await Task.WhenAll(waits);
        Assert.Equal(["critical-1", "high-1", "high-2", "normal-1", "normal-2", "low-1", "low-2"], order);
        var stats = pool.Stats();
        Assert.Equal(0, stats.Active);
        Assert.Equal(7, stats.Waited);
        Assert.Equal([2, 3, 2, 1], stats.AcquiredByPriority);
        Assert.Equal(8, pool.ExecutionSeconds.Count);
        Assert.Equal(8, pool.WaitSeconds.Count);

        static async Task Hold(QueryPriorityPool pool, QueryPriority priority, string name, List<string> order)
        {
            await pool.AcquireAsync(priority, CancellationToken.None);
            lock (order)
            {
                order.Add(name);
            }

            pool.Release(TimeSpan.FromMilliseconds(1));
        }
    }

    [Fact]
    public async Task AFullQueueRefusesAtOnceExceptCriticalQueries()
    {
        var pool = new QueryPriorityPool(1, 2, TimeSpan.FromSeconds(30));
        await pool.AcquireAsync(QueryPriority.Normal, CancellationToken.None);
        var queued = new[] { pool.AcquireAsync(QueryPriority.Low, CancellationToken.None).AsTask(), pool.AcquireAsync(QueryPriority.High, CancellationToken.None).AsTask() };
        var full = await Assert.ThrowsAsync<QueryQueueFullException>(async () => await pool.AcquireAsync(QueryPriority.High, CancellationToken.None));
        Assert.Contains("query.queue_size", full.Message, StringComparison.Ordinal);
        var critical = pool.AcquireAsync(QueryPriority.Critical, CancellationToken.None).AsTask(); // an operator can always get in line
        Assert.Equal(1, pool.Stats().Rejected);
        Assert.Equal(3, pool.Stats().Queued);

        pool.Release(TimeSpan.Zero);
        await critical;
        Assert.False(queued[0].IsCompleted || queued[1].IsCompleted);
        pool.Release(TimeSpan.Zero);
        await queued[1];
        pool.Release(TimeSpan.Zero);
        await queued[0];
        pool.Release(TimeSpan.Zero);
        Assert.Equal(0, pool.Stats().Active);
    }

    [Fact]
    public async Task AWaitTimesOutOrIsCancelledAndLeavesTheQueue()
    {
        var pool = new QueryPriorityPool(1, 8, TimeSpan.FromMilliseconds(200));
        await pool.AcquireAsync(QueryPriority.Normal, CancellationToken.None);
        var timeout = await Assert.ThrowsAsync<QueryQueueTimeoutException>(async () => await pool.AcquireAsync(QueryPriority.Normal, CancellationToken.None));
        Assert.Contains("query.queue_timeout", timeout.Message, StringComparison.Ordinal);

        using var cancel = new CancellationTokenSource();
        var waiting = pool.AcquireAsync(QueryPriority.High, cancel.Token).AsTask();
        Assert.Equal(1, pool.Stats().Queued);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        var stats = pool.Stats();
        Assert.Equal((0, 1, 1), (stats.Queued, stats.TimedOut, stats.Cancelled));

        // The slot was never lost: releasing it frees the pool, and the next acquisition does not wait.
        pool.Release(TimeSpan.Zero);
        Assert.True(pool.AcquireAsync(QueryPriority.Low, CancellationToken.None).AsTask().IsCompletedSuccessfully);
        pool.Release(TimeSpan.Zero);
        Assert.Equal(0, pool.Stats().Active);
        Assert.Throws<InvalidOperationException>(() => pool.Release(TimeSpan.Zero));
    }

    [Fact]
    public async Task ManyConcurrentHoldersNeverExceedTheSize()
    {
        var pool = new QueryPriorityPool(3, 1000, TimeSpan.FromSeconds(30));
        var inside = 0;
        var most = 0;
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            await pool.AcquireAsync((QueryPriority)(i % 4), CancellationToken.None);
            var now = Interlocked.Increment(ref inside);
            InterlockedMax(ref most, now);
            await Task.Yield();
            Interlocked.Decrement(ref inside);
            pool.Release(TimeSpan.Zero);
        })));
        Assert.InRange(most, 1, 3);
        Assert.Equal(0, pool.Stats().Active);
        Assert.Equal(200, pool.Stats().AcquiredByPriority.Sum());

        static void InterlockedMax(ref int target, int value)
        {
            var current = Volatile.Read(ref target);
            while (value > current && Interlocked.CompareExchange(ref target, value, current) != current)
            {
                current = Volatile.Read(ref target);
            }
        }
    }
}

using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Compaction;

/// <summary>
/// The dedicated threads compaction computes on. A job takes one for its whole run (<see cref="TakeAsync"/>,
/// <see cref="TryTake"/>), and at most <c>compaction.max_concurrent</c> are taken at once, so these are also the jobs'
/// slots. DuckDB's compaction instance has no background thread at <c>threads = 1</c> (DuckDB counts the calling thread
/// as one), so a merge's reading, sorting and writing run on the thread that calls DuckDB, at that thread's priority.
/// Half the threads keep the normal priority, half run at <c>compaction.nice</c> (Linux's per-thread nice value; a thread
/// cannot lower its own nice value without privileges, so a job picks a thread rather than setting one): a job that
/// may wait takes what ingestion and queries leave, one of a partition that is falling behind takes its share.
/// </summary>
internal sealed partial class CompactionThreads : IDisposable
{
    private const int PriorityOfProcess = 0; // PRIO_PROCESS: with a thread id, that thread alone on Linux

    private readonly Lane[] _lanes;
    private readonly int _count;
    private readonly SemaphoreSlim _free;
    private readonly Lock _gate = new();

    public CompactionThreads(int count, int nice, ILogger logger)
    {
        _lanes = [.. Enumerable.Range(0, nice == 0 ? count : 2 * count).Select(i => new Lane(this, i < count ? 0 : nice, logger))];
        _count = count;
        _free = new SemaphoreSlim(count);
    }

    /// <summary>
    /// Waits until fewer than <c>count</c> threads are taken and takes one, at the normal priority when
    /// <paramref name="normal"/> (else niced); disposing the lane hands it back.
    /// </summary>
    public async Task<Lane> TakeAsync(bool normal, CancellationToken cancellationToken)
    {
        await _free.WaitAsync(cancellationToken).ConfigureAwait(false);
        return Take(normal);
    }

    /// <summary>As <see cref="TakeAsync"/> without waiting: false when <c>count</c> threads are taken.</summary>
    public bool TryTake(bool normal, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Lane? lane)
    {
        lane = _free.Wait(0) ? Take(normal) : null;
        return lane is not null;
    }

    /// <summary>Waits until no thread is taken and keeps every slot: no job starts afterwards.</summary>
    public async Task DrainAsync()
    {
        for (var i = 0; i < _count; i++)
        {
            await _free.WaitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Ends the threads once the work handed to them is done.</summary>
    public void Dispose()
    {
        foreach (var lane in _lanes)
        {
            lane.Complete();
        }
    }

    private Lane Take(bool normal)
    {
        lock (_gate)
        {
            // Fewer than count are taken (the semaphore), so a free one of each priority is left.
            var lane = Array.Find(_lanes, l => !l.Taken && (l.Nice == 0) == normal) ?? Array.Find(_lanes, l => !l.Taken)!;
            lane.Taken = true;
            return lane;
        }
    }

    private void Return(Lane lane)
    {
        lock (_gate)
        {
            lane.Taken = false;
        }

        _free.Release();
    }

    /// <summary>One thread and the work queued for it; a job holds it from <see cref="TakeAsync"/> until disposed.</summary>
    internal sealed class Lane : IDisposable
    {
        private readonly CompactionThreads _owner;
        private readonly BlockingCollection<Action> _work = [];

        public Lane(CompactionThreads owner, int nice, ILogger logger)
        {
            _owner = owner;
            Nice = nice;
            new Thread(() => Loop(logger)) { IsBackground = true, Name = "arc-compaction" }.Start();
        }

        /// <summary>The thread's nice value.</summary>
        public int Nice { get; }

        internal bool Taken { get; set; }

        /// <summary>Runs <paramref name="work"/> on the lane's thread.</summary>
        public Task<T> RunAsync<T>(Func<T> work)
        {
            var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            _work.Add(() =>
            {
                try
                {
                    done.SetResult(work());
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            });
            return done.Task;
        }

        /// <summary>Hands the lane back.</summary>
        public void Dispose() => _owner.Return(this);

        internal void Complete() => _work.CompleteAdding();

        private void Loop(ILogger logger)
        {
            if (Nice != 0 && OperatingSystem.IsLinux() && SetPriority(PriorityOfProcess, GetThreadId(), Nice) != 0)
            {
                logger.LogWarning("A compaction thread keeps the normal priority: setpriority failed with errno {Error}", Marshal.GetLastPInvokeError());
            }

            foreach (var work in _work.GetConsumingEnumerable())
            {
                work();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetThreadId();
}

using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Compaction;

/// <summary>
/// The dedicated threads compaction computes on, one per job that may run at once (<c>compaction.max_concurrent</c>); a
/// job takes one for its whole run (<see cref="TakeAsync"/>), so these are also the jobs' slots. DuckDB's compaction
/// instance has no background thread at <c>threads = 1</c> (DuckDB counts the calling thread as one), so a merge's
/// reading, sorting and writing run on the thread that calls DuckDB. The first thread keeps the normal priority and a job
/// takes it whenever it is free: one merge at a time gets the share of the cores it always had. The others run at
/// <c>compaction.nice</c> (Linux's per-thread nice value): the jobs beside the first use what ingestion and queries leave,
/// so on a busy machine merges side by side never take cores from them, and on an idle one they run at full speed.
/// </summary>
internal sealed partial class CompactionThreads : IDisposable
{
    private const int PriorityOfProcess = 0; // PRIO_PROCESS: with a thread id, that thread alone on Linux

    private readonly Lane[] _lanes;
    private readonly SemaphoreSlim _free;
    private readonly Lock _gate = new();

    public CompactionThreads(int count, int nice, ILogger logger)
    {
        _lanes = [.. Enumerable.Range(0, count).Select(i => new Lane(this, i == 0 ? 0 : nice, logger))];
        _free = new SemaphoreSlim(count);
    }

    /// <summary>Waits for a free thread and takes it, the normal-priority one when free; disposing the lane hands it back.</summary>
    public async Task<Lane> TakeAsync(CancellationToken cancellationToken)
    {
        await _free.WaitAsync(cancellationToken).ConfigureAwait(false);
        return Take();
    }

    /// <summary>Takes a free thread, the normal-priority one when free, without waiting; false when every one is taken.</summary>
    public bool TryTake([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Lane? lane)
    {
        lane = _free.Wait(0) ? Take() : null;
        return lane is not null;
    }

    /// <summary>Waits until every lane is free and keeps them: no job starts afterwards.</summary>
    public async Task DrainAsync()
    {
        for (var i = 0; i < _lanes.Length; i++)
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

    private Lane Take()
    {
        lock (_gate)
        {
            var lane = Array.Find(_lanes, l => !l.Taken)!; // the semaphore counts the free lanes
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

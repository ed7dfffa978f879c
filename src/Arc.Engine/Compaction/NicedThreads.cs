using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Compaction;

/// <summary>
/// Dedicated threads, one per job that may run at once, that do compaction's computing at a lower scheduling priority
/// (<c>compaction.nice</c>, Linux's per-thread nice value): the compaction instance has no DuckDB background thread at
/// <c>threads = 1</c> (DuckDB counts the calling thread as one), so a merge's reading, sorting and writing run on the
/// thread that calls DuckDB, and on a busy machine ingestion and queries get the cores first while merges take what they
/// leave. With more DuckDB threads, its background threads run at the normal priority.
/// </summary>
internal sealed partial class NicedThreads : IDisposable
{
    private const int PriorityOfProcess = 0; // PRIO_PROCESS: with a thread id, that thread alone on Linux

    private readonly BlockingCollection<Action> _work = [];

    public NicedThreads(int count, int nice, ILogger logger)
    {
        for (var i = 0; i < count; i++)
        {
            new Thread(() => Loop(nice, logger)) { IsBackground = true, Name = "arc-compaction" }.Start();
        }
    }

    /// <summary>Runs <paramref name="work"/> on one of the threads.</summary>
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

    /// <summary>Ends the threads once the work handed to them is done.</summary>
    public void Dispose() => _work.CompleteAdding();

    private void Loop(int nice, ILogger logger)
    {
        if (nice != 0 && OperatingSystem.IsLinux() && SetPriority(PriorityOfProcess, GetThreadId(), nice) != 0)
        {
            logger.LogWarning("Compaction threads keep the normal priority: setpriority failed with errno {Error}", Marshal.GetLastPInvokeError());
        }

        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetThreadId();
}

using Arc.Engine.Compaction;
using Microsoft.Extensions.Logging.Abstractions;

namespace Arc.Engine.Tests;

/// <summary>
/// The threads compaction jobs compute on (<see cref="CompactionThreads"/>): which a job takes, their nice values, and
/// what work hands back.
/// </summary>
public sealed class CompactionThreadsTests
{
    [Fact]
    public async Task AJobTakesTheNormalPriorityThreadWhenFreeAndJobsBesideItRunNiced()
    {
        using var threads = new CompactionThreads(3, 10, NullLogger.Instance);
        var first = await threads.TakeAsync(CancellationToken.None);
        var second = await threads.TakeAsync(CancellationToken.None);
        Assert.Equal(0, await first.RunAsync(ThreadNice));
        Assert.Equal(10, await second.RunAsync(ThreadNice));

        // The normal-priority thread handed back is the next job's, though a niced one is free too.
        first.Dispose();
        using (var third = await threads.TakeAsync(CancellationToken.None))
        {
            Assert.Equal(0, await third.RunAsync(ThreadNice));
            using var fourth = await threads.TakeAsync(CancellationToken.None);
            Assert.Equal(10, await fourth.RunAsync(ThreadNice));

            // Every thread taken: the next job waits for one.
            var waiting = threads.TakeAsync(CancellationToken.None);
            await Task.Delay(50);
            Assert.False(waiting.IsCompleted);
            second.Dispose();
            using var fifth = await waiting;
            Assert.Equal(10, await fifth.RunAsync(ThreadNice));
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            using var lane = await threads.TakeAsync(CancellationToken.None);
            await lane.RunAsync<int>(() => throw new InvalidOperationException("merge failed"));
        });
        Assert.Equal("merge failed", error.Message);

        await threads.DrainAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => threads.TakeAsync(new CancellationTokenSource(50).Token));
    }

    [Fact]
    public async Task NiceZeroKeepsEveryThreadAtTheNormalPriority()
    {
        using var threads = new CompactionThreads(2, 0, NullLogger.Instance);
        using var first = await threads.TakeAsync(CancellationToken.None);
        using var second = await threads.TakeAsync(CancellationToken.None);
        Assert.Equal(0, await first.RunAsync(ThreadNice));
        Assert.Equal(0, await second.RunAsync(ThreadNice));
    }

    /// <summary>The calling thread's nice value: field 19 of <c>/proc/thread-self/stat</c> (the fields after the name's ')').</summary>
    private static int ThreadNice()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture);
    }
}

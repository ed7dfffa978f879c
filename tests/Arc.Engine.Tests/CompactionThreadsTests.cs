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
    public async Task AJobTakesAThreadOfThePriorityItAsksForAndAtMostCountAreTakenAtOnce()
    {
        using var threads = new CompactionThreads(2, 10, NullLogger.Instance);
        var niced = await threads.TakeAsync(normal: false, CancellationToken.None);
        Assert.True(threads.TryTake(normal: true, out var normal));
        Assert.Equal(10, await niced.RunAsync(ThreadNice));
        Assert.Equal(0, await normal.RunAsync(ThreadNice));

        // Two taken: the next job waits for one, whatever the priority it asks for.
        Assert.False(threads.TryTake(normal: true, out _));
        var waiting = threads.TakeAsync(normal: false, CancellationToken.None);
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        normal.Dispose();
        using (var next = await waiting)
        {
            Assert.Equal(10, await next.RunAsync(ThreadNice)); // another niced thread, though the normal one is free
            niced.Dispose();
            Assert.True(threads.TryTake(normal: true, out var again));
            Assert.Equal(0, await again.RunAsync(ThreadNice));
            again.Dispose();
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            using var lane = await threads.TakeAsync(normal: false, CancellationToken.None);
            await lane.RunAsync<int>(() => throw new InvalidOperationException("merge failed"));
        });
        Assert.Equal("merge failed", error.Message);

        await threads.DrainAsync();
        Assert.False(threads.TryTake(normal: false, out _));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => threads.TakeAsync(normal: false, new CancellationTokenSource(50).Token));
    }

    [Fact]
    public async Task NiceZeroKeepsEveryThreadAtTheNormalPriority()
    {
        using var threads = new CompactionThreads(2, 0, NullLogger.Instance);
        using var first = await threads.TakeAsync(normal: false, CancellationToken.None);
        using var second = await threads.TakeAsync(normal: false, CancellationToken.None);
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

using Arc.Engine.Compaction;
using Microsoft.Extensions.Logging.Abstractions;

namespace Arc.Engine.Tests;

/// <summary>The threads compaction computes on (<see cref="NicedThreads"/>): their nice value, and what work hands back.</summary>
public sealed class NicedThreadsTests
{
    [Fact]
    public async Task WorkRunsAtTheConfiguredNiceValueAndHandsBackItsResultOrError()
    {
        using var threads = new NicedThreads(2, 10, NullLogger.Instance);
        Assert.Equal(10, await threads.RunAsync(ThreadNice));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => threads.RunAsync<int>(() => throw new InvalidOperationException("merge failed")));
        Assert.Equal("merge failed", error.Message);

        using var normal = new NicedThreads(1, 0, NullLogger.Instance);
        Assert.Equal(0, await normal.RunAsync(ThreadNice));
    }

    /// <summary>The calling thread's nice value: field 19 of <c>/proc/thread-self/stat</c> (the fields after the name's ')').</summary>
    private static int ThreadNice()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture);
    }
}

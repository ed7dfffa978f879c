using Arc.Engine.DuckDb;

namespace Arc.Engine.Tests;

/// <summary>
/// DuckDB 1.5.6 sometimes reports a parallel query that failed in a worker thread as "INTERRUPT Error: Interrupted!" (seen
/// in CI as a flaky 400 message). The race is an interrupt flag nobody outside DuckDB raised; these tests raise it the same
/// way, on the query's own connection, and check what the caller is told.
/// </summary>
public sealed class QueryErrorTests : BatchEngineTests
{
    private const string FailsAtRowOneMillion =
        "SELECT CASE WHEN range < 1000000 THEN range ELSE error('boom ' || range)::BIGINT END AS v FROM range(3000000)";

    [Fact]
    public async Task AnInterruptTheServerDidNotAskForReportsTheQuerysOwnError()
    {
        var error = await InterruptAfterFirstChunk(FailsAtRowOneMillion);
        Assert.Contains("boom 1000000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AQueryThatSucceedsWhenRunAgainIsStillAnErrorNotASilentlyShortResult()
    {
        var error = await InterruptAfterFirstChunk("SELECT range AS v FROM range(3000000)");
        Assert.Contains("succeeded when run again", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancellingTheQueryIsReportedAsCancellationNotRerun()
    {
        using var cancel = new CancellationTokenSource();
        using var cursor = await Engine.Query.OpenAsync(FailsAtRowOneMillion, null, cancel.Token);
        cursor.Next()!.Dispose();
        await cancel.CancelAsync(); // interrupts the connection through the query's registration
        var error = Assert.Throws<DuckDbException>(() => Drain(cursor));
        Assert.Contains("time limit", error.Message, StringComparison.Ordinal);
        Assert.Contains("cancelled", error.Message, StringComparison.Ordinal);
    }

    private async Task<DuckDbException> InterruptAfterFirstChunk(string sql)
    {
        using var cursor = await Engine.Query.OpenAsync(sql, null, CancellationToken.None);
        cursor.Next()!.Dispose();
        cursor.Connection.Interrupt();
        var error = Assert.Throws<DuckDbException>(() => Drain(cursor));
        Assert.DoesNotContain("Interrupted!", error.Message, StringComparison.Ordinal);
        return error;
    }

    private static void Drain(Arc.Engine.Query.QueryCursor cursor)
    {
        while (cursor.Next() is { } chunk)
        {
            chunk.Dispose();
        }
    }
}

using Arc.Engine.DuckDb;
using DuckDB.NET.Native;

namespace Arc.Engine.Tests;

/// <summary>
/// A cancelled query stops even when its token fired between two of its statements: DuckDB clears a connection's
/// interrupt flag when a statement starts, so a single interrupt sent before the statement began was lost and an endless
/// query ran on, holding the connection past the time limit (a client that left during planning, on a loaded machine).
/// </summary>
public sealed class ConnectionInterruptTests
{
    private const string EndlessSql = "SELECT max(range * 2) FROM range(1000000000000)";

    [Fact]
    public void AnInterruptSentBeforeTheStatementStartsStillStopsIt()
    {
        using var database = DuckDbDatabase.Open(null, [new("threads", "1")]);
        using var connection = database.Connect();
        Assert.Equal(DuckDBState.Success, NativeMethods.PreparedStatements.DuckDBPrepare(connection.Handle, EndlessSql, out var statement));
        using (statement)
        using (var cancelled = new CancellationTokenSource())
        using (new ConnectionInterrupt(connection, cancelled.Token))
        {
            cancelled.Cancel(); // before the statement starts, as when the client leaves while the query is planned

            // Should the interrupt be lost, the watchdog ends the query (and the test fails) instead of letting it run on.
            var watchdogFired = false;
            using var watchdog = new Timer(_ =>
            {
                watchdogFired = true;
                connection.Interrupt();
            }, null, TimeSpan.FromSeconds(20), Timeout.InfiniteTimeSpan);
            var error = Assert.Throws<DuckDbException>(() =>
            {
                using var result = DuckDbQueryResult.ExecuteStreaming(statement);
                result.FetchChunk()?.Dispose();
            });
            Assert.Equal(DuckDBErrorType.Interrupt, error.ErrorType);
            Assert.False(watchdogFired, "the query ran until the watchdog stopped it");
        }
    }

    [Fact]
    public async Task OnceDisposedItInterruptsNothing()
    {
        using var database = DuckDbDatabase.Open(null, [new("threads", "1")]);
        using var connection = database.Connect();
        using (var cancelled = new CancellationTokenSource())
        {
            var interrupt = new ConnectionInterrupt(connection, cancelled.Token);
            await cancelled.CancelAsync();
            interrupt.Dispose();
        }

        // The repeats would have fired several times by now: the connection, back in a pool, runs its next statements.
        await Task.Delay(200);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("1", connection.QueryStrings("SELECT 1")[0][0]);
            await Task.Delay(10);
        }
    }
}

using Arc.Engine.Storage.Remote;

namespace Arc.Engine.Tests;

/// <summary>
/// A time bound using DuckDB's clock (<c>now()</c>) chooses the files by the statement's own <c>now()</c>, not by an
/// instant before it: the bounds are evaluated again inside the transaction the statement runs in.
/// </summary>
public sealed class NowBoundTests : IAsyncLifetime
{
    private const long Hour = 3_600_000_000_000;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-now-" + Guid.NewGuid().ToString("N"));
    private readonly InMemoryObjectStore _bucket = new();
    private ArcEngine _engine = null!;

    public async Task InitializeAsync() =>
        _engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = Path.Combine(_directory, "local"),
            MaxBufferAge = TimeSpan.FromHours(1),

            // Every query of a measurement lists the store: the listing is a moment between choosing the files and binding.
            ObjectStore = new ObjectStoreOptions { Bucket = "test", Store = _bucket, ListingTtl = TimeSpan.Zero },
        });

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task AnUpperBoundOnNowListsTheFilesOfTheStatementsOwnNow()
    {
        await EngineData.WriteAsync(_engine, $"cpu,host=a v=1 {Now() - (10 * 60 * 1_000_000_000L)}\n");
        await _engine.FlushAsync();

        // Files are chosen by hour, so the bound must cross an hour between two evaluations to choose differently: this
        // one moves an hour per millisecond of DuckDB's clock, B(t) = t + (ms(t) - x) hours.
        var x = Now() / 1_000_000;
        var sql = $"SELECT count(*) FROM cpu WHERE time <= now() + to_hours(epoch_ms(now()) - {x})";
        long stamped = 0;

        // Only the query's own listing acts: a level merge the first flush's upload set off lists the store too, in the
        // background, and may do so only now on a loaded machine (it then wrote the row before the query, which counted it
        // from the buffer while its flush was still under way).
        var inQuery = new AsyncLocal<bool>();
        _bucket.OnList = async () =>
        {
            if (!inQuery.Value)
            {
                return;
            }

            // The query lists the store after evaluating its bounds (at t1 <= tw) and before its statement starts (at t2).
            // A row is written in the hour after B(tw) >= B(t1), outside what a bound evaluated at t1 lets through, and
            // flushed; the clock then moves 2 ms on, so B(t2) >= B(tw) + 2 h passes the row: the statement counts it.
            var tw = Now();
            var row = ((Bound(tw, x) / Hour) + 1) * Hour;
            if (Interlocked.CompareExchange(ref stamped, row, 0) != 0)
            {
                return;
            }

            await EngineData.WriteAsync(_engine, $"cpu,host=b v=2 {row}\n");
            await _engine.FlushAsync();
            while (Now() < tw + 2_000_000)
            {
                Thread.SpinWait(100);
            }
        };

        inQuery.Value = true;
        Assert.Equal("2", await EngineData.ScalarAsync(_engine, sql));
        Assert.NotEqual(0, Interlocked.Read(ref stamped));
        Assert.Equal(2, EngineData.ParquetFiles(Path.Combine(_directory, "local", "db")).Length);
    }

    private static long Now() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

    private static long Bound(long t, long x) => t + (((t / 1_000_000) - x) * Hour);
}

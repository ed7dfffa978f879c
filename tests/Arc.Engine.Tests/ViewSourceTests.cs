using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// A measurement's view reads its files alone when no row held in memory falls in the statement's time range (DuckDB then
/// answers <c>count(*)</c> from the Parquet footers), and the files with the buffered rows otherwise: the plan shows which,
/// and the answers and columns are the same either way.
/// </summary>
public sealed class ViewSourceTests : IAsyncLifetime
{
    private const long Minute = 60_000_000_000;
    private const long T0 = 1_700_002_800_000_000_000; // 2023-11-14T23:00:00Z
    private readonly TempEngines _engines = new("source");
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 16, 0, 0, 0, TimeSpan.Zero));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _engines.DisposeAsync();

    [Fact]
    public async Task BufferedRowsAreReadOnlyByStatementsWhoseRangeHoldsThem()
    {
        var engine = await StartAsync();
        await EngineData.WriteAsync(engine, $"cpu,host=a v=1i {T0 + Minute}\ncpu,host=b v=2i {T0 + (2 * Minute)}\n");
        await engine.FlushAsync();

        // Nothing buffered: the files alone, whatever the range.
        await AssertReadsAsync(engine, "SELECT count(*), sum(v) FROM cpu", buffer: false, "2", "3");

        // One row buffered at 23:30:00.123456789.
        await EngineData.WriteAsync(engine, $"cpu,host=c v=4i {T0 + (30 * Minute) + 123_456_789}\n");
        await AssertReadsAsync(engine, "SELECT count(*), sum(v) FROM cpu", buffer: true, "3", "7");
        await AssertReadsAsync(engine, "SELECT count(*), sum(v) FROM cpu WHERE time < '2023-11-14T23:10:00Z'", buffer: false, "2", "3");
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time >= '2023-11-14T23:02:00Z' AND time <= '2023-11-14T23:20:00Z'",
            buffer: false, "1");

        // Upper bounds are read to 100 ns (the digits beyond are cut, lowering the bound): the buffer is read for a bound
        // that only its last digits put after the row.
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time <= '2023-11-14T23:30:00.123456789Z'", buffer: true, "3");
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time < '2023-11-14T23:30:00.123456789Z'", buffer: true, "2");
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time > '2023-11-14T23:30:00.123456789Z'", buffer: true, "0");
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time > now() - INTERVAL 1 HOUR", buffer: false, "0");

        // A column only buffered rows have keeps the buffer in every statement, so SELECT * has the same columns for any range.
        await EngineData.WriteAsync(engine, $"cpu,host=c w=1.5 {T0 + (31 * Minute)}\n");
        await AssertReadsAsync(engine, "SELECT count(w) FROM cpu WHERE time < '2023-11-14T23:10:00Z'", buffer: true, "0");
        Assert.Equal(["host", "time", "v", "w"], (await EngineData.RowsAsync(engine, "SELECT column_name FROM (DESCRIBE cpu) ORDER BY 1")).Select(r => r[0]!));

        // Flushed, the rows are in files and the buffer is out of every plan again.
        await engine.FlushAsync();
        await AssertReadsAsync(engine, "SELECT count(*), sum(v), count(w) FROM cpu", buffer: false, "4", "7", "1");
        await AssertReadsAsync(engine, "SELECT count(w) FROM cpu WHERE time < '2023-11-14T23:10:00Z'", buffer: false, "0");
    }

    [Fact]
    public async Task TagFiltersOnBufferedRowsAnswerAsWithoutThem()
    {
        var engine = await StartAsync();
        await EngineData.WriteAsync(engine, $"cpu,host=a,region=eu v=1i,s=\"x\" {T0}\ncpu,host=b,region=us v=2i,s=\"y\" {T0 + 1}\n");
        await engine.FlushAsync();
        await EngineData.WriteAsync(engine, $"cpu,host=a,region=eu v=4i,s=\"x\" {T0 + Minute}\ncpu,host=b v=8i {T0 + Minute + 1}\n" +
                                            $"cpu,host=c,region=us v=16i,s=\"y\" {T0 + Minute + 2}\ncpu v=32i {T0 + Minute + 3}\n");

        // Each filter, then the same rows with the filter hidden from the scan (under an OR): the same answer.
        foreach (var (filter, expected) in new[]
                 {
                     ("host = 'a'", "2|5"),
                     ("'b' = host", "2|10"),
                     ("cpu.host IN ('a', 'c')", "3|21"),
                     ("host = 'a' AND region = 'eu'", "2|5"),
                     ("region = 'us'", "2|18"),
                     ("s = 'y' AND time > '2023-11-14T23:00:30Z'", "1|16"),
                     ("host = 'A'", "0|null"),
                     ("host = 'a' AND host = 'b'", "0|null"),
                     ($"host IN ({string.Join(", ", Enumerable.Range(0, 100).Select(i => $"'h{i}'"))}, 'c')", "1|16"), // left to DuckDB
                 })
        {
            var sql = $"SELECT count(*), sum(v) FROM cpu WHERE {filter}";
            Assert.Equal(expected, string.Join('|', (await EngineData.RowsAsync(engine, sql)).Single()));
            Assert.Equal(expected, string.Join('|', (await EngineData.RowsAsync(engine, $"SELECT count(*), sum(v) FROM cpu WHERE ({filter}) OR false")).Single()));
        }

        // A WHERE name binds to the table's column before a select-list alias, and to the alias only when there is no column.
        Assert.Equal(["us"], (await EngineData.RowsAsync(engine, "SELECT region AS host FROM cpu WHERE host = 'c'")).Select(r => r[0]!));
        Assert.Equal(["a", "a"], (await EngineData.RowsAsync(engine, "SELECT host AS h FROM cpu WHERE h = 'a' ORDER BY time")).Select(r => r[0]!));
    }

    private static async Task AssertReadsAsync(ArcEngine engine, string sql, bool buffer, params string[] answer)
    {
        var plan = string.Join("\n", (await EngineData.RowsAsync(engine, "EXPLAIN " + sql)).Select(r => r[^1]));
        Assert.True(plan.Contains("arc_buffer", StringComparison.OrdinalIgnoreCase) == buffer,
            $"{sql}: expected {(buffer ? "a" : "no")} scan of the buffered rows in\n{plan}");
        Assert.True(plan.Contains("READ_PARQUET", StringComparison.OrdinalIgnoreCase), $"{sql}: no Parquet scan in\n{plan}");
        Assert.Equal(answer, (await EngineData.RowsAsync(engine, sql)).Single());
    }

    private Task<ArcEngine> StartAsync() => _engines.StartAsync(new EngineOptions
    {
        DataPath = _engines.Root,
        MaxBufferAge = TimeSpan.FromHours(1),
        Time = _clock,
    });
}

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
        await AssertReadsAsync(engine, "SELECT count(*), sum(v) FROM cpu", Reads.Files, "2", "3");

        // One row buffered at 23:30:00.123456789.
        await EngineData.WriteAsync(engine, $"cpu,host=c v=4i {T0 + (30 * Minute) + 123_456_789}\n");
        await AssertReadsAsync(engine, "SELECT count(*), sum(v) FROM cpu", Reads.FilesAndMemory, "3", "7");
        await AssertReadsAsync(engine, "SELECT count(*), sum(v) FROM cpu WHERE time < '2023-11-14T23:10:00Z'", Reads.Files, "2", "3");
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time >= '2023-11-14T23:02:00Z' AND time <= '2023-11-14T23:20:00Z'",
            Reads.Files, "1");

        // Upper bounds are read to 100 ns (the digits beyond are cut, lowering the bound): the buffer is read for a bound
        // that only its last digits put after the row.
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time <= '2023-11-14T23:30:00.123456789Z'", Reads.FilesAndMemory, "3");
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time < '2023-11-14T23:30:00.123456789Z'", Reads.FilesAndMemory, "2");
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time > '2023-11-14T23:30:00.123456789Z'", Reads.Memory, "0");
        await AssertReadsAsync(engine, "SELECT count(*) FROM cpu WHERE time > now() - INTERVAL 1 HOUR", Reads.Memory, "0");

        // A column only buffered rows have keeps the buffer in every statement, so SELECT * has the same columns for any range.
        await EngineData.WriteAsync(engine, $"cpu,host=c w=1.5 {T0 + (31 * Minute)}\n");
        await AssertReadsAsync(engine, "SELECT count(w) FROM cpu WHERE time < '2023-11-14T23:10:00Z'", Reads.FilesAndMemory, "0");
        Assert.Equal(["host", "time", "v", "w"], (await EngineData.RowsAsync(engine, "SELECT column_name FROM (DESCRIBE cpu) ORDER BY 1")).Select(r => r[0]!));

        // Flushed, the rows are in files and the buffer is out of every plan again.
        await engine.FlushAsync();
        await AssertReadsAsync(engine, "SELECT count(*), sum(v), count(w) FROM cpu", Reads.Files, "4", "7", "1");
        await AssertReadsAsync(engine, "SELECT count(w) FROM cpu WHERE time < '2023-11-14T23:10:00Z'", Reads.Files, "0");
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

    [Fact]
    public async Task AStatementThatNeedsNoFileReadsMemoryAloneWithTheColumnsAndTypesOfFilesAndMemory()
    {
        var engine = await StartAsync();

        // The files: every field type, and a tag and fields no row in memory has.
        await EngineData.WriteAsync(engine, $"cpu,host=a,dc=x f=1.5,i=-2i,u=3u,b=true,s=\"one\" {T0 + Minute}\n");
        await engine.FlushAsync();

        // In memory: some of those columns, and one the files lack.
        await EngineData.WriteAsync(engine, $"cpu,host=b i=5i,w=2.5 {T0 + (30 * Minute)}\ncpu,host=c f=0.25,s=\"two\",b=false {T0 + (40 * Minute)}\n");
        const string Later = "time > '2023-11-14T23:10:00Z'";
        foreach (var select in new[]
                 {
                     "SELECT *", "SELECT host, dc, f, i, u, b, s, w, time", "SELECT count(*), count(dc), sum(i), sum(u), max(s), bool_or(b), sum(w)",
                     "SELECT * EXCLUDE (time)", "SELECT dc",
                 })
        {
            var memory = $"{select} FROM cpu WHERE {Later}";
            var union = $"{select} FROM cpu WHERE ({Later}) OR false"; // no bound the planner reads: files and memory
            await AssertPlanAsync(engine, memory, Reads.Memory);
            await AssertPlanAsync(engine, union, Reads.FilesAndMemory);
            Assert.Equal(await ShapeAsync(engine, union + " ORDER BY ALL"), await ShapeAsync(engine, memory + " ORDER BY ALL"));
        }

        Assert.Equal(["time", "b", "dc", "f", "host", "i", "s", "u", "w"],
            (await EngineData.RowsAsync(engine, "SELECT column_name FROM (DESCRIBE cpu)")).Select(r => r[0]).Order(StringComparer.Ordinal).Prepend("time").Distinct());
        Assert.Equal("0", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM cpu WHERE time > now()"));
    }

    [Fact]
    public async Task FilesWhoseTypesTheRowsInMemoryDoNotHaveAreStillReadForTheirColumns()
    {
        // A file placed by hand with an INTEGER field and a DECIMAL one; written rows make the field BIGINT in memory.
        var directory = Directory.CreateDirectory(Path.Combine(_engines.Root, "db", "cpu", "2023", "11", "14", "23"));
        using (var duckDb = Arc.Engine.DuckDb.DuckDbDatabase.Open(null, []))
        using (var connection = duckDb.Connect())
        {
            connection.Execute("COPY (SELECT TIMESTAMP_NS '2023-11-14 23:01:00' AS time, 'a' AS host, 7::INTEGER AS n, 1.25::DECIMAL(5, 2) AS d) " +
                               $"TO '{Path.Combine(directory.FullName, "placed.parquet")}' (FORMAT parquet)");
        }

        var engine = await StartAsync();
        await EngineData.WriteAsync(engine, $"cpu n=5i {T0 + (30 * Minute)}\n"); // host, with no tag list in the placed file, is a string field
        const string Sql = "SELECT host, n, typeof(n), d FROM cpu WHERE time > '2023-11-14T23:10:00Z'";
        await AssertPlanAsync(engine, Sql, Reads.FilesAndMemory);
        Assert.Equal("null|5|BIGINT|null", string.Join("|", (await EngineData.RowsAsync(engine, Sql)).Single()));
    }

    /// <summary>The statement's column names and DuckDB types, then its rows.</summary>
    private static async Task<List<string>> ShapeAsync(ArcEngine engine, string sql)
    {
        using var cursor = await engine.Query.OpenAsync(sql, "db", CancellationToken.None);
        var shape = Enumerable.Range(0, cursor.Result.ColumnCount)
            .Select(i => $"{cursor.Result.GetColumnName(i)} {cursor.Result.GetColumnTypeId(i)}").ToList();
        cursor.Dispose();
        shape.AddRange((await EngineData.RowsAsync(engine, sql)).Select(r => string.Join('|', r)));
        return shape;
    }

    private static async Task AssertPlanAsync(ArcEngine engine, string sql, Reads reads)
    {
        var plan = string.Join("\n", (await EngineData.RowsAsync(engine, "EXPLAIN " + sql)).Select(r => r[^1]));
        Assert.True(plan.Contains("arc_buffer", StringComparison.OrdinalIgnoreCase) == (reads != Reads.Files),
            $"{sql}: expected {(reads != Reads.Files ? "a" : "no")} scan of the rows in memory in\n{plan}");
        Assert.True(plan.Contains("READ_PARQUET", StringComparison.OrdinalIgnoreCase) == (reads != Reads.Memory),
            $"{sql}: expected {(reads != Reads.Memory ? "a" : "no")} Parquet scan in\n{plan}");
    }

    private static async Task AssertReadsAsync(ArcEngine engine, string sql, Reads reads, params string[] answer)
    {
        await AssertPlanAsync(engine, sql, reads);
        Assert.Equal(answer, (await EngineData.RowsAsync(engine, sql)).Single());
    }

    /// <summary>What a statement's plan scans: the Parquet files, the rows in memory, or both.</summary>
    private enum Reads
    {
        Files,
        FilesAndMemory,
        Memory,
    }

    private Task<ArcEngine> StartAsync() => _engines.StartAsync(new EngineOptions
    {
        DataPath = _engines.Root,
        MaxBufferAge = TimeSpan.FromHours(1),
        HotDataBytes = 0, // flushed rows are read from their files (HotTierTests keep them in memory)
        Time = _clock,
    });
}

using System.Buffers;
using System.Globalization;
using System.Text;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Query;

namespace Arc.Engine.Tests;

/// <summary>
/// The <c>arc_buffer</c> scan reads the buffers in place instead of copying them: a scan still running when its rows are
/// flushed, or while the buffer it reads outgrows its arrays, reads its own rows even after the pool handed those arrays'
/// memory out again; the managed memory a query takes does not grow with the rows buffered; rows before the statement's
/// lower time bound are not emitted, and no later row is lost.
/// </summary>
[Collection(AllocationSensitiveCollection.Name)]
public sealed class BufferScanTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000L;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-bufferscan-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        BufferPool.Shared.MaxRetainedBytes = EngineOptions.DefaultBufferPoolBytes;
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task AScanHeldOpenReadsItsRowsWhileItsBufferGrowsAndIsFlushedAndThePoolReusesTheMemory()
    {
        await using var engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = _directory,
            MaxBufferAge = TimeSpan.FromHours(1),
            MaxBufferRows = 2_000_000,
        });
        const int Rows = 200_000;
        await EngineData.WriteAsync(engine, Lines(0, Rows));

        using var cursor = await engine.Query.OpenAsync("SELECT v, s, host FROM m", "db", CancellationToken.None);
        var output = new ArrayBufferWriter<byte>();
        var paused = 0;
        await JsonQueryOutput.WriteAsync(cursor, output, async () =>
        {
            if (paused++ > 0)
            {
                return;
            }

            // Mid-scan: the live buffer outgrows the arrays the scan reads, then is flushed (its arrays disposed), and
            // whatever free arrays the pool holds are handed out and overwritten each time.
            await EngineData.WriteAsync(engine, Lines(Rows, 2 * Rows));
            OverwritePooledArrays();
            await engine.FlushAsync();
            OverwritePooledArrays();
            await EngineData.WriteAsync(engine, Lines(2 * Rows, 2 * Rows + 1000));
            OverwritePooledArrays();
        }, 0);

        Assert.True(paused > 1, "the scan was not paused while rows were left");
        using var json = System.Text.Json.JsonDocument.Parse(output.WrittenMemory);
        var seen = new bool[Rows];
        var count = 0;
        foreach (var row in json.RootElement.GetProperty("data").EnumerateArray())
        {
            var v = row[0].GetInt64();
            Assert.InRange(v, 0, Rows - 1);
            Assert.False(seen[v], $"row {v} twice");
            seen[v] = true;
            Assert.Equal($"x{v}", row[1].GetString());
            Assert.Equal($"h{v % 7}", row[2].GetString());
            count++;
        }

        Assert.Equal(Rows, count);
        Assert.Equal((2 * Rows) + 1000, long.Parse(await EngineData.ScalarAsync(engine, "SELECT count(*) FROM m"), CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task AQueryTakesManagedMemoryIndependentOfTheRowsBuffered()
    {
        await using var engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = _directory,
            MaxBufferAge = TimeSpan.FromHours(1),
            MaxBufferRows = 2_000_000,
            BufferPoolBytes = 0, // no free arrays kept: a copy of the buffer would be new managed memory every time
        });
        await EngineData.WriteAsync(engine, Lines(0, 10_000));
        var small = await LeastAllocatedAsync(engine);
        await EngineData.WriteAsync(engine, Lines(10_000, 400_000));
        var large = await LeastAllocatedAsync(engine);

        // The 400,000 rows take about 12 MB of buffer arrays (time, v, two strings); a copy of them would show here.
        Assert.True(large < small + (1 << 20), $"a query over 400,000 buffered rows allocated {large:N0} B, over 10,000 {small:N0} B");
    }

    [Fact]
    public void RowsBeforeTheStatementsLowerTimeBoundAreSkippedAndNoLaterOneIsLost()
    {
        // Two buffers of one measurement with different columns: unsorted times, then sorted ones.
        using var first = Set([50, 10, 90, 30, 70, 60], "host");
        using var second = Set([20, 40, 60, 60, 80, 100], "extra");
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        BufferScan.Register(connection, new Sets(first, second));
        const string Sql = "SELECT epoch_ns(time), v, host, extra FROM arc_buffer('db', 'm')";

        var all = connection.QueryStrings(Sql);
        Assert.Equal(12, all.Count);
        Assert.Equal("50|50|host50|", string.Join('|', all[0]));
        Assert.Equal("20|20||20", string.Join('|', all[6]));

        // Each row as time, then h (the first buffer's, with host) or e (the second's, with extra).
        var scope = new QueryFileScope();
        foreach (var (low, expected) in new (long, string[])[]
                 {
                     (60, ["90h", "70h", "60h", "60e", "60e", "80e", "100e"]),
                     (61, ["90h", "70h", "80e", "100e"]),
                     (101, []),
                     (0, ["50h", "10h", "90h", "30h", "70h", "60h", "20e", "40e", "60e", "60e", "80e", "100e"]),
                 })
        {
            scope.Bound("db", "m", low, 80); // the upper bound is not used: a literal's digits past 100 ns are cut, which lowers it
            using (scope.Activate())
            {
                var rows = connection.QueryStrings(Sql);
                Assert.Equal(expected, rows.Select(r => r[0] + (r[2] is null ? "e" : "h")));
                Assert.All(rows, r => Assert.Equal(r[0], r[1]));
                Assert.All(rows, r => Assert.Equal(r[2] is null ? r[0] : null, r[3]));
                Assert.All(rows, r => Assert.Equal(r[3] is null ? "host" + r[0] : null, r[2]));
            }
        }
    }

    [Fact]
    public void ManyRowsScannedOnSeveralThreadsAreEachEmittedOnce()
    {
        // 100,000 rows out of time order (a permutation), then 70,000 in order: ranges of 32,768 rows go to DuckDB's threads.
        var unsorted = Enumerable.Range(0, 100_000).Select(i => i * 7919L % 100_000).ToArray();
        using var first = Set(unsorted, "host");
        using var second = Set(Enumerable.Range(100_000, 70_000).Select(i => (long)i).ToArray(), "extra");
        using var database = DuckDbDatabase.Open(null, [new("threads", "4")]);
        using var connection = database.Connect();
        BufferScan.Register(connection, new Sets(first, second));
        const string Sql = "SELECT count(*), count(DISTINCT time), sum(v)::BIGINT, min(v), max(v), count(host), count(extra) FROM arc_buffer('db', 'm')";
        Assert.Equal(string.Join("|", new[] { "170000", "170000", Sum(0, 170_000), "0", "169999", "100000", "70000" }), string.Join("|", connection.QueryStrings(Sql)[0]));

        // From 60,000 on: 40,000 rows of the first set, found row by row, and the second set's from its first row.
        var scope = new QueryFileScope();
        scope.Bound("db", "m", 60_000, long.MaxValue);
        using (scope.Activate())
        {
            Assert.Equal(string.Join("|", new[] { "110000", "110000", Sum(60_000, 170_000), "60000", "169999", "40000", "70000" }), string.Join("|", connection.QueryStrings(Sql)[0]));
        }

        static string Sum(long from, long to) => ((to - 1 + from) * (to - from) / 2).ToString(CultureInfo.InvariantCulture);
    }

    [Fact]
    public void RowsWithoutAValueTheFilterRequiresAreSkipped()
    {
        using var first = Set([50, 10, 90, 30, 70, 60], "host");
        using var second = Set([20, 40, 60], "extra");
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        BufferScan.Register(connection, new Sets(first, second));
        const string Sql = "SELECT epoch_ns(time) FROM arc_buffer('db', 'm')";

        foreach (var (low, matches, expected) in new (long, ColumnMatch[], string[])[]
                 {
                     (0, [new("host", ["host10", "host70", "nohost"])], ["10", "70"]), // the second buffer has no host: nulls
                     (0, [new("HOST", ["host90"])], ["90"]), // names bind ignoring case, as DuckDB's do
                     (60, [new("host", ["host10", "host70"])], ["70"]),
                     (0, [new("host", ["host10"]), new("host", ["host70"])], []),
                     (0, [new("host", ["Host10"])], []), // values compare byte for byte
                     (0, [new("extra", ["20"])], ["50", "10", "90", "30", "70", "60", "20", "40", "60"]), // not a string column
                     (0, [new("alias", ["x"])], ["50", "10", "90", "30", "70", "60", "20", "40", "60"]), // no such column
                 })
        {
            var scope = new QueryFileScope();
            scope.Bound("db", "m", low, long.MaxValue);
            scope.Match("db", "m", [.. matches]);
            using (scope.Activate())
            {
                Assert.Equal(expected, connection.QueryStrings(Sql).Select(r => r[0]));
            }
        }
    }

    [Fact]
    public void SearchingAColumnsBytesFindsTheRowsThatHoldTheValueAndNoOther()
    {
        // Values that contain, start or end with others, empty values and nulls (no bytes), side by side in the bytes.
        string?[] values = ["host-1", "xhost-1", "host-10", null, "", "host-1", "host-", "1host-1", "host-1", null, "st-1h", "host-11", "", "host-1"];
        using var set = new ColumnSet("db", "m");
        var host = set.AddColumn("host", ColumnKind.Tag);
        for (var row = 0; row < values.Length; row++)
        {
            set.Time.SetInt64(row, row);
            if (values[row] is { } value)
            {
                set.Columns[host].SetBytes(row, Encoding.UTF8.GetBytes(value));
            }

            set.EndRow(row);
        }

        using var shared = set.Share();
        var slice = shared.Columns[host];
        foreach (var wanted in new[] { "host-1", "host-10", "host-11", "", "host-", "1", "st-1h", "host", "zzz", "1host-1", "host-1x" })
        {
            var bytes = Encoding.UTF8.GetBytes(wanted);
            for (var start = 0; start <= values.Length; start++)
            {
                for (var end = start; end <= values.Length; end++)
                {
                    var expected = start;
                    while (expected < end && (values[expected] ?? "") != wanted)
                    {
                        expected++;
                    }

                    Assert.True(expected == slice.IndexOfValue(bytes, start, end), $"'{wanted}' in rows {start}..{end}: expected {expected}");
                }
            }
        }
    }

    [Fact]
    public void RequiredValuesFoundByTheirBytesOrRowByRowEmitExactlyTheRowsThatHoldThem()
    {
        // 100,000 rows out of time order and 70,000 in order, hosts and racks interleaved, some rows without a host: ranges
        // of 32,768 rows go to DuckDB's threads, so searches start and stop inside the parts.
        var unsorted = Enumerable.Range(0, 100_000).Select(i => i * 7919L % 100_000).ToArray();
        using var first = Tagged(unsorted);
        using var second = Tagged(Enumerable.Range(100_000, 70_000).Select(i => (long)i).ToArray());
        using var database = DuckDbDatabase.Open(null, [new("threads", "4")]);
        using var connection = database.Connect();
        BufferScan.Register(connection, new Sets(first, second));
        const string Sql = "SELECT epoch_ns(time) FROM arc_buffer('db', 'm')";

        foreach (var (low, matches) in new (long, ColumnMatch[])[]
                 {
                     (0, [new("host", ["h7"])]), // searched
                     (60_000, [new("host", ["h7"])]), // and from a time, found row by row in the unsorted part
                     (0, [new("host", ["h1", "h17", "h71", "nohost"])]), // four values searched side by side
                     (0, [new("host", ["h1", "h2", "h3", "h4", "h5"])]), // five compared row by row
                     (0, [new("host", [.. Enumerable.Range(0, 40).Select(i => $"h{i * 37 % 101}").Append("h1x")])]), // forty, out of order
                     (0, [new("host", ["h3"]), new("rack", ["r1", "r2"])]), // the second column checked on the rows found
                     (0, [new("host", ["h1x"])]), // a value no row holds
                 })
        {
            var expected = unsorted.Concat(Enumerable.Range(100_000, 70_000).Select(i => (long)i))
                .Where(t => t >= low && Array.TrueForAll(matches, m => Value(m.Column, t) is { } v && m.Values.Contains(v)))
                .Order().ToArray();
            var scope = new QueryFileScope();
            scope.Bound("db", "m", low, long.MaxValue);
            scope.Match("db", "m", [.. matches]);
            using (scope.Activate())
            {
                var emitted = connection.QueryStrings(Sql).Select(r => long.Parse(r[0]!, CultureInfo.InvariantCulture)).Order().ToArray();
                Assert.Equal(expected, emitted);
            }
        }

        static string? Value(string column, long time) => column == "host" ? (time % 13 == 0 ? null : $"h{time % 97}") : $"r{time % 5}";
    }

    /// <summary>A buffer with rows at <paramref name="times"/>: tags host (h0-h96, none on every 13th row) and rack (r0-r4).</summary>
    private static ColumnSet Tagged(long[] times)
    {
        var set = new ColumnSet("db", "m");
        var host = set.AddColumn("host", ColumnKind.Tag);
        var rack = set.AddColumn("rack", ColumnKind.Tag);
        foreach (var (time, row) in times.Select((t, i) => (t, i)))
        {
            set.Time.SetInt64(row, time);
            if (time % 13 != 0)
            {
                set.Columns[host].SetBytes(row, Encoding.UTF8.GetBytes($"h{time % 97}"));
            }

            set.Columns[rack].SetBytes(row, Encoding.UTF8.GetBytes($"r{time % 5}"));
            set.EndRow(time);
        }

        return set;
    }

    private static string Lines(int from, int to)
    {
        var text = new StringBuilder();
        for (var i = from; i < to; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"m,host=h{i % 7} v={i}i,s=\"x{i}\" {T0 + i}\n");
        }

        return text.ToString();
    }

    /// <summary>The query's managed allocation (all threads), the least of three runs.</summary>
    private static async Task<long> LeastAllocatedAsync(ArcEngine engine)
    {
        var least = long.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            Assert.NotEmpty(await EngineData.ScalarAsync(engine, "SELECT max(v) FROM m WHERE host = 'h3' AND time >= '2023-11-14T22:13:20Z'"));
            least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        return least;
    }

    /// <summary>Takes every free array the shared pool holds (sizes up to 16 MB), fills it with garbage and returns it.</summary>
    private static void OverwritePooledArrays()
    {
        var pool = BufferPool.Shared;
        for (var size = 16; size <= 16 << 20; size *= 2)
        {
            var taken = new List<byte[]>();
            while (true)
            {
                var retained = pool.RetainedBytes;
                var array = pool.Rent(size);
                if (pool.RetainedBytes == retained)
                {
                    break; // a new array: the pool has no more of this size
                }

                array.AsSpan().Fill(0xA5);
                taken.Add(array);
            }

            taken.ForEach(pool.Return);
        }
    }

    /// <summary>A buffer with rows at <paramref name="times"/>: v = the time, and a string column named <paramref name="column"/>.</summary>
    private static ColumnSet Set(long[] times, string column)
    {
        var set = new ColumnSet("db", "m");
        var v = set.AddColumn("v", ColumnKind.Integer);
        var other = set.AddColumn(column, column == "host" ? ColumnKind.Tag : ColumnKind.Integer);
        for (var row = 0; row < times.Length; row++)
        {
            set.Time.SetInt64(row, times[row]);
            set.Columns[v].SetInt64(row, times[row]);
            if (column == "host")
            {
                set.Columns[other].SetBytes(row, Encoding.UTF8.GetBytes($"host{times[row]}"));
            }
            else
            {
                set.Columns[other].SetInt64(row, times[row]);
            }

            set.EndRow(times[row]);
        }

        return set;
    }

    /// <summary>The buffers of one measurement as the ingest engine gives them to a query, without the rest of the engine.</summary>
    private sealed class Sets(params ColumnSet[] sets) : IBufferSnapshotSource
    {
        public BufferSnapshot? Snapshot(string database, string measurement, long from)
        {
            var snapshot = new BufferSnapshot();
            foreach (var set in sets)
            {
                snapshot.Add(set);
            }

            return snapshot;
        }

        public bool Holds(string database, string measurement, long from, long to, IReadOnlySet<string> filed) => sets.Any(set => set.RowCount > 0);
    }
}

using System.Globalization;
using Arc.Engine.Compaction;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.Tests;

/// <summary>
/// The streamed merge of sorted files gives exactly what DuckDB's merge gives for the same inputs (the last write of a
/// point kept, rows in the same order), and gives up, writing nothing, on inputs that are not what it needs.
/// </summary>
public sealed class SortedMergeTests : IDisposable
{
    private static readonly string[] Tags = ["region", "host"];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "arc-sorted-merge-" + Guid.NewGuid().ToString("N"));
    private readonly DuckDbDatabase _database = DuckDbDatabase.Open(null, []);
    private readonly DuckDbConnection _connection;

    public SortedMergeTests()
    {
        Directory.CreateDirectory(_root);
        _connection = _database.Connect();
    }

    public void Dispose()
    {
        _connection.Dispose();
        _database.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void TheMergeEqualsDuckDbsLastWriteWinsMergeRowForRowAndInOrder()
    {
        // Two inputs of 70,000 rows (several read batches each, the output over one row group), sorted by region (nulls
        // last), host (multi-byte, prefixes of one another), time; a third rewrites every tenth point of the first with
        // other values, so the last write must win. Every field type arc-native writes, with nulls.
        var inputs = new List<string>();
        for (var input = 0; input < 3; input++)
        {
            var seq = $"i + {input * 1_000_000}";
            var range = input == 2 ? "range(0, 70000, 10)" : $"range({input * 70_000}, {(input + 1) * 70_000})";
            inputs.Add(Write($"input{input}", $"""
                SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE 'r' || (i % 3) END AS region,
                       'hôst-' || (i % 5) || repeat('x', (i % 4)::INT) AS host,
                       make_timestamp_ns(1700000000000000000 + (i // 20) * 1000000000) AS time,
                       CASE WHEN i % 11 = 0 THEN NULL ELSE ({seq}) / 3.0 END AS usage,
                       (({seq}) % 1000) / 10.0 AS gauge,
                       ({seq})::BIGINT AS seq,
                       (18446744073709551615 - ({seq}))::UBIGINT AS big,
                       CASE WHEN i % 13 = 0 THEN NULL ELSE 'v' || ({seq}) END AS note,
                       CASE WHEN i % 17 = 0 THEN NULL ELSE ({seq}) % 2 = 0 END AS flag
                FROM (SELECT unnest({range}) AS i)
                """));
        }

        var output = Path.Combine(_root, "merged.parquet");
        using var writer = new ParquetFileWriter("zstd", 122_880, floatDictionaries: true);
        var rows = SortedMerge.Run(inputs, Tags, [output], long.MaxValue, Metadata(), writer, 122_880, CancellationToken.None);

        const string Row = "concat_ws('|', region, host, time, usage, gauge, seq, big, note, flag)";
        var list = "[" + string.Join(", ", inputs.Select(Names.QuoteLiteral)) + "]";
        var expected = Scalar($"""
            SELECT count(*) || ' ' || md5(string_agg({Row}, ',' ORDER BY region NULLS LAST, host, time))
            FROM (SELECT * FROM read_parquet({list}, filename = true) QUALIFY row_number() OVER (PARTITION BY region, host, time ORDER BY list_position({list}, filename) DESC) = 1)
            """);
        var actual = Scalar($"SELECT count(*) || ' ' || md5(string_agg({Row}, ',' ORDER BY file_row_number)) FROM read_parquet('{output}', file_row_number = true)");
        Assert.Equal(expected, actual);
        Assert.Equal([140_000L], rows); // the third input's 7,000 points all rewrite the first's
        Assert.Equal("122880,17120", Scalar($"SELECT string_agg(num_rows::VARCHAR, ',' ORDER BY row_group_id) FROM (SELECT DISTINCT row_group_id, row_group_num_rows AS num_rows FROM parquet_metadata('{output}'))"));
        Assert.Equal("""arc_sorted=["region","host"] arc_tags=["region","host"] arc_unique=true""",
            Scalar($"SELECT string_agg(decode(key) || '=' || decode(value), ' ' ORDER BY decode(key)) FROM parquet_kv_metadata('{output}') WHERE decode(key) LIKE 'arc_%'"));
        // Times as deltas (sorted times of a series differ by little), not a dictionary of mostly distinct values.
        Assert.Equal("RLE, DELTA_BINARY_PACKED", Scalar($"SELECT DISTINCT encodings FROM parquet_metadata('{output}') WHERE path_in_schema = 'time'"));
        // Floats take a dictionary per chunk while it stays within 32 KB: the gauge's 1,000 values keep theirs; the usage's
        // distinct values stop at the cap and go on plain (with the writer's default 1 MB the first row group's dictionary
        // would hold all 122,880 of them).
        Assert.Equal("gauge:2 usage:2", Scalar($"SELECT string_agg(c, ' ' ORDER BY c) FROM (SELECT path_in_schema || ':' || count(*) AS c FROM parquet_metadata('{output}') WHERE path_in_schema IN ('gauge', 'usage') AND dictionary_page_offset IS NOT NULL GROUP BY path_in_schema)"));
        Assert.True(long.Parse(Scalar($"SELECT max(data_page_offset - dictionary_page_offset) FROM parquet_metadata('{output}') WHERE path_in_schema = 'usage'"), CultureInfo.InvariantCulture)
            <= ParquetFileWriter.MergedDictionaryPageLimit + 1024);
        Assert.Equal("time:TIMESTAMP_NS usage:DOUBLE gauge:DOUBLE seq:BIGINT big:UBIGINT note:VARCHAR flag:BOOLEAN",
            Scalar($"SELECT string_agg(column_name || ':' || column_type, ' ') FROM (DESCRIBE SELECT * EXCLUDE (region, host) FROM '{output}')"));
    }

    [Fact]
    public void OutputsOfSeriesRangesTakeTheMergedRowsInTurn()
    {
        var inputs = Enumerable.Range(0, 3).Select(input => Write($"input{input}", $"""
            SELECT 'r' || (i % 3) AS region, 'host-' || lpad((i % 50)::VARCHAR, 3, '0') AS host,
                   make_timestamp_ns(1700000000000000000 + ((i // 150) * 3 + {input}) * 1000000000) AS time, (i + {input})::BIGINT AS seq
            FROM range(40000) t(i)
            """)).ToList();
        var whole = Path.Combine(_root, "whole.parquet");
        var pieces = Enumerable.Range(0, 4).Select(i => Path.Combine(_root, $"piece{i}.parquet")).ToList();
        using var writer = new ParquetFileWriter("zstd", 20_000);
        Assert.Equal([120_000L], SortedMerge.Run(inputs, Tags, [whole], long.MaxValue, Metadata(), writer, 20_000, CancellationToken.None));

        // Two row groups a piece: 40,000, 40,000 and the last 40,000; the fourth output is never reached, so not written.
        Assert.Equal([40_000L, 40_000L, 40_000L], SortedMerge.Run(inputs, Tags, pieces, 40_000, Metadata(), writer, 20_000, CancellationToken.None));
        Assert.False(File.Exists(pieces[3]));
        const string Row = "concat_ws('|', region, host, time, seq)";
        var list = "[" + string.Join(", ", pieces.Take(3).Select(Names.QuoteLiteral)) + "]";
        Assert.Equal(
            Scalar($"SELECT md5(string_agg({Row}, ',' ORDER BY file_row_number)) FROM read_parquet('{whole}', file_row_number = true)"),
            Scalar($"SELECT md5(string_agg({Row}, ',' ORDER BY list_position({list}, filename), file_row_number)) FROM read_parquet({list}, filename = true, file_row_number = true)"));
        // Each piece is a range of series, the next starting where the one before ended (a series may go on into it).
        var bounds = Scalar($"""
            SELECT string_agg(lo || '>' || hi, ' ' ORDER BY f) FROM (
                SELECT list_position({list}, filename) AS f, min(region || '/' || host) AS lo, max(region || '/' || host) AS hi
                FROM read_parquet({list}, filename = true) GROUP BY ALL)
            """).Split(' ').Select(b => b.Split('>')).ToList();
        Assert.Equal(3, bounds.Count);
        for (var i = 0; i < bounds.Count; i++)
        {
            Assert.True(string.CompareOrdinal(bounds[i][0], bounds[i][1]) < 0);
            Assert.True(i == 0 || string.CompareOrdinal(bounds[i - 1][1], bounds[i][0]) <= 0, string.Join(' ', bounds.Select(b => string.Join('>', b))));
        }
    }

    [Fact]
    public void InputsOutOfOrderOrWithOtherColumnsAreLeftToDuckDbWithNothingWritten()
    {
        var sorted = Write("sorted", "SELECT 'a' AS region, 'h' || i AS host, make_timestamp_ns(i) AS time, i AS seq FROM range(50000) t(i)");
        // In order until its last row, which goes back: found only at the end of the input, after rows were written.
        var late = Write("late", """
            SELECT CASE WHEN i < 50000 THEN 'b' ELSE 'a' END AS region, 'h' || lpad(i::VARCHAR, 6, '0') AS host, make_timestamp_ns(i) AS time, i AS seq
            FROM range(50001) t(i) ORDER BY i
            """, ordered: false);
        var wider = Write("wider", "SELECT 'c' AS region, 'h' || i AS host, make_timestamp_ns(i) AS time, i AS seq, 1.5 AS extra FROM range(10) t(i)");
        var duplicate = Write("duplicate", "SELECT 'd' AS region, 'h' AS host, make_timestamp_ns(1) AS time, i AS seq FROM range(2) t(i)");
        using var writer = new ParquetFileWriter("zstd", 122_880);
        foreach (var pair in new[] { late, wider, duplicate })
        {
            var outputs = new[] { Path.Combine(_root, "out.parquet"), Path.Combine(_root, "out2.parquet") };
            Assert.Null(SortedMerge.Run([sorted, pair], Tags, outputs, 40_000, Metadata(), writer, 20_000, CancellationToken.None));
            Assert.All(outputs, o => Assert.False(File.Exists(o)));
        }
    }

    private static Dictionary<string, string> Metadata() => new()
    {
        ["arc_tags"] = """["region","host"]""",
        ["arc_unique"] = "true",
        ["arc_sorted"] = """["region","host"]""",
    };

    private string Write(string name, string select, bool ordered = true)
    {
        var path = Path.Combine(_root, name + ".parquet");
        _connection.Execute($"COPY ({select}{(ordered ? " ORDER BY region, host, time" : "")}) TO '{path}' (FORMAT parquet)");
        return path;
    }

    private string Scalar(string sql) => _connection.QueryStrings(sql)[0][0]!;
}

using System.Text;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.Tests;

public sealed class ParquetFlusherTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-flush-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void UnsortedRowsAreWrittenInTimeOrderKeepingArrivalOrderForEqualTimes()
    {
        using var data = new ColumnSet("db", "m");
        var seq = data.AddColumn("seq", ColumnKind.Integer);
        long[] times = [30, 10, 20, 10, 30, 10];
        for (var i = 0; i < times.Length; i++)
        {
            data.Time.SetInt64(i, times[i]);
            data.Columns[seq].SetInt64(i, i);
            data.EndRow(times[i]);
        }

        Assert.False(data.IsSortedByTime);
        var file = Assert.Single(Write(data, "zstd"));
        Assert.Equal(["10,1", "10,3", "10,5", "20,2", "30,0", "30,4"],
            Query($"SELECT epoch_ns(time) || ',' || seq FROM '{file}'").Select(r => r[0]));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void RowsWithTagsAreWrittenBySeriesInEachHourAndTheFileSaysSo(bool bySeries, bool duplicate)
    {
        // Two tags (values that prefix one another, an empty one, nulls; 3,000 distinct hosts, so the value table grows),
        // rows over two hours in random order: each hour's file holds its rows by region, host (bytes, nulls last), time,
        // then arrival; a point written twice keeps both rows in arrival order, and the flush's files no longer say they are
        // unique.
        const long Hour = LocalStore.NanosPerHour;
        var random = new Random(7);
        string?[] regions = ["eu", "eu-west", "", null, "us"];
        var rows = new List<(string? Region, string? Host, long Time, int Seq)>();
        for (var i = 0; i < 6_000; i++)
        {
            var host = random.Next(10) == 0 ? null : random.Next(4) == 0 ? $"h{random.Next(3_000)}" : $"h{random.Next(3)}";
            rows.Add((regions[random.Next(regions.Length)], host, (random.Next(2) * Hour) + (random.Next(100_000) * 10_000L) + i, i)); // distinct times
        }

        if (duplicate)
        {
            rows.Add(rows[17] with { Seq = rows.Count });
        }

        using var data = new ColumnSet("db", "m");
        var (region, hostColumn, seq) = (data.AddColumn("region", ColumnKind.Tag), data.AddColumn("host", ColumnKind.Tag), data.AddColumn("seq", ColumnKind.Integer));
        foreach (var row in rows)
        {
            data.Time.SetInt64(row.Seq, row.Time);
            if (row.Region is not null)
            {
                data.Columns[region].SetBytes(row.Seq, Encoding.ASCII.GetBytes(row.Region));
            }

            if (row.Host is not null)
            {
                data.Columns[hostColumn].SetBytes(row.Seq, Encoding.ASCII.GetBytes(row.Host));
            }

            data.Columns[seq].SetInt64(row.Seq, row.Seq);
            data.EndRow(row.Time);
        }

        var files = Write(data, "zstd", bySeries);
        Assert.Equal(2, files.Count);
        foreach (var file in files)
        {
            var hour = Query($"SELECT min(epoch_ns(time)) // {Hour} FROM '{file}'")[0][0];
            var inHour = rows.Where(r => (r.Time / Hour).ToString(System.Globalization.CultureInfo.InvariantCulture) == hour);
            var expected = bySeries
                ? inHour.OrderBy(r => r.Region is null).ThenBy(r => r.Region, StringComparer.Ordinal).ThenBy(r => r.Host is null)
                    .ThenBy(r => r.Host, StringComparer.Ordinal).ThenBy(r => r.Time).ThenBy(r => r.Seq)
                : inHour.OrderBy(r => r.Time).ThenBy(r => r.Seq);
            Assert.Equal(expected.Select(r => r.Seq.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                Query($"SELECT seq FROM read_parquet('{file}', file_row_number = true) ORDER BY file_row_number").Select(r => r[0]));
            var metadata = Query($"SELECT string_agg(decode(key) || '=' || decode(value), ' ' ORDER BY decode(key)) FROM parquet_kv_metadata('{file}') WHERE decode(key) LIKE 'arc%'")[0][0];
            var unique = bySeries && !duplicate; // said of the flush's files together
            Assert.Equal($"arc_flushed=true{(bySeries ? " arc_sorted=[\"region\",\"host\"]" : "")} arc_tags=[\"region\",\"host\"]{(unique ? " arc_unique=true" : "")}", metadata);
        }
    }

    [Fact]
    public void RowsWhoseTagRanksDoNotFitSideBySideAreWrittenByTheirWholeSeries()
    {
        // Five tag columns of 2,000 distinct values each (and a null): 5 × 11 bits of ranks and 11 of row numbers exceed a
        // 63-bit key, so the flush ranks whole series instead, and still writes them in series order.
        const int Rows = 2_000;
        using var data = new ColumnSet("db", "m");
        var tags = Enumerable.Range(0, 5).Select(t => data.AddColumn($"t{t}", ColumnKind.Tag)).ToArray();
        var seq = data.AddColumn("seq", ColumnKind.Integer);
        int[] steps = [13, 17, 19, 23, 29];
        var rows = new List<(string?[] Tags, long Time, int Seq)>();
        for (var i = 0; i < Rows; i++)
        {
            var time = 1_700_000_000_000_000_000L + (((i * 7) % Rows) * 1_000L); // distinct, not in arrival order
            var values = steps.Select((step, t) => t == 2 && i % 97 == 0 ? null : $"v{(i * step) % Rows}").ToArray();
            data.Time.SetInt64(i, time);
            for (var t = 0; t < tags.Length; t++)
            {
                if (values[t] is { } value)
                {
                    data.Columns[tags[t]].SetBytes(i, Encoding.ASCII.GetBytes(value));
                }
            }

            data.Columns[seq].SetInt64(i, i);
            data.EndRow(time);
            rows.Add((values, time, i));
        }

        var file = Assert.Single(Write(data, "zstd"));
        IOrderedEnumerable<(string?[] Tags, long Time, int Seq)> expected = rows.OrderBy(_ => 0);
        for (var t = 0; t < tags.Length; t++)
        {
            var column = t;
            expected = expected.ThenBy(r => r.Tags[column] is null).ThenBy(r => r.Tags[column], StringComparer.Ordinal);
        }

        Assert.Equal(expected.ThenBy(r => r.Time).Select(r => r.Seq.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            Query($"SELECT seq FROM read_parquet('{file}', file_row_number = true) ORDER BY file_row_number").Select(r => r[0]));
        Assert.Equal("arc_flushed arc_sorted arc_tags arc_unique", ArcMetadataKeys(file));
    }

    [Fact]
    public void RowsWhoseWholeSeriesDoNotFitEitherAreWrittenInTimeOrder()
    {
        // 2,100,000 rows (22 bits) whose two tags never repeat a value (22 bits each): even one tag's rank beside the first's
        // and the row number exceed 63 bits, so the flush keeps time order and does not say it is sorted by series.
        const int Rows = 2_100_000;
        using var data = new ColumnSet("db", "m");
        var (a, b) = (data.AddColumn("a", ColumnKind.Tag), data.AddColumn("b", ColumnKind.Tag));
        for (var i = 0; i < Rows; i++)
        {
            var time = 1_700_000_000_000_000_000L + (((i * 11L) % Rows) * 1_000L); // not in arrival order
            data.Time.SetInt64(i, time);
            data.Columns[a].SetBytes(i, Encoding.ASCII.GetBytes($"a{i}"));
            data.Columns[b].SetBytes(i, Encoding.ASCII.GetBytes($"b{Rows - i}"));
            data.EndRow(time);
        }

        var file = Assert.Single(Write(data, "zstd"));
        Assert.Equal("true", Query($"SELECT bool_and(t >= lag) FROM (SELECT time AS t, lag(time, 1, time) OVER (ORDER BY file_row_number) AS lag FROM read_parquet('{file}', file_row_number = true))")[0][0]);
        Assert.Equal("arc_flushed arc_tags", ArcMetadataKeys(file));
    }

    [Theory]
    [InlineData("zstd", "ZSTD")]
    [InlineData("snappy", "SNAPPY")]
    [InlineData("gzip", "GZIP")]
    [InlineData("lz4", "LZ4")]
    [InlineData("brotli", "BROTLI")]
    [InlineData("uncompressed", "UNCOMPRESSED")]
    public void EveryCodecIsReadableByDuckDb(string codec, string expected)
    {
        using var data = new ColumnSet("db", "m");
        var host = data.AddColumn("host", ColumnKind.Tag);
        var v = data.AddColumn("v", ColumnKind.Float);
        for (var i = 0; i < 1000; i++)
        {
            data.Time.SetInt64(i, 1_700_000_000_000_000_000L + i);
            data.Columns[host].SetBytes(i, Encoding.ASCII.GetBytes($"h{i % 10}"));
            data.Columns[v].SetDouble(i, i / 4.0);
            data.EndRow(1_700_000_000_000_000_000L + i);
        }

        var file = Assert.Single(Write(data, codec));
        Assert.Equal([["1000", "124875", "10"]], Query($"SELECT count(*), sum(v)::BIGINT, count(DISTINCT host) FROM '{file}'"));
        Assert.StartsWith(expected, Query($"SELECT DISTINCT compression FROM parquet_metadata('{file}')").Single()[0], StringComparison.Ordinal);
    }

    [Fact]
    public void ColumnsWithoutNullsAreWrittenRequiredAndReadBackWithFilesThatHaveNulls()
    {
        // One flush where every column is full, one where the same columns have nulls (and one column exists only there).
        var full = Assert.Single(Write(Rows(0, 1000, nulls: false), "zstd"));
        var sparse = Assert.Single(Write(Rows(1000, 1000, nulls: true), "zstd"));
        Assert.Equal("host:REQUIRED n:REQUIRED ok:REQUIRED time:REQUIRED v:REQUIRED",
            Query($"SELECT string_agg(name || ':' || repetition_type, ' ' ORDER BY name) FROM parquet_schema('{full}') WHERE num_children IS NULL")[0][0]);
        Assert.Equal("extra:OPTIONAL host:OPTIONAL n:OPTIONAL ok:OPTIONAL time:REQUIRED v:OPTIONAL",
            Query($"SELECT string_agg(name || ':' || repetition_type, ' ' ORDER BY name) FROM parquet_schema('{sparse}') WHERE num_children IS NULL")[0][0]);

        // Read as the views read them: the first file's columns (no union by name; the other file has them all), and by name.
        const string Counts = "count(*), count(host), count(v), count(n), count(ok) FILTER (WHERE ok), sum(v)::BIGINT";
        Assert.Equal([["2000", "1667", "1667", "1667", "833", "374875"]], Query($"SELECT {Counts} FROM read_parquet(['{full}', '{sparse}'])"));
        Assert.Equal([["2000", "1667", "1667", "1667", "833", "374875", "500"]],
            Query($"SELECT {Counts}, count(extra) FROM read_parquet(['{full}', '{sparse}'], union_by_name = true)"));

        static ColumnSet Rows(int first, int count, bool nulls)
        {
            var data = new ColumnSet("db", "m");
            var host = data.AddColumn("host", ColumnKind.Tag);
            var v = data.AddColumn("v", ColumnKind.Float);
            var n = data.AddColumn("n", ColumnKind.Integer);
            var ok = data.AddColumn("ok", ColumnKind.Boolean);
            var extra = nulls ? data.AddColumn("extra", ColumnKind.String) : -1;
            for (var i = first; i < first + count; i++)
            {
                var time = 1_700_000_000_000_000_000L + i;
                data.Time.SetInt64(i - first, time);
                var skip = nulls && i % 3 == 0;
                if (!skip)
                {
                    data.Columns[host].SetBytes(i - first, Encoding.ASCII.GetBytes($"h{i % 10}"));
                    data.Columns[v].SetDouble(i - first, i / 4.0);
                    data.Columns[n].SetInt64(i - first, i);
                    data.Columns[ok].SetBoolean(i - first, i % 2 == 0);
                }

                if (extra >= 0 && i % 2 == 0)
                {
                    data.Columns[extra].SetBytes(i - first, "x"u8);
                }

                data.EndRow(time);
            }

            return data;
        }
    }

    [Fact]
    public void UnsortedRowsOverSeveralHoursGoToTheirHours()
    {
        using var data = new ColumnSet("db", "m");
        const long Hour = LocalStore.NanosPerHour;
        long[] times = [(3 * Hour) + 5, -1, 5, (3 * Hour) + 1, Hour - 1, 2 * Hour];
        foreach (var (time, row) in times.Select((t, i) => (t, i)))
        {
            data.Time.SetInt64(row, time);
            data.EndRow(time);
        }

        var files = Write(data, "zstd");
        var byHour = files.ToDictionary(f => Path.GetRelativePath(_directory, Path.GetDirectoryName(f)!),
            f => Query($"SELECT epoch_ns(time) FROM '{f}'").Select(r => long.Parse(r[0]!, System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        Assert.Equal(4, byHour.Count);
        Assert.Equal([-1L], byHour[Path.Combine("db", "m", "1969", "12", "31", "23")]);
        Assert.Equal([5L, Hour - 1], byHour[Path.Combine("db", "m", "1970", "01", "01", "00")]);
        Assert.Equal([2 * Hour], byHour[Path.Combine("db", "m", "1970", "01", "01", "02")]);
        Assert.Equal([(3 * Hour) + 1, (3 * Hour) + 5], byHour[Path.Combine("db", "m", "1970", "01", "01", "03")]);
        Assert.Empty(Directory.GetFiles(Path.Combine(_directory, ".tmp")));
    }

    private List<string> Write(ColumnSet data, string codec, bool bySeries = true)
    {
        using var flusher = new ParquetFlusher(new LocalStore(_directory), codec, 122_880, _ => bySeries);
        return flusher.Write(data);
    }

    /// <summary>The arc-native key-value metadata keys of <paramref name="file"/>, in order, space-separated.</summary>
    private static string? ArcMetadataKeys(string file) =>
        Query($"SELECT string_agg(decode(key), ' ' ORDER BY decode(key)) FROM parquet_kv_metadata('{file}') WHERE decode(key) LIKE 'arc%'")[0][0];

    private static List<string?[]> Query(string sql)
    {
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        return connection.QueryStrings(sql);
    }
}

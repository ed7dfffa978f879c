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

    private List<string> Write(ColumnSet data, string codec)
    {
        using var flusher = new ParquetFlusher(new LocalStore(_directory), codec, 122_880);
        return flusher.Write(data);
    }

    private static List<string?[]> Query(string sql)
    {
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        return connection.QueryStrings(sql);
    }
}

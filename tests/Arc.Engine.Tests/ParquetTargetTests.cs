using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Export;
using Arc.Engine.Export.Targets;
using Arc.Engine.Query;

namespace Arc.Engine.Tests;

/// <summary>
/// The Parquet export target names a file by the job and the batch's first row, so a batch sent again after a crash
/// (the same first row, possibly fewer rows when data arrived in between) replaces its file instead of doubling rows.
/// </summary>
public sealed class ParquetTargetTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("arc-parquet-target-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task ABatchSentAgainReplacesItsFile()
    {
        var schema = new ExportSchema("db", "m", [new ExportColumn("host", ColumnKind.Tag), new ExportColumn("v", ColumnKind.Float),
            new ExportColumn("n", ColumnKind.Integer), new ExportColumn("u", ColumnKind.UInteger), new ExportColumn("ok", ColumnKind.Boolean),
            new ExportColumn("s", ColumnKind.String)]);
        var connection = new StorageConnectionSpec { Name = "local", Type = "local", Path = _directory };
        await using var target = new ParquetTarget(connection, "job1", "m", TimeSpan.FromSeconds(10));

        await target.WriteAsync(Batch(schema, 0, 10), CancellationToken.None);
        await target.WriteAsync(Batch(schema, 0, 10), CancellationToken.None);
        Assert.Equal(10, Count());
        await target.WriteAsync(Batch(schema, 0, 6), CancellationToken.None); // resent after a crash, shorter
        Assert.Equal(6, Count());
        Assert.Single(Files());
        await target.WriteAsync(Batch(schema, 6, 4), CancellationToken.None); // the next batch: a file of its own
        Assert.Equal(2, Files().Length);
        Assert.Equal(10, Count());
        Assert.Equal(["0|h0|0.5|-3|18446744073709551615|true|s0", "1|h1|1|-2|18446744073709551615|false|null", "9|h1|5|6|18446744073709551615|false|s9"],
            Read("SELECT epoch_ns(time), host, v, n, u, ok, s FROM read_parquet('{0}') WHERE epoch_ns(time) IN (0, 1, 9) ORDER BY 1")
                .Select(r => string.Join('|', r.Select(v => v ?? "null"))));
    }

    private string[] Files() => Directory.GetFiles(_directory, "*", SearchOption.AllDirectories);

    private long Count() => long.Parse(Read("SELECT count(*) FROM read_parquet('{0}')")[0][0]!, System.Globalization.CultureInfo.InvariantCulture);

    private List<string?[]> Read(string sql)
    {
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        return connection.QueryStrings(string.Format(System.Globalization.CultureInfo.InvariantCulture, sql,
            Path.Combine(_directory, "db", "m", "*", "*", "*", "*", "*.parquet")));
    }

    /// <summary>Rows <paramref name="start"/>.. at times 0, 1, 2, … ns (1970-01-01T00), one value of each type.</summary>
    private static ExportBatch Batch(ExportSchema schema, int start, int count)
    {
        var rows = Enumerable.Range(start, count).Select(i => new ExportRow(i,
            ["h" + (i % 2), i * 0.5 + 0.5, i - 3L, ulong.MaxValue, i % 2 == 0, i % 3 == 0 ? "s" + i : null])).ToList();
        return new ExportBatch(schema, rows, rows[^1].Time, "k" + (start + count - 1), "k" + start);
    }
}

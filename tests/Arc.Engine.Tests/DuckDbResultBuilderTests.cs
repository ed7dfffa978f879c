using System.Globalization;
using Apache.Arrow.Types;
using Arc.Engine.DuckDb;
using DuckDB.NET.Native;

namespace Arc.Engine.Tests;

public sealed class DuckDbResultBuilderTests
{
    private static string? Text(int row) => row % 11 == 0 ? null : row % 5 == 0 ? new string('é', 200) + row : "ü-" + row;

    [Fact]
    public void RowsSpanSeveralChunksWithNullsAndLongStringsAndReadBackAsDuckDbChunks()
    {
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        const int Rows = 5000;
        var builder = new DuckDbResultBuilder(("s", DuckDBType.Varchar), ("n", DuckDBType.BigInt), ("d", DuckDBType.Double));
        for (var row = 0; row < Rows; row++)
        {
            builder.AddRow();
            builder.Set(0, Text(row));
            if (row % 7 != 0)
            {
                builder.Set(1, (long)row - 2500);
            }

            builder.Set(2, row / 4.0);
        }

        Assert.Equal(Rows, builder.RowCount);
        using var result = builder.Build(connection);
        Assert.Equal(3, result.ColumnCount);
        Assert.Equal(["s", "n", "d"], Enumerable.Range(0, 3).Select(result.GetColumnName));
        Assert.Equal([DuckDBType.Varchar, DuckDBType.BigInt, DuckDBType.Double], Enumerable.Range(0, 3).Select(result.GetColumnTypeId));

        var sizes = new List<int>();
        var read = 0;
        while (result.FetchChunk() is { } chunk)
        {
            using (chunk)
            {
                var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
                sizes.Add(size);
                for (var i = 0; i < size; i++, read++)
                {
                    Assert.Equal(Text(read), VectorText.Format(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, 0), DuckDBType.Varchar, i));
                    Assert.Equal(read % 7 == 0 ? null : (read - 2500).ToString(CultureInfo.InvariantCulture),
                        VectorText.Format(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, 1), DuckDBType.BigInt, i));
                    Assert.Equal((read / 4.0).ToString(CultureInfo.InvariantCulture),
                        VectorText.Format(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, 2), DuckDBType.Double, i));
                }
            }
        }

        Assert.Equal(Rows, read);
        var vector = (int)NativeMethods.Helpers.DuckDBVectorSize();
        Assert.Equal([vector, vector, Rows - (2 * vector)], sizes);
        Assert.Null(result.FetchChunk());
    }

    [Fact]
    public void ArrowSchemaComesFromTheConnectionsOptions()
    {
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        using var builder = new DuckDbResultBuilder(("s", DuckDBType.Varchar), ("n", DuckDBType.BigInt), ("d", DuckDBType.Double));
        using var result = builder.Build(connection);
        using var options = result.ArrowOptions();
        var schema = result.ArrowSchema(options, out var error);
        Assert.Null(error);
        Assert.Equal([ArrowTypeId.String, ArrowTypeId.Int64, ArrowTypeId.Double], schema!.FieldsList.Select(f => f.DataType.TypeId));
        Assert.Null(result.FetchChunk());
    }

    [Fact]
    public void MisuseIsRefusedAndAnUnbuiltBuilderIsDisposedWithItsChunks()
    {
        Assert.Throws<ArgumentException>(() => new DuckDbResultBuilder(("t", DuckDBType.Timestamp)));
        using var builder = new DuckDbResultBuilder(("s", DuckDBType.Varchar), ("n", DuckDBType.BigInt));
        Assert.Throws<InvalidOperationException>(() => builder.Set(0, "before any row"));
        for (var row = 0; row < 3000; row++)
        {
            builder.AddRow();
            builder.Set(1, row);
        }

        Assert.Throws<InvalidOperationException>(() => builder.Set(1, "text in a BIGINT column"));
        Assert.Throws<InvalidOperationException>(() => builder.Set(0, 1.5));
    }
}

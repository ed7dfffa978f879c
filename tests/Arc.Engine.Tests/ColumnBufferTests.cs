using System.Text;
using Apache.Arrow;
using Arc.Engine.Buffers;

namespace Arc.Engine.Tests;

public sealed class ColumnBufferTests
{
    [Fact]
    public void FixedWidthValuesNullsAndLastRowOverwrite()
    {
        using var column = new ColumnBuffer("v", ColumnKind.Integer, 1);
        column.SetInt64(0, 10);
        column.SetInt64(2, 30); // row 1 becomes null
        column.SetInt64(2, 31); // the same row again: last value wins
        column.PadTo(200);      // grows past the initial capacity
        column.SetInt64(200, -5);
        Assert.Equal(201, column.Length);
        Assert.Equal(198, column.NullCount);
        Assert.Equal(10, column.GetInt64(0));
        Assert.False(column.IsValid(1));
        Assert.Equal(31, column.GetInt64(2));
        Assert.Equal(-5, column.GetInt64(200));

        var array = (Int64Array)column.ToArrow();
        Assert.Equal(201, array.Length);
        Assert.Equal(198, array.NullCount);
        Assert.Equal(31, array.GetValue(2));
        Assert.Null(array.GetValue(1));
    }

    [Fact]
    public void StringsBooleansAndOverwrite()
    {
        using var strings = new ColumnBuffer("s", ColumnKind.String);
        strings.SetBytes(0, "héllo"u8);
        strings.SetBytes(1, "first"u8);
        strings.SetBytes(1, "second"u8);
        strings.PadTo(3);
        strings.SetBytes(3, ""u8);
        var array = (StringArray)strings.ToArrow();
        Assert.Equal(["héllo", "second", null, ""], Enumerable.Range(0, 4).Select(i => array.GetString(i)));

        using var booleans = new ColumnBuffer("b", ColumnKind.Boolean);
        for (var i = 0; i < 20; i++)
        {
            if (i % 3 != 0)
            {
                booleans.SetBoolean(i, i % 2 == 0);
            }
        }

        var bits = (BooleanArray)booleans.ToArrow();
        Assert.Equal(20, bits.Length);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(i % 3 == 0 ? null : i % 2 == 0, bits.GetValue(i));
        }
    }

    [Fact]
    public void AppendFromCopiesValuesValidityAndStringOffsets()
    {
        using var target = new ColumnBuffer("t", ColumnKind.Tag);
        using var source = new ColumnBuffer("t", ColumnKind.Tag);
        target.SetBytes(0, "a"u8);
        target.PadTo(3);
        source.SetBytes(0, "bb"u8);
        source.PadTo(2);
        source.SetBytes(2, "ccc"u8);
        target.AppendFrom(source);
        Assert.Equal(6, target.Length);
        Assert.Equal(3, target.NullCount);
        var array = (StringArray)target.ToArrow();
        Assert.Equal(["a", null, null, "bb", null, "ccc"], Enumerable.Range(0, 6).Select(i => array.GetString(i)));
    }

    [Fact]
    public void ColumnSetPadsMissingColumnsAndMergesSets()
    {
        using var a = new ColumnSet("db", "m");
        var host = a.AddColumn("host", ColumnKind.Tag);
        a.Time.SetInt64(0, 5);
        a.Columns[host].SetBytes(0, "x"u8);
        a.EndRow(5);
        var v = a.AddColumn("v", ColumnKind.Float);
        a.Time.SetInt64(1, 2);
        a.Columns[v].SetDouble(1, 1.5);
        a.EndRow(2);

        using var b = new ColumnSet("db", "m");
        var w = b.AddColumn("w", ColumnKind.Boolean);
        b.Time.SetInt64(0, 9);
        b.Columns[w].SetBoolean(0, true);
        b.EndRow(9);

        a.AppendFrom(b);
        Assert.Equal(3, a.RowCount);
        Assert.Equal(2, a.MinTime);
        Assert.Equal(9, a.MaxTime);
        Assert.All(a.Columns, c => Assert.Equal(3, c.Length));
        var batch = a.ToRecordBatch();
        Assert.Equal(["time", "host", "v", "w"], batch.Schema.FieldsList.Select(f => f.Name));
        Assert.Equal(2, ((StringArray)batch.Column(1)).NullCount);
        Assert.Equal(1.5, ((DoubleArray)batch.Column(2)).GetValue(1));
        Assert.True(((BooleanArray)batch.Column(3)).GetValue(2));
        Assert.Equal(["host"], a.TagNames());
    }

    [Fact]
    public void ResolveUsesTheShapeOfThePreviousLine()
    {
        using var set = new ColumnSet("db", "m");
        var a = set.AddColumn("a", ColumnKind.Float, slot: 0);
        var b = set.AddColumn("b", ColumnKind.Float, slot: 1);
        Assert.Equal(a, set.Resolve(0, "a"u8));
        Assert.Equal(b, set.Resolve(1, "b"u8));
        Assert.Equal(a, set.Resolve(1, "a"u8)); // shape changed: found by name
        Assert.Equal(-1, set.Resolve(2, Encoding.UTF8.GetBytes("c")));
    }
}

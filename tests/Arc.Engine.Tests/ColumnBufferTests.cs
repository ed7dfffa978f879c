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
    [Theory]
    [InlineData(0, 1000, false)]
    [InlineData(3, 1000, false)]
    [InlineData(5, 77, true)]
    [InlineData(8, 64, true)]
    [InlineData(13, 1000, true)]
    public void AppendFromKeepsValuesAndNullsAtEveryBitPosition(int before, int rows, bool allValid)
    {
        // Appends land at every bit offset of the validity bitmaps: byte-aligned, not, with and without nulls in the source.
        using var target = Column(ColumnKind.Integer, before, seed: 1, allValid: false);
        using var source = Column(ColumnKind.Integer, rows, seed: 2, allValid);
        using var bools = Column(ColumnKind.Boolean, before, seed: 3, allValid: false);
        using var boolSource = Column(ColumnKind.Boolean, rows, seed: 4, allValid);
        var expected = Values(target).Concat(Values(source)).ToList();
        var expectedBools = Values(bools).Concat(Values(boolSource)).ToList();
        target.AppendFrom(source);
        bools.AppendFrom(boolSource);
        Assert.Equal(expected, Values(target));
        Assert.Equal(expectedBools, Values(bools));
        Assert.Equal(expected.Count(v => v is null), target.NullCount);
        Assert.Equal(expectedBools.Count(v => v is null), bools.NullCount);
    }

    [Theory]
    [InlineData(false, 1L)]
    [InlineData(true, 1L)]
    [InlineData(true, -1L)]
    [InlineData(false, 1_000_000_000_000_000L)] // times too far apart to share a key with the row number
    public void SortedByTimeOrdersRowsAndKeepsArrivalOrderForEqualTimes(bool allValid, long scale)
    {
        // Several sorted runs out of order (as concurrent requests merge), many equal times, every column kind.
        using var set = new ColumnSet("db", "m");
        var seq = set.AddColumn("seq", ColumnKind.Integer);
        var tag = set.AddColumn("host", ColumnKind.Tag);
        var flag = set.AddColumn("ok", ColumnKind.Boolean);
        var value = set.AddColumn("v", ColumnKind.Float);
        var random = new Random(7);
        int[] runOrder = [3, 0, 5, 1, 4, 2];
        var rows = new List<(long Time, int Seq, string? Host, bool? Ok, double? V)>();
        for (var row = 0; row < 3000; row++)
        {
            var run = row / 500;
            var time = ((runOrder[run] * 100L) + ((row % 500) / 5)) * scale; // runs of 500 rows, five rows per time, runs shuffled
            var host = allValid || random.Next(4) > 0 ? "h" + random.Next(50) : null;
            bool? ok = allValid || random.Next(4) > 0 ? random.Next(2) == 0 : null;
            double? v = allValid || random.Next(4) > 0 ? random.NextDouble() : null;
            set.Time.SetInt64(row, time);
            set.Columns[seq].SetInt64(row, row);
            if (host is not null)
            {
                set.Columns[tag].SetBytes(row, Encoding.UTF8.GetBytes(host));
            }

            if (ok is { } b)
            {
                set.Columns[flag].SetBoolean(row, b);
            }

            if (v is { } d)
            {
                set.Columns[value].SetDouble(row, d);
            }

            set.EndRow(time);
            rows.Add((time, row, host, ok, v));
        }

        Assert.False(set.IsSortedByTime);
        using var sorted = set.SortedByTime();
        var expected = rows.OrderBy(r => r.Time).ToList(); // LINQ's OrderBy is stable
        Assert.Equal(expected.Count, sorted.RowCount);
        var columns = sorted.Columns.ToDictionary(c => c.Name);
        for (var row = 0; row < expected.Count; row++)
        {
            Assert.Equal(expected[row].Time, sorted.Time.GetInt64(row));
            Assert.Equal(expected[row].Seq, columns["seq"].GetInt64(row));
            Assert.Equal(expected[row].Host, columns["host"].IsValid(row) ? Encoding.UTF8.GetString(columns["host"].GetBytes(row)) : null);
            Assert.Equal(expected[row].Ok, columns["ok"].IsValid(row) ? columns["ok"].GetBoolean(row) : null);
            Assert.Equal(expected[row].V, columns["v"].IsValid(row) ? BitConverter.Int64BitsToDouble(columns["v"].GetInt64(row)) : null);
        }

        Assert.Equal(rows.Count(r => r.Host is null), columns["host"].NullCount);
        Assert.Equal(rows.Count(r => r.V is null), columns["v"].NullCount);
    }

    [Theory]
    [InlineData(0, 8)]
    [InlineData(1, 8)]
    [InlineData(5000, 1)] // one digit for every key: the pass is skipped
    [InlineData(5000, 11)] // exactly one digit
    [InlineData(5000, 12)]
    [InlineData(100_000, 40)]
    [InlineData(100_000, 63)]
    public void RadixSortOrdersLikeASortOfTheSameKeys(int count, int bits)
    {
        var random = new Random(count + bits);
        var keys = Enumerable.Range(0, count).Select(_ => random.NextInt64() & (long)((1UL << bits) - 1)).ToArray();
        if (count > 10)
        {
            keys[3] = keys[7]; // equal keys too
        }

        var expected = keys.Order().ToArray();
        ColumnSet.RadixSort(keys, bits);
        Assert.Equal(expected, keys);
    }

    private static ColumnBuffer Column(ColumnKind kind, int rows, int seed, bool allValid)
    {
        var random = new Random(seed);
        var column = new ColumnBuffer("c", kind);
        for (var row = 0; row < rows; row++)
        {
            if (allValid || random.Next(3) > 0)
            {
                if (kind == ColumnKind.Boolean)
                {
                    column.SetBoolean(row, random.Next(2) == 0);
                }
                else
                {
                    column.SetInt64(row, random.NextInt64());
                }
            }
        }

        column.PadTo(rows);
        return column;
    }

    private static List<long?> Values(ColumnBuffer column) => Enumerable.Range(0, column.Length)
        .Select(row => column.IsValid(row) ? (long?)(column.Kind == ColumnKind.Boolean ? (column.GetBoolean(row) ? 1 : 0) : column.GetInt64(row)) : null)
        .ToList();
}

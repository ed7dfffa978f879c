using System.Buffers;
using System.Text;
using Arc.Protocol.MessagePack;
using MessagePack;
using static Arc.Protocol.Tests.MessagePack.Pack;

namespace Arc.Protocol.Tests.MessagePack;

public sealed class MsgPackDecoderTests
{
    private const long Now = 1_800_000_000_000_000_000;

    [Fact]
    public void ColumnarRecordDeliversEveryColumnTypeRowByRow()
    {
        var body = Serialize(Map(
            ("m", "cpu"),
            ("columns", Map(
                ("time", Array(1700000000000L, 1700000001000L, 1700000002000L)),
                ("host", Array("a", "b", null)),
                ("usage", Array(0.5, null, 2.25)),
                ("count", Array(1L, -2L, 300000L)),
                ("ok", Array(true, false, null)),
                ("note", Array("x", "", "z")))),
            ("tags", Array("host"))));
        var rows = Decode(body, out var summary);
        Assert.Equal(new MsgPackSummary(1, 3), summary);
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Equal("cpu", r.Measurement));
        Assert.Equal([1700000000000000000L, 1700000001000000000L, 1700000002000000000L], rows.Select(r => r.Time));
        Assert.Equal("a", rows[0].Values["host"]);
        Assert.Contains("host", rows[0].Tags);
        Assert.False(rows[2].Values.ContainsKey("host"));
        Assert.Equal(0.5, rows[0].Values["usage"]);
        Assert.False(rows[1].Values.ContainsKey("usage"));
        Assert.Equal([1L, -2L, 300000L], rows.Select(r => r.Values["count"]));
        Assert.Equal(true, rows[0].Values["ok"]);
        Assert.Equal(false, rows[1].Values["ok"]);
        Assert.Equal("", rows[1].Values["note"]);
        Assert.DoesNotContain("note", rows[1].Tags);
    }

    [Theory]
    [InlineData(1_700_000_000L, 1_700_000_000_000_000_000L)] // seconds
    [InlineData(1_700_000_000_123L, 1_700_000_000_123_000_000L)] // milliseconds
    [InlineData(1_700_000_000_123_456L, 1_700_000_000_123_456_000L)] // microseconds
    [InlineData(1_700_000_000_123_456_789L, 1_700_000_000_123_456_789L)] // nanoseconds
    [InlineData(0L, 0L)]
    [InlineData(-1_000L, -1_000_000_000_000L)] // negative seconds
    public void TimeUnitIsDetectedFromTheMagnitudeOfEachValue(long time, long expected)
    {
        var rows = Decode(Serialize(Map(("m", "t"), ("columns", Map(("time", Array(time)), ("v", Array(1.0)))))), out _);
        Assert.Equal(expected, Assert.Single(rows).Time);
    }

    /// <summary>
    /// One rule for both signs: the unit comes from the absolute value, so -x is the instant as far before the epoch as x
    /// is after it. Each unit boundary (1e10 ms, 1e13 µs, 1e16 ns) and the value below it are checked with both signs.
    /// </summary>
    [Theory]
    [InlineData(1L, 1_000_000_000L)] // seconds
    [InlineData(1_000_000_000_000L, 1_000_000_000_000_000_000L)] // 1e12: milliseconds
    [InlineData(1_000_000_000_000_000L, 1_000_000_000_000_000_000L)] // 1e15: microseconds, the same instant
    [InlineData(1_000_000_000_000_000_000L, 1_000_000_000_000_000_000L)] // 1e18: nanoseconds
    [InlineData(9_223_286_400L, 9_223_286_400_000_000_000L)] // the largest magnitude in seconds that fits both ways (1677-09-22)
    [InlineData(10_000_000_000L, 10_000_000_000_000_000L)] // 1e10: milliseconds
    [InlineData(10_000_000_000_000L, 10_000_000_000_000_000L)] // 1e13: microseconds
    [InlineData(10_000_000_000_000_000L, 10_000_000_000_000_000L)] // 1e16: nanoseconds
    public void NegativeEpochsMirrorPositiveOnes(long time, long expected)
    {
        foreach (var (value, nanoseconds) in new[] { (time, expected), (-time, -expected) })
        {
            var body = Serialize(Map(("m", "t"), ("columns", Map(("time", Array(value, (double)value)), ("v", Array(1.0, 2.0))))));
            Assert.Equal([nanoseconds, nanoseconds], Decode(body, out _).Select(r => r.Time));
        }
    }

    [Theory]
    [InlineData(9_999_999_999L)] // 1e10-1 is seconds: year 2286
    [InlineData(9_999_999_999_999L)] // 1e13-1 is milliseconds: past 2262 in nanoseconds
    [InlineData(9_999_999_999_999_999L)] // 1e16-1 is microseconds: past 2262
    [InlineData(9_300_000_000L)] // seconds past 2262
    public void TimesOutsideTheRangeAreRejectedWithEitherSign(long time)
    {
        foreach (var value in new[] { time, -time })
        {
            AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("time", Array(value)), ("v", Array(1.0)))))),
                "'time' is out of range (it must fall between 1677-09-22 and 2262-04-11 in nanoseconds)");
            if ((long)(double)value == value) // 1e16-1 has no double: it rounds to 1e16, nanoseconds
            {
                AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("time", Array((double)value)), ("v", Array(1.0)))))), "out of range");
            }
        }
    }

    [Theory]
    [InlineData(long.MaxValue)] // DuckDB's +infinity as TIMESTAMP_NS
    [InlineData(-long.MaxValue)] // its -infinity
    [InlineData(long.MinValue)]
    [InlineData(TimestampRange.MinNanoseconds - 1)]
    [InlineData(-9_223_286_401L)] // seconds: one second before 1677-09-22 (its mirror, 9_223_286_401, is in 2262)
    public void TimesThatDuckDbCannotHoldAreRejected(long time) =>
        AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("time", Array(time)), ("v", Array(1.0)))))), "'time' is out of range");

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void NonFiniteFloatTimesAreRejected(double time, string shown)
    {
        var body = Serialize(Map(("m", "t"), ("columns", Map(("time", Array(1.5e9, time)), ("v", Array(1.0, 2.0))))));
        var error = AssertRejected(body, $"'time' must be a finite number, got {shown}");
        Assert.Equal(0xcb, body[error.Offset]); // the float64
    }

    [Fact]
    public void NanosecondTimesAtTheEdgesOfTheRangeAreKept()
    {
        var body = Serialize(Map(("m", "t"), ("columns", Map(
            ("time", Array(TimestampRange.MinNanoseconds, TimestampRange.MaxNanoseconds)), ("v", Array(1.0, 2.0))))));
        Assert.Equal([TimestampRange.MinNanoseconds, TimestampRange.MaxNanoseconds], Decode(body, out _).Select(r => r.Time));
    }

    [Fact]
    public void TimestampExtensionsOutsideTheRangeAreRejected()
    {
        var year2300 = new DateTime(2300, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("time", Array(year2300)), ("v", Array(1.0)))))), "'time' is out of range");
        AssertRejected(Serialize(Map(("m", "t"), ("t", year2300), ("fields", Map(("v", 1.0))))), "'t' is out of range");
    }

    [Fact]
    public void FloatTimesAndTimestampExtensionsAreAccepted()
    {
        var stamp = new DateTime(2023, 11, 14, 22, 13, 20, DateTimeKind.Utc).AddTicks(1234567);
        var body = Serialize(Map(("m", "t"), ("columns", Map(
            ("time", Array(1_700_000_000.5, 1_700_000_000_250.0, stamp)),
            ("v", Array(1L, 2L, 3L))))));
        var rows = Decode(body, out _);
        Assert.Equal([1_700_000_000_500_000_000L, 1_700_000_000_250_000_000L, 1_700_000_000_123_456_700L], rows.Select(r => r.Time));
    }

    [Fact]
    public void MissingTimeColumnGivesEveryRowTheDefaultTime()
    {
        var rows = Decode(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(1L, 2L)))))), out _);
        Assert.All(rows, r => Assert.Equal(Now, r.Time));
    }

    [Fact]
    public void NullOrNonNumericTimeIsRejectedAtTheValue()
    {
        var body = Serialize(Map(("m", "t"), ("columns", Map(("time", Array(1700000000000L, null)), ("v", Array(1L, 2L))))));
        var error = AssertRejected(body, "'time' must be a number");
        Assert.Equal(0xc0, body[error.Offset]);

        body = Serialize(Map(("m", "t"), ("columns", Map(("time", Array("2023-01-01")), ("v", Array(1L))))));
        error = AssertRejected(body, "got a string");
        Assert.Equal(0xaa, body[error.Offset]); // fixstr of 10 bytes
    }

    [Fact]
    public void IntegersAndFloatsInOneColumnBecomeFloats()
    {
        var rows = Decode(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(1L, 2.5, -3L, null)))))), out _);
        Assert.Equal([1.0, 2.5, -3.0], rows.Take(3).Select(r => r.Values["v"]));
    }

    [Fact]
    public void PromotionAppliesAcrossRecordsOfTheSameBody()
    {
        // A JavaScript client sends whole numbers as integers: the first record is all integers, the second has a float.
        var body = Serialize(Array(
            Map(("m", "t"), ("columns", Map(("v", Array(1L, 2L))))),
            Map(("m", "t"), ("columns", Map(("v", Array(2.5)))))));
        var rows = Decode(body, out var summary);
        Assert.Equal(new MsgPackSummary(2, 3), summary);
        Assert.Equal([1.0, 2.0, 2.5], rows.Select(r => r.Values["v"]));
    }

    [Fact]
    public void LargeUnsignedIntegersMakeAnUnsignedColumn()
    {
        var rows = Decode(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(ulong.MaxValue, 5UL)))))), out _);
        Assert.Equal([ulong.MaxValue, 5UL], rows.Select(r => r.Values["v"]));

        var error = AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(-1L, ulong.MaxValue)))))), "mixes");
        Assert.Contains("negative integer and unsigned integer above 2^63-1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IncompatibleTypesInOneColumnAreRejectedAtTheFirstOffendingValue()
    {
        var body = Serialize(Map(("m", "t"), ("columns", Map(("v", Array(1L, 2L, "three"))))));
        var error = AssertRejected(body, "'v' mixes integer and string values");
        Assert.Equal(MsgPackErrorKind.Malformed, error.Kind);
        Assert.Equal((byte)0xa5, body[error.Offset]);

        AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(true, 1.5)))))), "mixes boolean and float");
        AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(new byte[] { 1 })))))), "holds binary data");
        AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("v", new object?[] { new object?[] { 1L } }))))), "holds an array");
    }

    [Fact]
    public void ColumnsOfDifferentLengthsAreRejectedAtTheShorterArray()
    {
        var body = Serialize(Map(("m", "t"), ("columns", Map(("a", Array(1L, 2L)), ("b", Array(1L))))));
        var error = AssertRejected(body, "column 'b' has 1 values but 'a' has 2");
        Assert.Equal(0x91, body[error.Offset]);
    }

    [Fact]
    public void TagsNameStringColumnsAndMustHoldStrings()
    {
        var rows = Decode(Serialize(Map(("m", "t"), ("tag_keys", Array("region")), ("columns", Map(("region", Array("eu")), ("v", Array(1L)))))), out _);
        Assert.Contains("region", Assert.Single(rows).Tags);

        AssertRejected(Serialize(Map(("m", "t"), ("tags", Array("v")), ("columns", Map(("v", Array(1L)), ("w", Array(1L)))))), "tag 'v' must hold strings");
        AssertRejected(Serialize(Map(("m", "t"), ("tags", Array("nope")), ("columns", Map(("v", Array(1L)))))), "tag 'nope' is not a column");
        AssertRejected(Serialize(Map(("m", "t"), ("tags", Array("a", "a")), ("columns", Map(("a", Array("x")), ("v", Array(1L)))))), "listed twice");
        AssertRejected(Serialize(Map(("m", "t"), ("tags", Array("a")), ("tag_keys", Array("a")), ("columns", Map(("a", Array("x")))))), "not both");
        AssertRejected(Serialize(Map(("m", "t"), ("tags", Array("a")), ("columns", Map(("a", Array("x")))))), "no field values");
        var twice = Concat([0x83], Serialize("m"), Serialize("t"), Serialize("tags"), Serialize(Array("h")), Serialize("columns"),
            [0x83], Serialize("h"), [0x91, 0xc0], Serialize("h"), Serialize(Array("x")), Serialize("v"), Serialize(Array(1L)));
        AssertRejected(twice, "names a tag column twice");
    }

    [Fact]
    public void ColumnsOfOnlyNilsAreNotDelivered()
    {
        var rows = Decode(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(1L, 2L)), ("empty", Array(null, null)))))), out _);
        Assert.All(rows, r => Assert.False(r.Values.ContainsKey("empty")));
    }

    [Fact]
    public void RowFormWithHostTagsFieldsAndCompactFields()
    {
        var body = Serialize(Array(
            Map(("m", "cpu"), ("t", 1700000000000L), ("h", "server01"), ("tags", Map(("region", "eu"), ("zone", null))),
                ("fields", Map(("usage", 0.5), ("n", 3L), ("up", true), ("msg", "hi"), ("gone", null)))),
            Map(("m", "cpu"), ("f", Array(1.5, 2L, null)), ("t", null))));
        var rows = Decode(body, out var summary);
        Assert.Equal(new MsgPackSummary(2, 2), summary);
        Assert.Equal(1700000000000000000L, rows[0].Time);
        Assert.Equal("server01", rows[0].Values["host"]);
        Assert.Equal(["host", "region"], rows[0].Tags.Order());
        Assert.Equal(0.5, rows[0].Values["usage"]);
        Assert.Equal(3L, rows[0].Values["n"]);
        Assert.Equal(true, rows[0].Values["up"]);
        Assert.Equal("hi", rows[0].Values["msg"]);
        Assert.False(rows[0].Values.ContainsKey("gone"));
        Assert.Equal(Now, rows[1].Time);
        Assert.Equal(1.5, rows[1].Values["field_0"]);
        Assert.Equal(2L, rows[1].Values["field_1"]);
        Assert.False(rows[1].Values.ContainsKey("field_2"));
    }

    [Fact]
    public void RowFormRejections()
    {
        AssertRejected(Serialize(Map(("m", "t"), ("h", 5L), ("fields", Map(("v", 1L))))), "'h' (the host tag) must be a string");
        AssertRejected(Serialize(Map(("m", "t"), ("tags", Map(("r", 1L))), ("fields", Map(("v", 1L))))), "tag 'r' must be a string");
        AssertRejected(Serialize(Map(("m", "t"), ("fields", Map(("v", null))))), "no field values");
        AssertRejected(Serialize(Map(("m", "t"))), "needs 'columns'");
        AssertRejected(Serialize(Map(("m", "t"), ("fields", Map(("v", 1L))), ("f", Array(1L)))), "both 'fields' and 'f'");
        AssertRejected(Serialize(Map(("m", "t"), ("t", "now"), ("fields", Map(("v", 1L))))), "'t' must be a number");
        AssertRejected(Serialize(Map(("m", 7L), ("fields", Map(("v", 1L))))), "'m' (the measurement) must be a string");
        AssertRejected(Serialize(Map(("fields", Map(("v", 1L))))), "no 'm'");
        AssertRejected(Serialize(Map(("m", "t"), ("fields", Map(("v", Map(("x", 1L))))))), "holds a map");
    }

    [Fact]
    public void BatchShapesAndNestedBatches()
    {
        var record = Map(("m", "t"), ("columns", Map(("v", Array(1L)))));
        Assert.Equal(3, Decode(Serialize(Map(("batch", Array(record, record, Map(("m", "t"), ("fields", Map(("v", 2L)))))))), out _).Count);
        Assert.Equal(2, Decode(Serialize(Array(record, Map(("batch", Array(record))))), out _).Count);
        Assert.Empty(Decode(Serialize(Array()), out _));
        AssertRejected(Serialize(Map(("batch", Array(1L)))), "batch items must be maps");
        AssertRejected(Serialize(Map(("batch", Array(record)), ("m", "t"))), "cannot also be a record");
        AssertRejected(Serialize("hello"), "expected a map");
    }

    [Fact]
    public void UnknownKeysAreSkippedAndDuplicateKnownKeysRejected()
    {
        var rows = Decode(Serialize(Map(("m", "t"), ("extra", Map(("deep", Array(Array(1L), Map(("x", null)))))), ("columns", Map(("v", Array(1L)))))), out _);
        Assert.Single(rows);

        var body = Concat([0x83], Serialize("m"), Serialize("t"), Serialize("m"), Serialize("u"), Serialize("fields"), Serialize(Map(("v", 1L))));
        var error = AssertRejected(body, "duplicate key 'm'");
        Assert.Equal(5, error.Offset); // the second "m"

    }

    [Fact]
    public void NamesMustBeStringsNotEmptyAndWithoutControlCharacters()
    {
        AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("", Array(1L)))))), "column name is empty");
        AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("a\nb", Array(1L)))))), "control character");
        AssertRejected(Concat([0x82], Serialize("m"), Serialize("t"), Serialize("columns"), [0x81, 0x01, 0x91, 0x01]), "column names must be strings");
        AssertRejected(Concat([0x81, 0x01, 0x02]), "map keys must be strings");
        AssertRejected(Serialize(Map(("m", "9bad"), ("columns", Map(("v", Array(1L)))))), "invalid measurement name");
        AssertRejected(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(1L)))))), "column 'v' refused", refuse: "v");
    }

    [Fact]
    public void InvalidUtf8StringValuesAreRejected()
    {
        var body = Concat([0x82], Serialize("m"), Serialize("t"), Serialize("columns"), [0x81], Serialize("s"), [0x91, 0xa2, 0xc3, 0x28]);
        var error = AssertRejected(body, "not valid UTF-8");
        Assert.Equal(body.Length - 3, error.Offset);
    }

    [Fact]
    public void DeclaredLengthsBeyondTheBodyAreRejectedBeforeAnythingIsReserved()
    {
        // An array32 claiming 2^32-1 elements in a 20-byte body, and a map32 claiming 2^31.
        var body = Concat([0x82], Serialize("m"), Serialize("t"), Serialize("columns"), [0x81], Serialize("v"), [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]);
        var error = AssertRejected(body, "declares 4294967295 elements but only 1 bytes remain");
        Assert.Equal(0xdd, body[error.Offset]);
        AssertRejected([0xdf, 0x80, 0x00, 0x00, 0x00, 0x01, 0x02], "declares 2147483648 entries");
        AssertRejected(Concat([0x82], Serialize("m"), Serialize("t"), Serialize("columns"), [0x81], Serialize("v"), [0x91, 0xdb, 0x7f, 0xff, 0xff, 0xff, 0x41]),
            "truncated");
    }

    [Fact]
    public void EveryOrderOfARecordsKeysDecodesTheSameRows()
    {
        // 'columns' last is read where it stands in the write pass (the usual order); anywhere else it is skipped and read
        // after the map.
        // Every order, alone and as two records of a batch (the first record's map must end where the next begins).
        (string Key, object? Value)[] entries =
        [
            ("m", "cpu"),
            ("tags", Array("host")),
            ("x", Map(("nested", Array(1L, Array("y"))))),
            ("columns", Map(("time", Array(1L, 2L)), ("host", Array("a", "b")), ("usage", Array(0.5, null)), ("n", Array(null, 7L)))),
        ];
        static string Rows(List<RecordedRow> rows) => string.Join(" ", rows.Select(r =>
            $"{r.Measurement}@{r.Time}[{string.Join(",", r.Values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key}{(r.Tags.Contains(v.Key) ? "#" : "")}={v.Value}"))}]"));
        const string Expected = "cpu@1000000000[host#=a,usage=0.5] cpu@2000000000[host#=b,n=7]";
        foreach (var order in Permutations([0, 1, 2, 3]))
        {
            var record = Map(order.Select(i => entries[i]).ToArray());
            Assert.Equal(Expected, Rows(Decode(Serialize(record), out _)));
            Assert.Equal(Expected + " " + Expected, Rows(Decode(Serialize(Map(("batch", Array(record, record)))), out var summary)));
            Assert.Equal(new MsgPackSummary(2, 4), summary);

            // A bad value in the last entry is found with its offset either way.
            (string Key, object? Value) badColumns = ("columns", Map(("time", Array(1L)), ("host", Array("a")), ("v", Array((object?)Array(1L)))));
            var bad = Map(order.Select(i => i == 3 ? badColumns : entries[i]).ToArray());
            var body = Serialize(bad);
            var error = AssertRejected(body, "'v' holds an array");
            Assert.Equal(0x91, body[error.Offset]);
        }

        static IEnumerable<int[]> Permutations(int[] items) => items.Length <= 1
            ? [items]
            : items.SelectMany(first => Permutations(items.Where(i => i != first).ToArray()).Select(rest => (int[])[first, .. rest]));
    }

    [Fact]
    public void DeepNestingIsRefusedWithoutRecursion()
    {
        // 100,000 nested arrays inside an unknown key: skipped iteratively, refused past the depth limit.
        var nested = new byte[100_000];
        nested.AsSpan().Fill(0x91);
        var body = Concat([0x83], Serialize("m"), Serialize("t"), Serialize("x"), nested, [0xc0], Serialize("columns"), Serialize(Map(("v", Array(1L)))));
        AssertRejected(body, "nesting deeper than");

        var batches = new List<byte>();
        for (var i = 0; i < 40; i++)
        {
            batches.AddRange(Concat([0x81], Serialize("batch"), [0x91]));
        }

        batches.AddRange(Serialize(Map(("m", "t"), ("columns", Map(("v", Array(1L)))))));
        AssertRejected(batches.ToArray(), "nesting deeper than");
    }

    [Fact]
    public void AColumnsMapDeclaringMillionsOfEntriesCostsNoMemoryForThem()
    {
        // 'columns' last, its map32 header declaring 4,000,000 entries in a body of 8 MB (two bytes each would fit): the
        // validation pass keeps at most the tag and field limits' worth of columns, whatever the header says.
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteMapHeader(2);
        writer.Write("m");
        writer.Write("cpu");
        writer.Write("columns");
        writer.WriteMapHeader(4_000_000);
        writer.Write("v");
        writer.WriteArrayHeader(1);
        writer.Write(1.5);
        writer.Flush();
        var body = Concat(buffer.WrittenSpan.ToArray(), new byte[8 << 20]);
        var state = new RecordingMsgPackHandlerState();
        var handler = new RecordingMsgPackHandler(state);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(MsgPackDecoder.TryDecode(body, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = Now }, out _, out var error));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < (1 << 20), $"decoding allocated {allocated:N0} bytes");
        Assert.NotEqual(MsgPackErrorKind.TooLarge, error.Kind);
        Assert.Equal(0, state.RecordsValidated);
    }

    [Fact]
    public void TrailingBytesEmptyBodiesAndTheRowLimit()
    {
        var body = Serialize(Map(("m", "t"), ("columns", Map(("v", Array(1L))))));
        var error = AssertRejected(Concat(body, [0xc0]), "unexpected data after the payload (1 bytes)");
        Assert.Equal(body.Length, error.Offset);
        AssertRejected([], "the body is empty");
        AssertRejected([0xc1], "invalid byte 0xc1");
        AssertRejected([0x05], "expected a map");

        var big = Serialize(Map(("m", "t"), ("columns", Map(("v", Enumerable.Range(0, 11).Select(i => (object?)(long)i).ToArray())))));
        var state = new RecordingMsgPackHandlerState();
        var handler = new RecordingMsgPackHandler(state);
        Assert.False(MsgPackDecoder.TryDecode(big, ref handler, new MsgPackDecoderOptions { MaxRows = 10 }, out _, out var tooLarge));
        Assert.Equal(MsgPackErrorKind.TooLarge, tooLarge.Kind);
        Assert.False(state.Validated);
    }

    [Fact]
    public void EveryIntegerWidthAndStringHeaderIsRead()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteMapHeader(2);
        writer.Write("m");
        writer.Write("w");
        writer.Write("columns");
        writer.WriteMapHeader(3);
        writer.Write("i");
        writer.WriteArrayHeader(9);
        writer.WriteInt8(-5);
        writer.WriteInt16(-300);
        writer.WriteInt32(-70000);
        writer.WriteInt64(-5_000_000_000);
        writer.WriteUInt8(200);
        writer.WriteUInt16(60000);
        writer.WriteUInt32(4_000_000_000);
        writer.WriteUInt64(9_000_000_000_000_000_000);
        writer.Write(7); // positive fixint
        writer.Write("f");
        writer.WriteArrayHeader(9);
        for (var i = 0; i < 8; i++)
        {
            writer.Write((float)(i + 0.5));
        }

        writer.Write(0.25);
        writer.WriteString(Encoding.UTF8.GetBytes("s"));
        writer.WriteArrayHeader(9);
        foreach (var length in new[] { 0, 31, 32, 255, 256, 65535, 65536, 3, 1 })
        {
            writer.WriteString(Encoding.UTF8.GetBytes(new string('x', length)));
        }

        writer.Flush();
        var rows = Decode(buffer.WrittenSpan.ToArray(), out _);
        Assert.Equal([-5L, -300L, -70000L, -5_000_000_000L, 200L, 60000L, 4_000_000_000L, 9_000_000_000_000_000_000L, 7L],
            rows.Select(r => r.Values["i"]));
        Assert.Equal(0.25, rows[8].Values["f"]);
        Assert.Equal(7.5, rows[7].Values["f"]);
        Assert.Equal([0, 31, 32, 255, 256, 65535, 65536, 3, 1], rows.Select(r => ((string)r.Values["s"]!).Length));
    }

    internal static List<RecordedRow> Decode(byte[] body, out MsgPackSummary summary, MsgPackDecoderOptions? options = null)
    {
        var state = new RecordingMsgPackHandlerState();
        var handler = new RecordingMsgPackHandler(state);
        var ok = MsgPackDecoder.TryDecode(body, ref handler, options ?? new MsgPackDecoderOptions { DefaultTimestamp = Now }, out summary, out var error);
        Assert.True(ok, error.ToString());
        return state.Rows;
    }

    internal static MsgPackError AssertRejected(byte[] body, string expected, string? refuse = null)
    {
        var state = new RecordingMsgPackHandlerState { RefuseColumn = refuse };
        var handler = new RecordingMsgPackHandler(state);
        Assert.False(MsgPackDecoder.TryDecode(body, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = Now }, out _, out var error),
            "the body was accepted");
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.InRange(error.Offset, 0, Math.Max(0, body.Length - 1));
        Assert.False(state.Writing, "the write pass started");
        Assert.Empty(state.Rows);
        return error;
    }

    internal static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}

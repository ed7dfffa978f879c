using System.Text;
using Arc.Engine.Ingest;

namespace Arc.Engine.Tests;

/// <summary>The pieces of a CSV import below the HTTP layer: time values and the record reader.</summary>
public sealed class ImportParsingTests
{
    [Theory]
    [InlineData("1700000000", "", 1_700_000_000_000_000_000)]              // seconds by magnitude
    [InlineData("1700000000123", "", 1_700_000_000_123_000_000)]           // milliseconds
    [InlineData("1700000000123456", "", 1_700_000_000_123_456_000)]        // microseconds
    [InlineData("1700000000123456789", "", 1_700_000_000_123_456_789)]     // nanoseconds, exactly
    [InlineData("1700000000.5", "", 1_700_000_000_500_000_000)]
    [InlineData("-1.5", "epoch_s", -1_500_000_000)]
    [InlineData("1700000000123", "epoch_us", 1_700_000_000_123_000)]
    [InlineData("1.7e9", "", 1_700_000_000_000_000_000)]
    [InlineData("2024-01-01", "", 1_704_067_200_000_000_000)]
    [InlineData("2024-01-01T00:00:00Z", "", 1_704_067_200_000_000_000)]
    [InlineData("2024-01-01 01:00:00.000000001", "", 1_704_070_800_000_000_001)]
    [InlineData("2024-01-01T02:00:00+02:00", "", 1_704_067_200_000_000_000)]
    [InlineData("2024-01-01T00:00:00.5-0130", "", 1_704_072_600_500_000_000)]
    [InlineData(" 2024-01-01T00:00:00Z ", "", 1_704_067_200_000_000_000)]
    public void TimeValuesBecomeExactNanoseconds(string text, string format, long expected)
    {
        Assert.Null(ImportTime.TryParse(Encoding.UTF8.GetBytes(text), ImportTime.ParseFormat(format)!.Value, out var ns));
        Assert.Equal(expected, ns);
    }

    [Theory]
    [InlineData("", "", "empty time value")]
    [InlineData("yesterday", "", "unrecognized time 'yesterday'")]
    [InlineData("2024-02-30", "", "unrecognized time '2024-02-30'")]
    [InlineData("2024-01-01T25:00:00", "", "unrecognized time")]
    [InlineData("2024-01-01T00:00:00.1234567891Z", "", "unrecognized time")]
    [InlineData("2024-01-01", "epoch_s", "is not an epoch number")]
    [InlineData("99999999999", "epoch_s", "is out of range")]
    public void BadTimeValuesSayWhy(string text, string format, string expected)
    {
        Assert.Contains(expected, ImportTime.TryParse(Encoding.UTF8.GetBytes(text), ImportTime.ParseFormat(format)!.Value, out _));
    }

    [Fact]
    public void UnknownTimeFormatsAreRefused() => Assert.Null(ImportTime.ParseFormat("epoch_minutes"));

    [Fact]
    public async Task RecordsAreSplitAsRfc4180WithTheLineTheyStartOn()
    {
        const string csv = "a,b,c\r\n\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\nplain \"quote\",,last\n\"open,never closed\n";
        var records = await ReadAllAsync(csv, 1 << 20);
        Assert.Equal(
            [
                "1: a | b | c",
                "3: x,1 | say \"hi\" | two\nlines",
                "5: plain \"quote\" |  | last",
                "6: open,never closed\n (unterminated quoted field)",
            ],
            records.Select(r => $"{r.Line}: {string.Join(" | ", r.Fields)}{(r.Error is null ? "" : $" ({r.Error})")}"));
    }

    [Fact]
    public async Task ARecordLongerThanTheLimitEndsTheReadNamingIt()
    {
        var csv = "a,b\n1," + new string('x', 300) + "\n";
        var error = await Assert.ThrowsAsync<PayloadTooLargeException>(() => ReadAllAsync(csv, 128));
        Assert.Equal("the record at line 2 is longer than test.limit (128 bytes)", error.Message);
    }

    [Fact]
    public async Task RecordsStraddlingTheReadWindowKeepTheirFieldsAndLines()
    {
        // Far more than the reader's window (limit + 64 KiB): records are cut at every refill, quoted line breaks too.
        var csv = new StringBuilder();
        for (var i = 0; i < 20_000; i++)
        {
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{i},\"v{i}\nnext \"\"q\"\"\",{new string('z', i % 13)}\n");
        }

        var records = await ReadAllAsync(csv.ToString(), 256);
        Assert.Equal(20_000, records.Count);
        for (var i = 0; i < records.Count; i++)
        {
            Assert.Equal(1 + 2L * i, records[i].Line);
            Assert.Equal([i.ToString(System.Globalization.CultureInfo.InvariantCulture), $"v{i}\nnext \"q\"", new string('z', i % 13)], records[i].Fields);
        }
    }

    private static async Task<List<(long Line, string[] Fields, string? Error)>> ReadAllAsync(string csv, int limit)
    {
        using var reader = new CsvRecordReader(new MemoryStream(Encoding.UTF8.GetBytes(csv)), (byte)',', limit, "test.limit");
        var records = new List<(long, string[], string?)>();
        while (await reader.ReadAsync(CancellationToken.None))
        {
            var fields = Enumerable.Range(0, reader.FieldCount).Select(i => Encoding.UTF8.GetString(reader.Field(i))).ToArray();
            records.Add((reader.Line, fields, reader.Error));
        }

        return records;
    }
}

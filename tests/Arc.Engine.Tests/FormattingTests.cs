using System.Text;
using Arc.Engine.Query;
using Arc.Engine.Storage;

namespace Arc.Engine.Tests;

public sealed class FormattingTests
{
    [Theory]
    [InlineData(0L, "1970-01-01T00:00:00Z")]
    [InlineData(1L, "1970-01-01T00:00:00.000000001Z")]
    [InlineData(-1L, "1969-12-31T23:59:59.999999999Z")]
    [InlineData(1700000000123456789L, "2023-11-14T22:13:20.123456789Z")]
    [InlineData(1700000000120000000L, "2023-11-14T22:13:20.12Z")]
    [InlineData(951782400000000000L, "2000-02-29T00:00:00Z")]
    [InlineData(long.MaxValue, "2262-04-11T23:47:16.854775807Z")]
    [InlineData(long.MinValue, "1677-09-21T00:12:43.145224192Z")]
    public void NanosecondTimestampsAreRfc3339(long nanos, string expected)
    {
        Span<byte> buffer = stackalloc byte[TemporalFormat.MaxLength];
        Assert.Equal(expected, Encoding.UTF8.GetString(buffer[..TemporalFormat.FormatNanos(nanos, buffer)]));
        var expectedDate = DateTime.UnixEpoch.AddTicks(Math.DivRem(nanos, 100, out var rem) - (rem < 0 ? 1 : 0));
        Assert.StartsWith(expectedDate.ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), expected, StringComparison.Ordinal);
    }

    [Fact]
    public void DatesMatchTheBclCalendarOverAWideRange()
    {
        Span<byte> buffer = stackalloc byte[TemporalFormat.MaxLength];
        for (var day = -719_000L; day < 2_900_000L; day += 997)
        {
            var expected = DateOnly.FromDateTime(DateTime.UnixEpoch.AddDays(day)).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(expected, Encoding.UTF8.GetString(buffer[..TemporalFormat.FormatDate(day, buffer)]));
        }
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(3_599_999_999_999L, 0L)]
    [InlineData(3_600_000_000_000L, 1L)]
    [InlineData(-1L, -1L)]
    [InlineData(-3_600_000_000_000L, -1L)]
    [InlineData(-3_600_000_000_001L, -2L)]
    public void HourOfRoundsDown(long nanos, long hour) => Assert.Equal(hour, LocalStore.HourOf(nanos));

    [Theory]
    [InlineData("cpu", null)]
    [InlineData("cpu_usage-2", null)]
    [InlineData("", "empty")]
    [InlineData("2cpu", "must start with a letter")]
    [InlineData("cpu.total", "must start with a letter")]
    [InlineData("../x", "must start with a letter")]
    [InlineData("é", "must start with a letter")]
    public void MeasurementNames(string name, string? error)
    {
        var result = Names.ValidateMeasurement(Encoding.UTF8.GetBytes(name));
        if (error is null)
        {
            Assert.Null(result);
        }
        else
        {
            Assert.Contains(error, result, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MeasurementNameLengthLimit()
    {
        Assert.Null(Names.ValidateMeasurement(Encoding.ASCII.GetBytes(new string('a', 128))));
        Assert.Contains("longer than 128", Names.ValidateMeasurement(Encoding.ASCII.GetBytes(new string('a', 129))), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("telegraf", true)]
    [InlineData("_x-1", true)]
    [InlineData("default", true)]
    [InlineData("-x", false)]
    [InlineData("a/b", false)]
    [InlineData("..", false)]
    [InlineData("SYSTEM", false)]
    [InlineData("internal", false)]
    [InlineData("main", false)]
    [InlineData("", false)]
    public void DatabaseNames(string name, bool valid) => Assert.Equal(valid, Names.IsValidDatabase(name));

    [Fact]
    public void DatabaseNameLengthLimit()
    {
        Assert.True(Names.IsValidDatabase(new string('d', 64)));
        Assert.False(Names.IsValidDatabase(new string('d', 65)));
    }

    [Theory]
    [InlineData("SHOW DATABASES", "Databases", null)]
    [InlineData("  show   databases ; ", "Databases", null)]
    [InlineData("SHOW TABLES", "Tables", null)]
    [InlineData("SHOW MEASUREMENTS", "Tables", null)]
    [InlineData("show tables from mydb", "Tables", "mydb")]
    [InlineData("SHOW TABLES IN \"my-db\";", "Tables", "my-db")]
    public void ShowCommandsAreRecognized(string sql, string kind, string? database)
    {
        Assert.True(ShowCommand.TryParse(sql, out var command));
        Assert.Equal(kind, command.Kind.ToString());
        Assert.Equal(database, command.Database);
    }

    [Theory]
    [InlineData("SHOW ALL TABLES")]
    [InlineData("SHOW cpu")]
    [InlineData("SELECT 1")]
    [InlineData("SHOW TABLES FROM")]
    [InlineData("SHOW DATABASES x")]
    [InlineData("SHOW TABLES WHERE x")]
    public void OtherSqlIsLeftToDuckDb(string sql) => Assert.False(ShowCommand.TryParse(sql, out _));
}

using System.Buffers.Text;
using System.Runtime.CompilerServices;

namespace Arc.Engine.Query;

/// <summary>
/// Allocation-free UTF-8 formatting of DuckDB's temporal values: RFC 3339 timestamps in UTC with the fraction trimmed of
/// trailing zeros (Go's RFC3339Nano, so nanoseconds survive), ISO dates and times of day.
/// </summary>
internal static class TemporalFormat
{
    /// <summary>Longest output of any method here.</summary>
    public const int MaxLength = 40;

    private const long SecondsPerDay = 86_400;

    /// <summary>Formats a time given as whole seconds since the Unix epoch and the nanoseconds within that second.</summary>
    public static int FormatTimestamp(long seconds, int nanos, Span<byte> destination)
    {
        var days = FloorDiv(seconds, SecondsPerDay, out var secondOfDay);
        var length = FormatDate(days, destination);
        destination[length++] = (byte)'T';
        length += FormatTimeOfDay(secondOfDay, nanos, destination[length..]);
        destination[length++] = (byte)'Z';
        return length;
    }

    public static int FormatNanos(long unixNanos, Span<byte> destination)
    {
        var seconds = FloorDiv(unixNanos, 1_000_000_000, out var nanos);
        return FormatTimestamp(seconds, (int)nanos, destination);
    }

    public static int FormatMicros(long unixMicros, Span<byte> destination)
    {
        var seconds = FloorDiv(unixMicros, 1_000_000, out var micros);
        return FormatTimestamp(seconds, (int)micros * 1000, destination);
    }

    public static int FormatMillis(long unixMillis, Span<byte> destination)
    {
        var seconds = FloorDiv(unixMillis, 1000, out var millis);
        return FormatTimestamp(seconds, (int)millis * 1_000_000, destination);
    }

    /// <summary>Formats days since 1970-01-01 as <c>YYYY-MM-DD</c> (proleptic Gregorian, astronomical years).</summary>
    public static int FormatDate(long days, Span<byte> destination)
    {
        // Howard Hinnant's civil_from_days.
        var z = days + 719_468;
        var era = (z >= 0 ? z : z - 146_096) / 146_097;
        var doe = z - (era * 146_097);
        var yoe = (doe - (doe / 1460) + (doe / 36_524) - (doe / 146_096)) / 365;
        var year = yoe + (era * 400);
        var doy = doe - ((365 * yoe) + (yoe / 4) - (yoe / 100));
        var mp = ((5 * doy) + 2) / 153;
        var day = doy - (((153 * mp) + 2) / 5) + 1;
        var month = mp < 10 ? mp + 3 : mp - 9;
        if (month <= 2)
        {
            year++;
        }

        var length = 0;
        if (year is >= 0 and <= 9999)
        {
            Digits(destination, (int)year, 4);
            length = 4;
        }
        else
        {
            Utf8Formatter.TryFormat(year, destination, out length);
        }

        destination[length] = (byte)'-';
        Digits(destination[(length + 1)..], (int)month, 2);
        destination[length + 3] = (byte)'-';
        Digits(destination[(length + 4)..], (int)day, 2);
        return length + 6;
    }

    /// <summary>Formats a time of day as <c>HH:MM:SS</c> plus a trimmed fraction when it is not whole.</summary>
    public static int FormatTimeOfDay(long secondOfDay, int nanos, Span<byte> destination)
    {
        Digits(destination, (int)(secondOfDay / 3600), 2);
        destination[2] = (byte)':';
        Digits(destination[3..], (int)(secondOfDay / 60 % 60), 2);
        destination[5] = (byte)':';
        Digits(destination[6..], (int)(secondOfDay % 60), 2);
        if (nanos == 0)
        {
            return 8;
        }

        destination[8] = (byte)'.';
        Digits(destination[9..], nanos, 9);
        var length = 18;
        while (destination[length - 1] == (byte)'0')
        {
            length--;
        }

        return length;
    }

    public static int FormatMicrosOfDay(long micros, Span<byte> destination) =>
        FormatTimeOfDay(micros / 1_000_000, (int)(micros % 1_000_000) * 1000, destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long FloorDiv(long value, long divisor, out long remainder)
    {
        var quotient = Math.DivRem(value, divisor, out remainder);
        if (remainder < 0)
        {
            quotient--;
            remainder += divisor;
        }

        return quotient;
    }

    private static void Digits(Span<byte> destination, int value, int count)
    {
        for (var i = count - 1; i >= 0; i--)
        {
            destination[i] = (byte)('0' + (value % 10));
            value /= 10;
        }
    }
}

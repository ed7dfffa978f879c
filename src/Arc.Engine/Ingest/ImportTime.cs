using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Arc.Engine.Ingest;

/// <summary>How a CSV or Parquet import reads its time column (Arc's <c>time_format</c>).</summary>
public enum ImportTimeFormat
{
    /// <summary>Arc's default: an integer epoch by its magnitude (s, ms, µs or ns), or an ISO-8601 / RFC 3339 timestamp.</summary>
    Auto,
    EpochSeconds,
    EpochMilliseconds,
    EpochMicroseconds,
    EpochNanoseconds,
}

/// <summary>Time values of imported files to nanoseconds since the Unix epoch (UTC), exactly (no floating point for integers).</summary>
public static class ImportTime
{
    /// <summary>Arc's <c>time_format</c> names; null for an unknown one.</summary>
    public static ImportTimeFormat? ParseFormat(string? text) => text switch
    {
        null or "" => ImportTimeFormat.Auto,
        "epoch_s" => ImportTimeFormat.EpochSeconds,
        "epoch_ms" => ImportTimeFormat.EpochMilliseconds,
        "epoch_us" => ImportTimeFormat.EpochMicroseconds,
        "epoch_ns" => ImportTimeFormat.EpochNanoseconds,
        _ => null,
    };

    /// <summary>Nanoseconds per unit of an epoch value, by format or (auto) by the value's magnitude as Arc decides.</summary>
    internal static long UnitOf(ImportTimeFormat format, long integerPart)
    {
        switch (format)
        {
            case ImportTimeFormat.EpochSeconds:
                return 1_000_000_000;
            case ImportTimeFormat.EpochMilliseconds:
                return 1_000_000;
            case ImportTimeFormat.EpochMicroseconds:
                return 1_000;
            case ImportTimeFormat.EpochNanoseconds:
                return 1;
        }

        var magnitude = integerPart == long.MinValue ? long.MaxValue : Math.Abs(integerPart);
        return magnitude switch
        {
            < 10_000_000_000 => 1_000_000_000,
            < 10_000_000_000_000 => 1_000_000,
            < 10_000_000_000_000_000 => 1_000,
            _ => 1,
        };
    }

    /// <summary>An integer epoch (a Parquet integer time column) to nanoseconds; false when it is out of range.</summary>
    public static bool FromEpoch(long value, ImportTimeFormat format, out long nanoseconds)
    {
        var unit = UnitOf(format, value);
        try
        {
            nanoseconds = checked(value * unit);
            return true;
        }
        catch (OverflowException)
        {
            nanoseconds = 0;
            return false;
        }
    }

    /// <summary>A time value as text to nanoseconds, or the reason it is not one.</summary>
    public static string? TryParse(ReadOnlySpan<byte> text, ImportTimeFormat format, out long nanoseconds)
    {
        nanoseconds = 0;
        text = text.Trim(" \t"u8);
        if (text.IsEmpty)
        {
            return "empty time value";
        }

        if (TryEpoch(text, format, out nanoseconds, out var outOfRange))
        {
            return null;
        }

        if (outOfRange)
        {
            return $"time '{Show(text)}' is out of range";
        }

        if (format != ImportTimeFormat.Auto)
        {
            return $"time '{Show(text)}' is not an epoch number";
        }

        return TryTimestamp(text, out nanoseconds)
            ? null
            : $"unrecognized time '{Show(text)}' (use RFC 3339, 'YYYY-MM-DD[ T]HH:MM:SS[.fff]', 'YYYY-MM-DD' or an epoch with time_format)";
    }

    /// <summary>An epoch with an optional fraction (<c>1609459200.123</c>), exactly; a value in exponent form goes through double.</summary>
    private static bool TryEpoch(ReadOnlySpan<byte> text, ImportTimeFormat format, out long nanoseconds, out bool outOfRange)
    {
        nanoseconds = 0;
        outOfRange = false;
        var dot = text.IndexOf((byte)'.');
        var whole = dot >= 0 ? text[..dot] : text;
        var fraction = dot >= 0 ? text[(dot + 1)..] : default;
        var negative = whole.Length > 0 && whole[0] == '-';
        if (!Utf8Parser.TryParse(whole, out long integer, out var used) || used != whole.Length
            || (whole.Length > 0 && whole[0] == '+'))
        {
            if (whole.Length == 1 && whole[0] == '-' && fraction.Length > 0)
            {
                integer = 0;
            }
            else
            {
                return TryExponent(text, format, out nanoseconds, out outOfRange);
            }
        }

        foreach (var digit in fraction)
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return TryExponent(text, format, out nanoseconds, out outOfRange);
            }
        }

        var unit = UnitOf(format, integer);
        try
        {
            var value = checked(integer * unit);
            long part = 0;
            long scale = unit;
            foreach (var digit in fraction)
            {
                scale /= 10;
                if (scale == 0)
                {
                    break;
                }

                part += (digit - '0') * scale;
            }

            nanoseconds = negative ? checked(value - part) : checked(value + part);
            return true;
        }
        catch (OverflowException)
        {
            outOfRange = true;
            return false;
        }
    }

    private static bool TryExponent(ReadOnlySpan<byte> text, ImportTimeFormat format, out long nanoseconds, out bool outOfRange)
    {
        nanoseconds = 0;
        outOfRange = false;
        if (text.IndexOfAny("eE"u8) < 0 || !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || !double.IsFinite(value))
        {
            return false;
        }

        var ns = value * UnitOf(format, (long)Math.Clamp(value, long.MinValue, long.MaxValue));
        if (ns is >= 9.2e18 or <= -9.2e18)
        {
            outOfRange = true;
            return false;
        }

        nanoseconds = (long)ns;
        return true;
    }

    /// <summary>
    /// <c>YYYY-MM-DD</c>, optionally <c>[T ]HH:MM:SS</c> with up to nine fraction digits and a zone (<c>Z</c>, <c>±HH:MM</c>,
    /// <c>±HHMM</c>, <c>±HH</c>); without a zone the time is UTC, as Arc reads it.
    /// </summary>
    internal static bool TryTimestamp(ReadOnlySpan<byte> s, out long nanoseconds)
    {
        nanoseconds = 0;
        if (s.Length < 10 || s[4] != '-' || s[7] != '-'
            || !Digits(s[..4], out var year) || !Digits(s.Slice(5, 2), out var month) || !Digits(s.Slice(8, 2), out var day))
        {
            return false;
        }

        int hour = 0, minute = 0, second = 0;
        long fraction = 0;
        var offsetMinutes = 0;
        var i = 10;
        if (i < s.Length)
        {
            if ((s[i] != 'T' && s[i] != ' ') || s.Length < i + 9 || s[i + 3] != ':' || s[i + 6] != ':'
                || !Digits(s.Slice(i + 1, 2), out hour) || !Digits(s.Slice(i + 4, 2), out minute) || !Digits(s.Slice(i + 7, 2), out second))
            {
                return false;
            }

            i += 9;
            if (i < s.Length && s[i] == '.')
            {
                i++;
                var start = i;
                long scale = 100_000_000;
                while (i < s.Length && s[i] is >= (byte)'0' and <= (byte)'9')
                {
                    fraction += (s[i] - '0') * scale;
                    scale /= 10;
                    i++;
                }

                if (i == start || i - start > 9)
                {
                    return false;
                }
            }

            if (i < s.Length)
            {
                if (s[i] == 'Z' && i == s.Length - 1)
                {
                    i++;
                }
                else if (s[i] is (byte)'+' or (byte)'-')
                {
                    var sign = s[i] == '-' ? -1 : 1;
                    var zone = s[(i + 1)..];
                    int zoneHours, zoneMinutes = 0;
                    var ok = zone.Length switch
                    {
                        2 => Digits(zone, out zoneHours),
                        4 => Digits(zone[..2], out zoneHours) && Digits(zone[2..], out zoneMinutes),
                        5 => zone[2] == ':' & Digits(zone[..2], out zoneHours) & Digits(zone[3..], out zoneMinutes),
                        _ => Digits(default, out zoneHours),
                    };
                    if (!ok || zoneHours > 23 || zoneMinutes > 59)
                    {
                        return false;
                    }

                    offsetMinutes = sign * (zoneHours * 60 + zoneMinutes);
                    i = s.Length;
                }
                else
                {
                    return false;
                }
            }
        }

        if (i != s.Length || month is < 1 or > 12 || day < 1 || year < 1 || day > DateTime.DaysInMonth(year, month)
            || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        var ticks = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).Ticks - DateTime.UnixEpoch.Ticks;
        try
        {
            nanoseconds = checked((ticks - offsetMinutes * TimeSpan.TicksPerMinute) * 100 + fraction);
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    private static bool Digits(ReadOnlySpan<byte> s, out int value)
    {
        value = 0;
        if (s.IsEmpty)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (c is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = value * 10 + (c - '0');
        }

        return true;
    }

    /// <summary>A value quoted in an error message, cut at 64 characters.</summary>
    internal static string Show(ReadOnlySpan<byte> value)
    {
        var text = Encoding.UTF8.GetString(value[..Math.Min(value.Length, 64)]);
        return value.Length > 64 ? text + "..." : text;
    }
}

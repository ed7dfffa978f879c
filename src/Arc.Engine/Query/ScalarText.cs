using System.Buffers.Text;
using System.Globalization;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>
/// UTF-8 text of DuckDB scalar values, allocation-free, with the same spelling as the JSON output (RFC 3339 timestamps
/// keeping nanoseconds, exact decimals, ISO 8601 durations, canonical UUIDs). Used by the CSV writer, and by the msgpack
/// writer for the types it sends as text.
/// </summary>
internal static unsafe class ScalarText
{
    /// <summary>Longest text any method here produces.</summary>
    public const int MaxLength = 64;

    /// <summary>A date or timestamp; DuckDB's infinite values (the storage type's extremes) as <c>infinity</c>/<c>-infinity</c>.</summary>
    public static int Temporal(DuckDBType type, long value, Span<byte> destination)
    {
        var infinity = type == DuckDBType.Date ? int.MaxValue : long.MaxValue;
        if (value == infinity || value == -infinity)
        {
            var text = value > 0 ? "infinity"u8 : "-infinity"u8;
            text.CopyTo(destination);
            return text.Length;
        }

        return type switch
        {
            DuckDBType.Date => TemporalFormat.FormatDate(value, destination),
            DuckDBType.TimestampNs => TemporalFormat.FormatNanos(value, destination),
            DuckDBType.TimestampMs => TemporalFormat.FormatMillis(value, destination),
            DuckDBType.TimestampS => TemporalFormat.FormatTimestamp(value, 0, destination),
            _ => TemporalFormat.FormatMicros(value, destination),
        };
    }

    public static Int128 ReadInt128(byte* data, long row)
    {
        var lower = ((ulong*)data)[row * 2];
        var upper = ((long*)data)[(row * 2) + 1];
        return new Int128((ulong)upper, lower);
    }

    /// <summary>A DECIMAL's unscaled value.</summary>
    public static Int128 DecimalUnscaled(DuckDBType storage, byte* data, long row) => storage switch
    {
        DuckDBType.SmallInt => ((short*)data)[row],
        DuckDBType.Integer => ((int*)data)[row],
        DuckDBType.BigInt => ((long*)data)[row],
        _ => ReadInt128(data, row),
    };

    /// <summary><paramref name="unscaled"/> × 10^-scale, exactly (<c>-0.050</c>).</summary>
    public static int Decimal(Int128 unscaled, int scale, Span<byte> destination)
    {
        Span<byte> digits = stackalloc byte[48];
        var negative = Int128.IsNegative(unscaled);
        var magnitude = negative ? (UInt128)(-(unscaled + 1)) + 1 : (UInt128)unscaled;
        magnitude.TryFormat(digits, out var count, default, CultureInfo.InvariantCulture);
        var length = 0;
        if (negative)
        {
            destination[length++] = (byte)'-';
        }

        var body = digits[..count];
        var whole = count - scale;
        if (scale == 0)
        {
            body.CopyTo(destination[length..]);
            return length + count;
        }

        if (whole <= 0)
        {
            destination[length++] = (byte)'0';
            destination[length++] = (byte)'.';
            destination.Slice(length, -whole).Fill((byte)'0');
            length += -whole;
            body.CopyTo(destination[length..]);
            return length + count;
        }

        body[..whole].CopyTo(destination[length..]);
        length += whole;
        destination[length++] = (byte)'.';
        body[whole..].CopyTo(destination[length..]);
        return length + scale;
    }

    /// <summary>ISO 8601 duration: <c>P{months}M{days}DT{seconds}S</c>, each part only when non-zero.</summary>
    public static int Interval(byte* value, Span<byte> destination)
    {
        var months = *(int*)value;
        var days = *(int*)(value + 4);
        var micros = *(long*)(value + 8);
        var length = 0;
        destination[length++] = (byte)'P';
        if (months != 0)
        {
            Utf8Formatter.TryFormat(months, destination[length..], out var n);
            length += n;
            destination[length++] = (byte)'M';
        }

        if (days != 0)
        {
            Utf8Formatter.TryFormat(days, destination[length..], out var n);
            length += n;
            destination[length++] = (byte)'D';
        }

        if (micros != 0 || length == 1)
        {
            destination[length++] = (byte)'T';
            Utf8Formatter.TryFormat(micros / 1_000_000m, destination[length..], out var n);
            length += n;
            destination[length++] = (byte)'S';
        }

        return length;
    }

    /// <summary>A UUID (DuckDB stores it as a hugeint with the top bit flipped) as 36 characters.</summary>
    public static int Uuid(Int128 stored, Span<byte> destination)
    {
        var value = (UInt128)stored ^ (UInt128.One << 127);
        Span<byte> hex = stackalloc byte[32];
        for (var i = 31; i >= 0; i--)
        {
            hex[i] = (byte)"0123456789abcdef"[(int)(value & 0xF)];
            value >>= 4;
        }

        hex[..8].CopyTo(destination);
        destination[8] = (byte)'-';
        hex[8..12].CopyTo(destination[9..]);
        destination[13] = (byte)'-';
        hex[12..16].CopyTo(destination[14..]);
        destination[18] = (byte)'-';
        hex[16..20].CopyTo(destination[19..]);
        destination[23] = (byte)'-';
        hex[20..].CopyTo(destination[24..]);
        return 36;
    }

    /// <summary>An ENUM value's dictionary index.</summary>
    public static int EnumIndex(DuckDBType storage, byte* data, long row) => storage switch
    {
        DuckDBType.UnsignedTinyInt => data[row],
        DuckDBType.UnsignedSmallInt => ((ushort*)data)[row],
        _ => (int)((uint*)data)[row],
    };
}

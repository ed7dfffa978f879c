using System.Buffers.Binary;

namespace Arc.Protocol.MessagePack;

/// <summary>
/// Times of MessagePack records. An integer or float epoch has its unit detected from its magnitude, value by value (as
/// Arc does): below 1e10 seconds, below 1e13 milliseconds, below 1e16 microseconds, else nanoseconds. The magnitude is the
/// absolute value, so a negative epoch has the unit of its positive mirror (−1e12 is milliseconds like 1e12: both sides of
/// the epoch by the same span). The timestamp extension (type -1, as JavaScript and other encoders write dates) is exact.
/// Everything becomes Unix nanoseconds; the decoder then keeps only times in <see cref="TimestampRange"/>.
/// </summary>
public static class MsgPackTime
{
    /// <summary>The timestamp extension type of the MessagePack spec.</summary>
    public const sbyte TimestampExtension = -1;

    /// <summary>Nanoseconds from an integer epoch in s, ms, µs or ns; false when it does not fit in 64 bits as ns.</summary>
    public static bool TryFromInteger(long value, out long nanoseconds)
    {
        var magnitude = value < 0 ? (ulong)(-(value + 1)) + 1 : (ulong)value;
        var scale = Scale(magnitude);
        var high = Math.BigMul(value, scale, out nanoseconds);
        return high == (nanoseconds >> 63);
    }

    /// <summary>Nanoseconds from a float epoch (finite) in s, ms, µs or ns, rounded to the nearest nanosecond.</summary>
    public static bool TryFromDouble(double value, out long nanoseconds)
    {
        nanoseconds = 0;
        if (!double.IsFinite(value))
        {
            return false;
        }

        // Whole units and the fraction apart, so whole values are exact (a double has 53 bits; 1.7e18 ns does not fit them).
        var magnitude = Math.Abs(value);
        if (magnitude >= 9.3e18)
        {
            return false;
        }

        var scale = Scale((ulong)magnitude);
        var whole = Math.Truncate(value);
        var high = Math.BigMul((long)whole, scale, out var wholeNanoseconds);
        if (high != (wholeNanoseconds >> 63))
        {
            return false;
        }

        var fraction = (long)Math.Round((value - whole) * scale);
        nanoseconds = wholeNanoseconds + fraction;
        return (fraction >= 0) == (nanoseconds >= wholeNanoseconds);
    }

    /// <summary>
    /// Nanoseconds from the data of a timestamp extension (4, 8 or 12 bytes); false when the data is malformed. An instant
    /// beyond 64-bit nanoseconds saturates to <see cref="long.MinValue"/> or <see cref="long.MaxValue"/> (both outside
    /// <see cref="TimestampRange"/>, so the caller reports it as out of range, not as malformed).
    /// </summary>
    public static bool TryFromExtension(ReadOnlySpan<byte> data, out long nanoseconds)
    {
        nanoseconds = 0;
        long seconds;
        long nanos;
        switch (data.Length)
        {
            case 4:
                seconds = BinaryPrimitives.ReadUInt32BigEndian(data);
                nanos = 0;
                break;
            case 8:
                var bits = BinaryPrimitives.ReadUInt64BigEndian(data);
                nanos = (long)(bits >> 34);
                seconds = (long)(bits & 0x3_ffff_ffffUL);
                break;
            case 12:
                nanos = BinaryPrimitives.ReadUInt32BigEndian(data);
                seconds = BinaryPrimitives.ReadInt64BigEndian(data[4..]);
                break;
            default:
                return false;
        }

        if (nanos >= 1_000_000_000)
        {
            return false;
        }

        var high = Math.BigMul(seconds, 1_000_000_000L, out var low);
        nanoseconds = high != (low >> 63) ? (seconds < 0 ? long.MinValue : long.MaxValue)
            : low > long.MaxValue - nanos ? long.MaxValue // nanos >= 0
            : low + nanos;
        return true;
    }

    private static long Scale(ulong magnitude) => magnitude switch
    {
        < 10_000_000_000UL => 1_000_000_000L,
        < 10_000_000_000_000UL => 1_000_000L,
        < 10_000_000_000_000_000UL => 1_000L,
        _ => 1L,
    };
}

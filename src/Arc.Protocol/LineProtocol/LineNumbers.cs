using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Arc.Protocol.LineProtocol;

/// <summary>Outcome of converting a value token.</summary>
internal enum NumberStatus : byte
{
    Ok,
    Invalid,
    OutOfRange,
}

/// <summary>Value conversions for line protocol: syntax is checked here, before any BCL parser sees the bytes.</summary>
internal static partial class LineNumbers
{
    /// <summary>Largest integer that every double represents exactly (2^53).</summary>
    private const ulong MaxExactMantissa = 1UL << 53;

    private const NumberStyles FloatStyles =
        NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent;

    /// <summary>Exactly representable powers of ten, 10^0 .. 10^22.</summary>
    /// <remarks>
    /// A static array, not a <c>ReadOnlySpan</c> property over RVA data: unoptimised (Debug) code does not expand
    /// <c>RuntimeHelpers.CreateSpan</c> and its fallback allocates on every call, which the allocation tests catch.
    /// </remarks>
    private static readonly double[] ExactPowersOfTen =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>
    /// Parses unsigned decimal digits (at least one). Overflow is reported only when every byte is a digit, so a
    /// malformed token is <see cref="NumberStatus.Invalid"/> however long it is.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static NumberStatus ParseDigits(ReadOnlySpan<byte> digits, out ulong value)
    {
        value = 0;
        if (digits.IsEmpty)
        {
            return NumberStatus.Invalid;
        }

        ulong acc = 0;
        if (digits.Length <= 19)
        {
            // At most 19 digits always fit: no overflow checks; eight digits at a time while possible.
            var i = 0;
            for (; i + 8 <= digits.Length; i += 8)
            {
                if (!TryParseEightDigits(digits[i..], out var eight))
                {
                    return NumberStatus.Invalid;
                }

                acc = (acc * 100_000_000) + eight;
            }

            for (; i < digits.Length; i++)
            {
                var d = (uint)(digits[i] - '0');
                if (d > 9)
                {
                    return NumberStatus.Invalid;
                }

                acc = (acc * 10) + d;
            }

            value = acc;
            return NumberStatus.Ok;
        }

        var overflow = false;
        foreach (var b in digits)
        {
            var d = (uint)(b - '0');
            if (d > 9)
            {
                return NumberStatus.Invalid;
            }

            // ulong.MaxValue = 18446744073709551615
            if (acc > 1844674407370955161UL || (acc == 1844674407370955161UL && d > 5))
            {
                overflow = true;
            }

            acc = unchecked((acc * 10) + d);
        }

        if (overflow)
        {
            return NumberStatus.OutOfRange;
        }

        value = acc;
        return NumberStatus.Ok;
    }

    /// <summary>Parses <c>-?digits</c> (InfluxDB accepts no leading <c>+</c>) into a signed 64-bit integer.</summary>
    public static NumberStatus ParseInt64(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        var negative = !text.IsEmpty && text[0] == (byte)'-';
        var status = ParseDigits(negative ? text[1..] : text, out var magnitude);
        if (status != NumberStatus.Ok)
        {
            return status;
        }

        if (negative)
        {
            if (magnitude > 1UL << 63)
            {
                return NumberStatus.OutOfRange;
            }

            value = unchecked(-(long)magnitude);
        }
        else
        {
            if (magnitude > long.MaxValue)
            {
                return NumberStatus.OutOfRange;
            }

            value = (long)magnitude;
        }

        return NumberStatus.Ok;
    }

    /// <summary>
    /// Parses a float as InfluxDB does: <c>-?</c> digits, optional <c>.</c> and fraction (at least one digit in all),
    /// optional exponent <c>[eE][+-]?digits</c>. No leading <c>+</c>, NaN, infinity, hex or digit separators. A value
    /// that overflows a double is out of range. Always correctly rounded: Clinger's exact fast path (mantissa ≤ 2^53,
    /// |exp10| ≤ 22: one correctly rounded IEEE operation), then Eisel-Lemire for up to 19 significant digits, then
    /// <see cref="double.TryParse(ReadOnlySpan{byte}, NumberStyles, IFormatProvider?, out double)"/> for the rest.
    /// </summary>
    public static NumberStatus ParseFloat(ReadOnlySpan<byte> text, out double value)
    {
        value = 0;
        var i = 0;
        var negative = false;
        if (!text.IsEmpty && text[0] == (byte)'-')
        {
            negative = true;
            i = 1;
        }

        ulong mantissa = 0;
        var significant = 0;     // digits accumulated in mantissa, after leading zeros
        var exact = true;        // false once more than 19 significant digits were seen
        var digits = 0;
        var exponent = 0;        // decimal exponent to apply to mantissa

        // Eight digits at a time while they surely fit (counting them all as significant is conservative: at worst
        // a long number with leading zeros takes the slow path).
        while (significant <= 11 && i + 8 <= text.Length && TryParseEightDigits(text[i..], out var eight))
        {
            mantissa = (mantissa * 100_000_000) + eight;
            significant = mantissa == 0 ? 0 : significant + 8;
            digits += 8;
            i += 8;
        }

        for (; (uint)i < (uint)text.Length; i++)
        {
            var d = (uint)(text[i] - '0');
            if (d > 9)
            {
                break;
            }

            digits++;
            if (significant < 19)
            {
                if (mantissa != 0 || d != 0)
                {
                    mantissa = (mantissa * 10) + d;
                    significant++;
                }
            }
            else
            {
                exact = false;
            }
        }

        if ((uint)i < (uint)text.Length && text[i] == (byte)'.')
        {
            i++;
            while (significant <= 11 && i + 8 <= text.Length && TryParseEightDigits(text[i..], out var eight))
            {
                mantissa = (mantissa * 100_000_000) + eight;
                significant = mantissa == 0 ? 0 : significant + 8;
                digits += 8;
                exponent -= 8;
                i += 8;
            }

            for (; (uint)i < (uint)text.Length; i++)
            {
                var d = (uint)(text[i] - '0');
                if (d > 9)
                {
                    break;
                }

                digits++;
                if (significant < 19)
                {
                    if (mantissa != 0 || d != 0)
                    {
                        mantissa = (mantissa * 10) + d;
                        significant++;
                    }

                    exponent--;
                }
                else
                {
                    exact = false;
                }
            }
        }

        if (digits == 0)
        {
            return NumberStatus.Invalid;
        }

        if ((uint)i < (uint)text.Length && (text[i] | 0x20) == (byte)'e')
        {
            i++;
            var expNegative = false;
            if ((uint)i < (uint)text.Length && (text[i] == (byte)'-' || text[i] == (byte)'+'))
            {
                expNegative = text[i] == (byte)'-';
                i++;
            }

            var expDigits = 0;
            var exp = 0;
            for (; (uint)i < (uint)text.Length; i++)
            {
                var d = (uint)(text[i] - '0');
                if (d > 9)
                {
                    break;
                }

                expDigits++;
                if (exp < 100_000)
                {
                    exp = (exp * 10) + (int)d;
                }
            }

            if (expDigits == 0)
            {
                return NumberStatus.Invalid;
            }

            exponent += expNegative ? -exp : exp;
        }

        if (i != text.Length)
        {
            return NumberStatus.Invalid;
        }

        if (exact && mantissa <= MaxExactMantissa && exponent >= -22 && exponent <= 22)
        {
            double m = mantissa;
            m = exponent < 0 ? m / ExactPowersOfTen[-exponent] : m * ExactPowersOfTen[exponent];
            value = negative ? -m : m;
            return NumberStatus.Ok;
        }

        if (exact && TryEiselLemire(mantissa, exponent, negative, out value))
        {
            return NumberStatus.Ok;
        }

        return ParseFloatSlow(text, out value);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static NumberStatus ParseFloatSlow(ReadOnlySpan<byte> text, out double value)
    {
        // NumberFormatInfo.InvariantInfo, not CultureInfo.InvariantCulture: with the latter the UTF-8 overload allocates.
        if (!double.TryParse(text, FloatStyles, NumberFormatInfo.InvariantInfo, out value))
        {
            return NumberStatus.Invalid;
        }

        return double.IsFinite(value) ? NumberStatus.Ok : NumberStatus.OutOfRange;
    }

    /// <summary>
    /// Converts the first eight bytes of <paramref name="text"/> (at least eight long) if they are all ASCII digits,
    /// with SWAR arithmetic on one 64-bit load (fast_float's parse_eight_digits_unrolled).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryParseEightDigits(ReadOnlySpan<byte> text, out uint value)
    {
        var chunk = BinaryPrimitives.ReadUInt64LittleEndian(text);
        if ((chunk & 0xF0F0F0F0F0F0F0F0UL) != 0x3030303030303030UL
            || ((chunk + 0x0606060606060606UL) & 0xF0F0F0F0F0F0F0F0UL) != 0x3030303030303030UL)
        {
            value = 0;
            return false;
        }

        chunk -= 0x3030303030303030UL;
        chunk = (chunk * 10) + (chunk >> 8);
        chunk = (((chunk & 0x000000FF000000FFUL) * (100 + (1000000UL << 32)))
                 + (((chunk >> 16) & 0x000000FF000000FFUL) * (1 + (10000UL << 32)))) >> 32;
        value = (uint)chunk;
        return true;
    }

    /// <summary>
    /// Eisel-Lemire: the correctly rounded double nearest to <paramref name="mantissa"/> × 10^<paramref name="exp10"/>
    /// from one (rarely two) 64×64→128-bit multiplications by a truncated power of ten. Returns false in the rare
    /// cases it cannot decide (halfway ambiguity, subnormal or overflowing results); the caller then falls back.
    /// Port of Go's strconv.eiselLemire64 (https://nigeltao.github.io/blog/2020/eisel-lemire.html).
    /// </summary>
    private static bool TryEiselLemire(ulong mantissa, int exp10, bool negative, out double value)
    {
        value = 0;
        if (mantissa == 0)
        {
            value = negative ? -0.0 : 0.0;
            return true;
        }

        if (exp10 < DetailedPowersOfTenMinExp10 || exp10 > DetailedPowersOfTenMaxExp10)
        {
            return false;
        }

        // Normalization.
        var clz = BitOperations.LeadingZeroCount(mantissa);
        mantissa <<= clz;
        var retExp2 = unchecked((ulong)(((217706 * exp10) >> 16) + 64 + 1023) - (ulong)clz);

        // Multiplication.
        var index = 2 * (exp10 - DetailedPowersOfTenMinExp10);
        var powers = DetailedPowersOfTen;
        var xHi = Math.BigMul(mantissa, powers[index + 1], out var xLo);

        // Wider approximation.
        if ((xHi & 0x1FF) == 0x1FF && unchecked(xLo + mantissa) < mantissa)
        {
            var yHi = Math.BigMul(mantissa, powers[index], out var yLo);
            var mergedHi = xHi;
            var mergedLo = unchecked(xLo + yHi);
            if (mergedLo < xLo)
            {
                mergedHi++;
            }

            if ((mergedHi & 0x1FF) == 0x1FF && unchecked(mergedLo + 1) == 0 && unchecked(yLo + mantissa) < mantissa)
            {
                return false;
            }

            xHi = mergedHi;
            xLo = mergedLo;
        }

        // Shifting to 54 bits.
        var msb = xHi >> 63;
        var retMantissa = xHi >> (int)(msb + 9);
        retExp2 = unchecked(retExp2 - (1 ^ msb));

        // Half-way ambiguity.
        if (xLo == 0 && (xHi & 0x1FF) == 0 && (retMantissa & 3) == 1)
        {
            return false;
        }

        // From 54 to 53 bits.
        retMantissa += retMantissa & 1;
        retMantissa >>= 1;
        if (retMantissa >> 53 > 0)
        {
            retMantissa >>= 1;
            retExp2++;
        }

        // Zero/underflow (subnormal) or 0x7FF and above (infinity): let the slow path decide.
        if (unchecked(retExp2 - 1) >= 0x7FF - 1)
        {
            return false;
        }

        var bits = (retExp2 << 52) | (retMantissa & 0x000F_FFFF_FFFF_FFFFUL);
        if (negative)
        {
            bits |= 0x8000_0000_0000_0000UL;
        }

        value = BitConverter.UInt64BitsToDouble(bits);
        return true;
    }

    /// <summary>Parses a boolean: <c>t T true True TRUE f F false False FALSE</c>.</summary>
    public static bool TryParseBoolean(ReadOnlySpan<byte> text, out bool value)
    {
        switch (text.Length)
        {
            case 1:
                value = text[0] is (byte)'t' or (byte)'T';
                return value || text[0] is (byte)'f' or (byte)'F';
            case 4:
                value = true;
                return text.SequenceEqual("true"u8) || text.SequenceEqual("True"u8) || text.SequenceEqual("TRUE"u8);
            case 5:
                value = false;
                return text.SequenceEqual("false"u8) || text.SequenceEqual("False"u8) || text.SequenceEqual("FALSE"u8);
            default:
                value = false;
                return false;
        }
    }
}

using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Arc.Protocol.MessagePack;

/// <summary>
/// A forward-only MessagePack reader over a span that holds the whole document (a request body is read and, if need be,
/// decompressed into memory first, bounded by the configured cap). Values are returned as spans into the input: nothing
/// is allocated. Every declared length is checked against the bytes that remain before anything is done with it (an array
/// of n elements needs at least n bytes, a map of n pairs 2n), so a hostile header cannot make a caller reserve memory.
/// Malformed input throws <see cref="MsgPackFormatException"/> with the offset of the offending value; the reader is a
/// value type, so a copy is a saved position.
/// </summary>
public ref struct MsgPackReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private int _position;

    public MsgPackReader(ReadOnlySpan<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
    }

    /// <summary>Offset of the next byte to read.</summary>
    public int Position
    {
        readonly get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, _buffer.Length);
            _position = value;
        }
    }

    /// <summary>Bytes left after <see cref="Position"/>.</summary>
    public readonly int Remaining => _buffer.Length - _position;

    /// <summary>Whether every byte was read.</summary>
    public readonly bool End => _position >= _buffer.Length;

    /// <summary>The type of the next value (without consuming it).</summary>
    public readonly MsgPackType PeekType()
    {
        var code = PeekCode();
        var type = TypeOf(code);
        if (code == Codes.NeverUsed)
        {
            MsgPackThrow.Malformed(_position, "invalid byte 0xc1 (never used in MessagePack)");
        }

        return type;
    }

    /// <summary>Consumes a nil and returns true, or returns false and consumes nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadNil()
    {
        if (PeekCode() == Codes.Nil)
        {
            _position++;
            return true;
        }

        return false;
    }

    public bool ReadBoolean()
    {
        var code = PeekCode();
        if (code is not (Codes.False or Codes.True))
        {
            MsgPackThrow.WrongType(_position, "a boolean", code);
        }

        _position++;
        return code == Codes.True;
    }

    /// <summary>Reads any integer that fits in a signed 64-bit value.</summary>
    public long ReadInt64()
    {
        var start = _position;
        var value = ReadIntegerBits(out var large);
        if (large)
        {
            MsgPackThrow.Malformed(start, $"integer {value} does not fit in a signed 64-bit value");
        }

        return (long)value;
    }

    /// <summary>Reads any non-negative integer.</summary>
    public ulong ReadUInt64()
    {
        var start = _position;
        var value = ReadIntegerBits(out var large);
        if (!large && (long)value < 0)
        {
            MsgPackThrow.Malformed(start, $"integer {(long)value} is negative where an unsigned value is expected");
        }

        return value;
    }

    /// <summary>Reads a float32 or float64 (integers are not floats here: see <see cref="ReadNumberAsDouble"/>).</summary>
    public double ReadDouble()
    {
        var code = PeekCode();
        if (code == Codes.Float64)
        {
            Need(9);
            var value = BinaryPrimitives.ReadDoubleBigEndian(_buffer.Slice(_position + 1, 8));
            _position += 9;
            return value;
        }

        if (code == Codes.Float32)
        {
            Need(5);
            var value = BinaryPrimitives.ReadSingleBigEndian(_buffer.Slice(_position + 1, 4));
            _position += 5;
            return value;
        }

        MsgPackThrow.WrongType(_position, "a float", code);
        return 0;
    }

    /// <summary>Reads a float or an integer as a double (large integers are rounded to the nearest double).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double ReadNumberAsDouble()
    {
        if ((uint)_position < (uint)_buffer.Length && _buffer[_position] == Codes.Float64 && _buffer.Length - _position >= 9)
        {
            var value = BinaryPrimitives.ReadDoubleBigEndian(_buffer.Slice(_position + 1, 8));
            _position += 9;
            return value;
        }

        return ReadNumberAsDoubleSlow();
    }

    /// <summary>
    /// Reads consecutive float64 values into <paramref name="destination"/> until it is full or the next value is anything
    /// else (or truncated); returns how many it read. The bulk form of <see cref="ReadNumberAsDouble"/> for a float column.
    /// </summary>
    public int ReadFloat64Run(scoped Span<double> destination)
    {
        var buffer = _buffer;
        var position = _position;
        var count = 0;
        while (count < destination.Length && buffer.Length - position >= 9 && buffer[position] == Codes.Float64)
        {
            destination[count++] = BinaryPrimitives.ReadDoubleBigEndian(buffer.Slice(position + 1, 8));
            position += 9;
        }

        _position = position;
        return count;
    }

    /// <summary>
    /// Skips up to <paramref name="max"/> consecutive float64 values, stopping at anything else or one cut short; returns
    /// how many it skipped.
    /// </summary>
    public int SkipFloat64Run(int max)
    {
        var buffer = _buffer;
        var position = _position;
        var count = 0;
        while (count < max && buffer.Length - position >= 9 && buffer[position] == Codes.Float64)
        {
            position += 9;
            count++;
        }

        _position = position;
        return count;
    }

    /// <summary>Reads a string (the str family) as UTF-8 bytes, not validated.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> ReadString()
    {
        var start = _position;
        var code = PeekCode();
        int length;
        int header;
        if ((code & 0xe0) == 0xa0)
        {
            length = code & 0x1f;
            header = 1;
        }
        else
        {
            length = ReadLengthSlow(code, Codes.Str8, "a string", out header);
        }

        var end = (long)start + header + length;
        if (end > _buffer.Length)
        {
            MsgPackThrow.Truncated(start, header + (long)length, Remaining);
        }

        _position = (int)end;
        return _buffer.Slice(start + header, length);
    }

    /// <summary>Reads a binary value (the bin family).</summary>
    public ReadOnlySpan<byte> ReadBinary()
    {
        var start = _position;
        var length = ReadLengthSlow(PeekCode(), Codes.Bin8, "binary data", out var header);
        if ((long)start + header + length > _buffer.Length)
        {
            MsgPackThrow.Truncated(start, header + (long)length, Remaining);
        }

        _position = start + header + length;
        return _buffer.Slice(start + header, length);
    }

    /// <summary>Reads an extension value: its type code and its data.</summary>
    public ReadOnlySpan<byte> ReadExtension(out sbyte type)
    {
        var start = _position;
        var code = PeekCode();
        int length;
        int header;
        switch (code)
        {
            case Codes.FixExt1:
                (length, header) = (1, 2);
                break;
            case Codes.FixExt2:
                (length, header) = (2, 2);
                break;
            case Codes.FixExt4:
                (length, header) = (4, 2);
                break;
            case Codes.FixExt8:
                (length, header) = (8, 2);
                break;
            case Codes.FixExt16:
                (length, header) = (16, 2);
                break;
            case Codes.Ext8:
                Need(2);
                (length, header) = (_buffer[start + 1], 3);
                break;
            case Codes.Ext16:
                Need(3);
                (length, header) = (BinaryPrimitives.ReadUInt16BigEndian(_buffer.Slice(start + 1, 2)), 4);
                break;
            case Codes.Ext32:
                Need(5);
                var length32 = BinaryPrimitives.ReadUInt32BigEndian(_buffer.Slice(start + 1, 4));
                if (length32 > int.MaxValue)
                {
                    MsgPackThrow.Truncated(start, 6 + (long)length32, Remaining);
                }

                (length, header) = ((int)length32, 6);
                break;
            default:
                MsgPackThrow.WrongType(start, "an extension", code);
                type = 0;
                return default;
        }

        if ((long)start + header + length > _buffer.Length)
        {
            MsgPackThrow.Truncated(start, header + (long)length, Remaining);
        }

        type = unchecked((sbyte)_buffer[start + header - 1]);
        _position = start + header + length;
        return _buffer.Slice(start + header, length);
    }

    /// <summary>
    /// Reads an array header. The count is checked against the remaining bytes (each element takes at least one), so it
    /// is safe to size something by it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ReadArrayHeader()
    {
        var start = _position;
        var code = PeekCode();
        long count;
        if ((code & 0xf0) == 0x90)
        {
            count = code & 0x0f;
            _position++;
        }
        else
        {
            count = ReadContainerHeaderSlow(code, Codes.Array16, "an array");
        }

        if (count > Remaining)
        {
            MsgPackThrow.Malformed(start, string.Create(CultureInfo.InvariantCulture,
                $"truncated: the array at offset {start} declares {count} elements but only {Remaining} bytes remain"));
        }

        return (int)count;
    }

    /// <summary>Reads a map header; the count of pairs is checked against the remaining bytes (two per pair at least).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ReadMapHeader()
    {
        var start = _position;
        var code = PeekCode();
        long count;
        if ((code & 0xf0) == 0x80)
        {
            count = code & 0x0f;
            _position++;
        }
        else
        {
            count = ReadContainerHeaderSlow(code, Codes.Map16, "a map");
        }

        if (count * 2 > Remaining)
        {
            MsgPackThrow.Malformed(start, string.Create(CultureInfo.InvariantCulture,
                $"truncated: the map at offset {start} declares {count} entries but only {Remaining} bytes remain"));
        }

        return (int)count;
    }

    /// <summary>
    /// Skips one value of any type, however nested, without recursion: an explicit stack of pending element counts,
    /// at most <paramref name="maxDepth"/> deep.
    /// </summary>
    public void Skip(int maxDepth = 32)
    {
        // One slot per open container: how many values it still holds. The slots are written before they are read.
        Span<long> pending = stackalloc long[64];
        maxDepth = Math.Clamp(maxDepth, 1, pending.Length);
        var depth = 0;
        while (true)
        {
            var start = _position;
            var code = PeekCode();
            var size = FixedSizes[code];
            long children = 0;
            if (size > 0)
            {
                Need(size);
                _position += size;
                if (depth > 0)
                {
                    SkipFixedRun(ref pending[depth - 1]);
                }
            }
            else if ((code & 0xf0) == 0x90 || code is Codes.Array16 or Codes.Array32)
            {
                children = ReadArrayHeader();
            }
            else if ((code & 0xf0) == 0x80 || code is Codes.Map16 or Codes.Map32)
            {
                children = ReadMapHeader() * 2L;
            }
            else
            {
                SkipScalar();
            }

            if (children > 0)
            {
                if (depth == maxDepth)
                {
                    MsgPackThrow.Malformed(start, $"nesting deeper than {maxDepth} levels");
                }

                pending[depth++] = children;
                continue;
            }

            // A value is complete: count it against the innermost open containers.
            while (true)
            {
                if (depth == 0)
                {
                    return;
                }

                if (--pending[depth - 1] > 0)
                {
                    break;
                }

                depth--;
            }
        }
    }

    /// <summary>
    /// After a fixed-size scalar of a container with <paramref name="left"/> values still to go (that one included): skips
    /// the fixed-size scalars that follow it in one loop (a column of floats, integers or short strings), leaving the first
    /// value of another form, or one that is cut short, to <see cref="Skip"/>'s loop and its checks.
    /// </summary>
    private void SkipFixedRun(ref long left)
    {
        var buffer = _buffer;
        var position = _position;
        while (left > 1 && (uint)position < (uint)buffer.Length)
        {
            var size = FixedSizes[buffer[position]];
            if (size == 0 || size > buffer.Length - position)
            {
                break;
            }

            position += size;
            left--;
        }

        _position = position;
    }

    /// <summary>Skips one value that is not an array or a map.</summary>
    public void SkipScalar()
    {
        var start = _position;
        var code = PeekCode();
        var size = ScalarSize(code);
        if (size > 0)
        {
            Need(size);
            _position += size;
            return;
        }

        switch (code)
        {
            case Codes.Str8 or Codes.Str16 or Codes.Str32 or Codes.Bin8 or Codes.Bin16 or Codes.Bin32:
                var length = ReadLengthSlow(code, code >= Codes.Str8 ? Codes.Str8 : Codes.Bin8, "a string", out var header);
                if ((long)start + header + length > _buffer.Length)
                {
                    MsgPackThrow.Truncated(start, header + (long)length, Remaining);
                }

                _position = start + header + length;
                return;
            case Codes.Ext8 or Codes.Ext16 or Codes.Ext32:
                ReadExtension(out _);
                return;
            case Codes.NeverUsed:
                MsgPackThrow.Malformed(start, "invalid byte 0xc1 (never used in MessagePack)");
                return;
            default:
                MsgPackThrow.WrongType(start, "a scalar value", code);
                return;
        }
    }

    /// <summary>The type family of a first byte.</summary>
    public static MsgPackType TypeOf(byte code) => code switch
    {
        <= 0x7f => MsgPackType.Integer,
        <= 0x8f => MsgPackType.Map,
        <= 0x9f => MsgPackType.Array,
        <= 0xbf => MsgPackType.String,
        Codes.Nil => MsgPackType.Nil,
        Codes.NeverUsed => MsgPackType.NeverUsed,
        Codes.False or Codes.True => MsgPackType.Boolean,
        Codes.Bin8 or Codes.Bin16 or Codes.Bin32 => MsgPackType.Binary,
        Codes.Ext8 or Codes.Ext16 or Codes.Ext32 => MsgPackType.Extension,
        Codes.Float32 or Codes.Float64 => MsgPackType.Float,
        >= Codes.UInt8 and <= Codes.Int64 => MsgPackType.Integer,
        >= Codes.FixExt1 and <= Codes.FixExt16 => MsgPackType.Extension,
        Codes.Str8 or Codes.Str16 or Codes.Str32 => MsgPackType.String,
        Codes.Array16 or Codes.Array32 => MsgPackType.Array,
        Codes.Map16 or Codes.Map32 => MsgPackType.Map,
        _ => MsgPackType.Integer, // negative fixint 0xe0..0xff
    };

    /// <summary>Words for a first byte in error messages: "a string", "a map", ...</summary>
    public static string DescribeCode(byte code) => TypeOf(code) switch
    {
        MsgPackType.NeverUsed => "the invalid byte 0xc1",
        MsgPackType.Nil => "nil",
        MsgPackType.Boolean => "a boolean",
        MsgPackType.Integer => "an integer",
        MsgPackType.Float => "a float",
        MsgPackType.String => "a string",
        MsgPackType.Binary => "binary data",
        MsgPackType.Array => "an array",
        MsgPackType.Map => "a map",
        _ => "an extension value",
    };

    /// <summary>The first byte of the next value; throws at the end of the input.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal readonly byte PeekCode()
    {
        if ((uint)_position >= (uint)_buffer.Length)
        {
            MsgPackThrow.Malformed(_position, $"truncated: a value is missing at offset {_position} (end of the body)");
        }

        return _buffer[_position];
    }

    /// <summary>
    /// Reads an integer of any width. Returns its bits; <paramref name="large"/> is true for a uint64 above 2^63-1
    /// (otherwise the bits are the signed value).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong ReadIntegerBits(out bool large)
    {
        var code = PeekCode();
        large = false;
        if (code <= 0x7f)
        {
            _position++;
            return code;
        }

        if (code >= 0xe0)
        {
            _position++;
            return unchecked((ulong)(sbyte)code);
        }

        return ReadIntegerBitsSlow(code, out large);
    }

    private ulong ReadIntegerBitsSlow(byte code, out bool large)
    {
        large = false;
        var p = _position;
        ulong value;
        switch (code)
        {
            case Codes.UInt8:
                Need(2);
                value = _buffer[p + 1];
                _position += 2;
                return value;
            case Codes.UInt16:
                Need(3);
                value = BinaryPrimitives.ReadUInt16BigEndian(_buffer.Slice(p + 1, 2));
                _position += 3;
                return value;
            case Codes.UInt32:
                Need(5);
                value = BinaryPrimitives.ReadUInt32BigEndian(_buffer.Slice(p + 1, 4));
                _position += 5;
                return value;
            case Codes.UInt64:
                Need(9);
                value = BinaryPrimitives.ReadUInt64BigEndian(_buffer.Slice(p + 1, 8));
                large = value > long.MaxValue;
                _position += 9;
                return value;
            case Codes.Int8:
                Need(2);
                value = unchecked((ulong)(sbyte)_buffer[p + 1]);
                _position += 2;
                return value;
            case Codes.Int16:
                Need(3);
                value = unchecked((ulong)BinaryPrimitives.ReadInt16BigEndian(_buffer.Slice(p + 1, 2)));
                _position += 3;
                return value;
            case Codes.Int32:
                Need(5);
                value = unchecked((ulong)BinaryPrimitives.ReadInt32BigEndian(_buffer.Slice(p + 1, 4)));
                _position += 5;
                return value;
            case Codes.Int64:
                Need(9);
                value = unchecked((ulong)BinaryPrimitives.ReadInt64BigEndian(_buffer.Slice(p + 1, 8)));
                _position += 9;
                return value;
            default:
                MsgPackThrow.WrongType(p, "an integer", code);
                return 0;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private double ReadNumberAsDoubleSlow()
    {
        var code = PeekCode();
        if (code is Codes.Float32 or Codes.Float64)
        {
            return ReadDouble();
        }

        if (TypeOf(code) != MsgPackType.Integer)
        {
            MsgPackThrow.WrongType(_position, "a number", code);
        }

        var bits = ReadIntegerBits(out var large);
        return large ? bits : (long)bits;
    }

    /// <summary>Length of a str/bin value from its 8/16/32-bit header (<paramref name="code8"/> is Str8 or Bin8).</summary>
    private readonly int ReadLengthSlow(byte code, byte code8, string expected, out int header)
    {
        var p = _position;
        if (code == code8)
        {
            Need(2);
            header = 2;
            return _buffer[p + 1];
        }

        if (code == code8 + 1)
        {
            Need(3);
            header = 3;
            return BinaryPrimitives.ReadUInt16BigEndian(_buffer.Slice(p + 1, 2));
        }

        if (code == code8 + 2)
        {
            Need(5);
            header = 5;
            var length = BinaryPrimitives.ReadUInt32BigEndian(_buffer.Slice(p + 1, 4));
            if (length > int.MaxValue)
            {
                MsgPackThrow.Truncated(p, 5 + (long)length, Remaining);
            }

            return (int)length;
        }

        MsgPackThrow.WrongType(p, expected, code);
        header = 0;
        return 0;
    }

    /// <summary>Count from an array16/32 or map16/32 header (<paramref name="code16"/> is Array16 or Map16); consumes the header.</summary>
    private long ReadContainerHeaderSlow(byte code, byte code16, string expected)
    {
        var p = _position;
        if (code == code16)
        {
            Need(3);
            _position += 3;
            return BinaryPrimitives.ReadUInt16BigEndian(_buffer.Slice(p + 1, 2));
        }

        if (code == code16 + 1)
        {
            Need(5);
            _position += 5;
            return BinaryPrimitives.ReadUInt32BigEndian(_buffer.Slice(p + 1, 4));
        }

        MsgPackThrow.WrongType(p, expected, code);
        return 0;
    }

    /// <summary>Total size of a fixed-size scalar from its first byte, or 0 for variable-size and container values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ScalarSize(byte code) => FixedSizes[code];

    /// <summary>
    /// Sizes of the fixed-size formats by first byte: fixints 1, fixstr 1 + length, nil/bool 1, (u)int8..64 2..9,
    /// float32 5, float64 9, fixext1..16 3..18; 0 for str8/16/32, bin, ext8/16/32, arrays, maps and 0xc1.
    /// </summary>
    private static ReadOnlySpan<byte> FixedSizes =>
    [
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
        1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 5, 9, 2, 3, 5, 9,
        2, 3, 5, 9, 3, 4, 6, 10, 18, 0, 0, 0, 0, 0, 0, 0,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly void Need(int bytes)
    {
        if (_buffer.Length - _position < bytes)
        {
            MsgPackThrow.Truncated(_position, bytes, Remaining);
        }
    }

    /// <summary>First bytes of the MessagePack formats (msgpack spec, "Formats").</summary>
    internal static class Codes
    {
        public const byte Nil = 0xc0;
        public const byte NeverUsed = 0xc1;
        public const byte False = 0xc2;
        public const byte True = 0xc3;
        public const byte Bin8 = 0xc4;
        public const byte Bin16 = 0xc5;
        public const byte Bin32 = 0xc6;
        public const byte Ext8 = 0xc7;
        public const byte Ext16 = 0xc8;
        public const byte Ext32 = 0xc9;
        public const byte Float32 = 0xca;
        public const byte Float64 = 0xcb;
        public const byte UInt8 = 0xcc;
        public const byte UInt16 = 0xcd;
        public const byte UInt32 = 0xce;
        public const byte UInt64 = 0xcf;
        public const byte Int8 = 0xd0;
        public const byte Int16 = 0xd1;
        public const byte Int32 = 0xd2;
        public const byte Int64 = 0xd3;
        public const byte FixExt1 = 0xd4;
        public const byte FixExt2 = 0xd5;
        public const byte FixExt4 = 0xd6;
        public const byte FixExt8 = 0xd7;
        public const byte FixExt16 = 0xd8;
        public const byte Str8 = 0xd9;
        public const byte Str16 = 0xda;
        public const byte Str32 = 0xdb;
        public const byte Array16 = 0xdc;
        public const byte Array32 = 0xdd;
        public const byte Map16 = 0xde;
        public const byte Map32 = 0xdf;
    }
}

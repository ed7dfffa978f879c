using System.Buffers.Binary;
using System.Text;

namespace Arc.Testing;

/// <summary>
/// A minimal MessagePack writer for building request bodies byte by byte (the encodings arc-native must accept, chosen
/// explicitly rather than by an encoder's preferences). Shared by the engine tests and the benchmarks.
/// </summary>
internal sealed class MsgPackBodyWriter
{
    private readonly MemoryStream _out = new();

    public byte[] ToArray() => _out.ToArray();

    public MsgPackBodyWriter Map(int count) => Header(0x80, 0xdf, count);

    public MsgPackBodyWriter Array(int count) => Header(0x90, 0xdd, count);

    /// <summary>A fixstr (at most 31 UTF-8 bytes).</summary>
    public MsgPackBodyWriter Str(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        if (bytes.Length > 31)
        {
            throw new ArgumentException($"'{value}' is longer than a fixstr", nameof(value));
        }

        _out.WriteByte((byte)(0xa0 | bytes.Length));
        _out.Write(bytes);
        return this;
    }

    public MsgPackBodyWriter Int64(long value)
    {
        Span<byte> bytes = stackalloc byte[9];
        bytes[0] = 0xd3;
        BinaryPrimitives.WriteInt64BigEndian(bytes[1..], value);
        _out.Write(bytes);
        return this;
    }

    public MsgPackBodyWriter Float64(double value)
    {
        Span<byte> bytes = stackalloc byte[9];
        bytes[0] = 0xcb;
        BinaryPrimitives.WriteDoubleBigEndian(bytes[1..], value);
        _out.Write(bytes);
        return this;
    }

    private MsgPackBodyWriter Header(byte fix, byte code32, int count)
    {
        if (count < 16)
        {
            _out.WriteByte((byte)(fix | count));
            return this;
        }

        Span<byte> bytes = stackalloc byte[5];
        bytes[0] = code32;
        BinaryPrimitives.WriteInt32BigEndian(bytes[1..], count);
        _out.Write(bytes);
        return this;
    }
}

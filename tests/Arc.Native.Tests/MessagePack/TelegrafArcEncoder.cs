using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Arc.Native.Tests.MessagePack;

/// <summary>
/// Encodes exactly as Telegraf's <c>outputs.arc</c> plugin does: it groups metrics by measurement into
/// <c>{"m": name, "columns": {field..., tag..., "time": [unix ms]}}</c> (nil where a metric lacks a column), sends one map
/// or an array of them, through tinylib/msgp's <c>Writer.WriteIntf</c> (int64 as the smallest signed form — fixint, int16,
/// int32, int64 — uint64 as the smallest unsigned, float64 always 0xcb, str as fixstr/str8/16/32), gzip-compressed.
/// </summary>
internal sealed class TelegrafArcEncoder
{
    private readonly MemoryStream _out = new();

    public static byte[] Gzip(byte[] body)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(body);
        }

        return output.ToArray();
    }

    public byte[] ToArray() => _out.ToArray();

    public TelegrafArcEncoder ArrayHeader(int count) => Header(count, 0x90, 0xdc);

    public TelegrafArcEncoder MapHeader(int count) => Header(count, 0x80, 0xde);

    public TelegrafArcEncoder String(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        if (bytes.Length <= 31)
        {
            _out.WriteByte((byte)(0xa0 | bytes.Length));
        }
        else if (bytes.Length <= byte.MaxValue)
        {
            _out.WriteByte(0xd9);
            _out.WriteByte((byte)bytes.Length);
        }
        else
        {
            _out.WriteByte(0xda);
            Big((ushort)bytes.Length);
        }

        _out.Write(bytes);
        return this;
    }

    /// <summary>msgp's WriteInt64.</summary>
    public TelegrafArcEncoder Int64(long value)
    {
        if (value >= 0)
        {
            if (value <= sbyte.MaxValue)
            {
                _out.WriteByte((byte)value);
            }
            else if (value <= short.MaxValue)
            {
                _out.WriteByte(0xd1);
                Big((ushort)value);
            }
            else if (value <= int.MaxValue)
            {
                _out.WriteByte(0xd2);
                Big((uint)value);
            }
            else
            {
                _out.WriteByte(0xd3);
                Big((ulong)value);
            }
        }
        else if (value >= -32)
        {
            _out.WriteByte(unchecked((byte)(sbyte)value));
        }
        else if (value >= sbyte.MinValue)
        {
            _out.WriteByte(0xd0);
            _out.WriteByte(unchecked((byte)(sbyte)value));
        }
        else if (value >= short.MinValue)
        {
            _out.WriteByte(0xd1);
            Big(unchecked((ushort)(short)value));
        }
        else if (value >= int.MinValue)
        {
            _out.WriteByte(0xd2);
            Big(unchecked((uint)(int)value));
        }
        else
        {
            _out.WriteByte(0xd3);
            Big(unchecked((ulong)value));
        }

        return this;
    }

    /// <summary>msgp's WriteUint64.</summary>
    public TelegrafArcEncoder UInt64(ulong value)
    {
        if (value <= 127)
        {
            _out.WriteByte((byte)value);
        }
        else if (value <= byte.MaxValue)
        {
            _out.WriteByte(0xcc);
            _out.WriteByte((byte)value);
        }
        else if (value <= ushort.MaxValue)
        {
            _out.WriteByte(0xcd);
            Big((ushort)value);
        }
        else if (value <= uint.MaxValue)
        {
            _out.WriteByte(0xce);
            Big((uint)value);
        }
        else
        {
            _out.WriteByte(0xcf);
            Big(value);
        }

        return this;
    }

    public TelegrafArcEncoder Float64(double value)
    {
        _out.WriteByte(0xcb);
        Big(BitConverter.DoubleToUInt64Bits(value));
        return this;
    }

    public TelegrafArcEncoder Bool(bool value)
    {
        _out.WriteByte(value ? (byte)0xc3 : (byte)0xc2);
        return this;
    }

    public TelegrafArcEncoder Nil()
    {
        _out.WriteByte(0xc0);
        return this;
    }

    private TelegrafArcEncoder Header(int count, byte fix, byte code16)
    {
        if (count <= 15)
        {
            _out.WriteByte((byte)(fix | count));
        }
        else if (count <= ushort.MaxValue)
        {
            _out.WriteByte(code16);
            Big((ushort)count);
        }
        else
        {
            _out.WriteByte((byte)(code16 + 1));
            Big((uint)count);
        }

        return this;
    }

    private void Big(ushort value)
    {
        Span<byte> bytes = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        _out.Write(bytes);
    }

    private void Big(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        _out.Write(bytes);
    }

    private void Big(ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        _out.Write(bytes);
    }
}

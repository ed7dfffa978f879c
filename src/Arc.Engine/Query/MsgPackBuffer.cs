using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Arc.Engine.Query;

/// <summary>
/// A growable byte buffer made of pooled segments, with MessagePack encoders that write straight into it (no per-value
/// allocation). Integers use the smallest encoding; timestamps use the MessagePack timestamp extension (type -1).
/// </summary>
internal sealed class MsgPackBuffer : IDisposable
{
    public const int SegmentSize = 64 * 1024;

    private readonly List<(byte[] Array, int Length)> _sealed = [];
    private byte[]? _current;
    private int _position;

    /// <summary>Bytes rented from the pool (what this buffer holds in memory).</summary>
    public long RentedBytes { get; private set; }

    /// <summary>Bytes written since the last <see cref="DrainTo"/>.</summary>
    public long WrittenBytes { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> GetSpan(int size)
    {
        if (_current is null || _current.Length - _position < size)
        {
            NewSegment(size);
        }

        return _current.AsSpan(_position);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance(int count)
    {
        _position += count;
        WrittenBytes += count;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void NewSegment(int size)
    {
        if (_current is not null)
        {
            if (_position > 0)
            {
                _sealed.Add((_current, _position));
            }
            else
            {
                Return(_current);
            }
        }

        _current = ArrayPool<byte>.Shared.Rent(Math.Max(SegmentSize, size));
        RentedBytes += _current.Length;
        _position = 0;
    }

    /// <summary>Hands every written segment to <paramref name="write"/> in order, then returns them to the pool.</summary>
    public void DrainTo<TState>(TState state, Action<TState, ReadOnlyMemory<byte>> write)
    {
        foreach (var (array, length) in _sealed)
        {
            write(state, array.AsMemory(0, length));
            Return(array);
        }

        _sealed.Clear();
        if (_current is not null && _position > 0)
        {
            write(state, _current.AsMemory(0, _position));
        }

        if (_current is not null)
        {
            Return(_current);
            _current = null;
        }

        _position = 0;
        WrittenBytes = 0;
    }

    /// <summary>Writes every segment to <paramref name="output"/> and returns them to the pool.</summary>
    public async ValueTask DrainToAsync(Stream output, CancellationToken cancellationToken)
    {
        foreach (var (array, length) in _sealed)
        {
            await output.WriteAsync(array.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            Return(array);
        }

        _sealed.Clear();
        if (_current is not null)
        {
            if (_position > 0)
            {
                await output.WriteAsync(_current.AsMemory(0, _position), cancellationToken).ConfigureAwait(false);
            }

            Return(_current);
            _current = null;
        }

        _position = 0;
        WrittenBytes = 0;
    }

    private void Return(byte[] array)
    {
        RentedBytes -= array.Length;
        ArrayPool<byte>.Shared.Return(array);
    }

    public void Dispose()
    {
        foreach (var (array, _) in _sealed)
        {
            Return(array);
        }

        _sealed.Clear();
        if (_current is not null)
        {
            Return(_current);
            _current = null;
        }
    }

    // MessagePack encoders (https://github.com/msgpack/msgpack/blob/master/spec.md).

    public void WriteNil()
    {
        GetSpan(1)[0] = 0xc0;
        Advance(1);
    }

    public void WriteBool(bool value)
    {
        GetSpan(1)[0] = value ? (byte)0xc3 : (byte)0xc2;
        Advance(1);
    }

    public void WriteInt(long value)
    {
        if (value >= 0)
        {
            WriteUInt((ulong)value);
            return;
        }

        var span = GetSpan(9);
        if (value >= -32)
        {
            span[0] = unchecked((byte)value);
            Advance(1);
        }
        else if (value >= sbyte.MinValue)
        {
            span[0] = 0xd0;
            span[1] = unchecked((byte)value);
            Advance(2);
        }
        else if (value >= short.MinValue)
        {
            span[0] = 0xd1;
            BinaryPrimitives.WriteInt16BigEndian(span[1..], (short)value);
            Advance(3);
        }
        else if (value >= int.MinValue)
        {
            span[0] = 0xd2;
            BinaryPrimitives.WriteInt32BigEndian(span[1..], (int)value);
            Advance(5);
        }
        else
        {
            span[0] = 0xd3;
            BinaryPrimitives.WriteInt64BigEndian(span[1..], value);
            Advance(9);
        }
    }

    public void WriteUInt(ulong value)
    {
        var span = GetSpan(9);
        if (value <= 0x7f)
        {
            span[0] = (byte)value;
            Advance(1);
        }
        else if (value <= byte.MaxValue)
        {
            span[0] = 0xcc;
            span[1] = (byte)value;
            Advance(2);
        }
        else if (value <= ushort.MaxValue)
        {
            span[0] = 0xcd;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)value);
            Advance(3);
        }
        else if (value <= uint.MaxValue)
        {
            span[0] = 0xce;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)value);
            Advance(5);
        }
        else
        {
            span[0] = 0xcf;
            BinaryPrimitives.WriteUInt64BigEndian(span[1..], value);
            Advance(9);
        }
    }

    public void WriteFloat32(float value)
    {
        var span = GetSpan(5);
        span[0] = 0xca;
        BinaryPrimitives.WriteSingleBigEndian(span[1..], value);
        Advance(5);
    }

    public void WriteFloat64(double value)
    {
        var span = GetSpan(9);
        span[0] = 0xcb;
        BinaryPrimitives.WriteDoubleBigEndian(span[1..], value);
        Advance(9);
    }

    /// <summary>A UTF-8 string (str family).</summary>
    public void WriteString(ReadOnlySpan<byte> utf8)
    {
        var span = GetSpan(utf8.Length + 5);
        int header;
        if (utf8.Length <= 31)
        {
            span[0] = (byte)(0xa0 | utf8.Length);
            header = 1;
        }
        else if (utf8.Length <= byte.MaxValue)
        {
            span[0] = 0xd9;
            span[1] = (byte)utf8.Length;
            header = 2;
        }
        else if (utf8.Length <= ushort.MaxValue)
        {
            span[0] = 0xda;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)utf8.Length);
            header = 3;
        }
        else
        {
            span[0] = 0xdb;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)utf8.Length);
            header = 5;
        }

        utf8.CopyTo(span[header..]);
        Advance(header + utf8.Length);
    }

    /// <summary>Bytes (bin family).</summary>
    public void WriteBinary(ReadOnlySpan<byte> bytes)
    {
        var span = GetSpan(bytes.Length + 5);
        int header;
        if (bytes.Length <= byte.MaxValue)
        {
            span[0] = 0xc4;
            span[1] = (byte)bytes.Length;
            header = 2;
        }
        else if (bytes.Length <= ushort.MaxValue)
        {
            span[0] = 0xc5;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)bytes.Length);
            header = 3;
        }
        else
        {
            span[0] = 0xc6;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)bytes.Length);
            header = 5;
        }

        bytes.CopyTo(span[header..]);
        Advance(header + bytes.Length);
    }

    public void WriteArrayHeader(long count) => WriteContainerHeader(count, 0x90, 0xdc, 0xdd);

    public void WriteMapHeader(long count) => WriteContainerHeader(count, 0x80, 0xde, 0xdf);

    private void WriteContainerHeader(long count, byte fix, byte header16, byte header32)
    {
        if ((ulong)count > uint.MaxValue)
        {
            throw new QueryRejectedException("a MessagePack array or map holds at most 4,294,967,295 values");
        }

        var span = GetSpan(5);
        if (count <= 15)
        {
            span[0] = (byte)(fix | count);
            Advance(1);
        }
        else if (count <= ushort.MaxValue)
        {
            span[0] = header16;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)count);
            Advance(3);
        }
        else
        {
            span[0] = header32;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)count);
            Advance(5);
        }
    }

    /// <summary>
    /// The timestamp extension (type -1): timestamp 32 for whole seconds in [0, 2^32), timestamp 64 for seconds in
    /// [0, 2^34), timestamp 96 otherwise. <paramref name="nanos"/> is in [0, 10^9).
    /// </summary>
    public void WriteTimestamp(long seconds, uint nanos)
    {
        var span = GetSpan(15);
        if ((ulong)seconds >> 34 == 0)
        {
            var packed = ((ulong)nanos << 34) | (ulong)seconds;
            if ((packed & 0xffffffff00000000UL) == 0)
            {
                span[0] = 0xd6;
                span[1] = 0xff;
                BinaryPrimitives.WriteUInt32BigEndian(span[2..], (uint)packed);
                Advance(6);
            }
            else
            {
                span[0] = 0xd7;
                span[1] = 0xff;
                BinaryPrimitives.WriteUInt64BigEndian(span[2..], packed);
                Advance(10);
            }

            return;
        }

        span[0] = 0xc7;
        span[1] = 12;
        span[2] = 0xff;
        BinaryPrimitives.WriteUInt32BigEndian(span[3..], nanos);
        BinaryPrimitives.WriteInt64BigEndian(span[7..], seconds);
        Advance(15);
    }
}

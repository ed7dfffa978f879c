using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Arc.Engine.Buffers;

/// <summary>
/// One growable column in Arrow layout over pooled arrays (<see cref="BufferPool"/>): a validity bitmap, then fixed 8-byte values (time, numbers),
/// bit-packed values (booleans), or int32 offsets plus UTF-8 data (tags, strings). Rows are written in order; the last row
/// may be overwritten (a repeated field on one line: the last value wins). Not thread-safe.
/// </summary>
internal sealed class ColumnBuffer : IDisposable
{
    private const int MinCapacity = 64;

    private readonly ColumnSet? _owner;
    private byte[] _validity;
    private byte[] _values;
    private byte[] _data;
    private int _capacity;
    private int _dataLength;

    /// <param name="owner">
    /// The set the column belongs to: while readers share the set's arrays (<see cref="ColumnSet.Share"/>), arrays the
    /// column outgrows go to the set to be returned to the pool once the readers are gone, not straight back to the pool.
    /// </param>
    public ColumnBuffer(string name, ColumnKind kind, int initialCapacity = MinCapacity, ColumnSet? owner = null)
    {
        _owner = owner;
        Name = name;
        NameUtf8 = Encoding.UTF8.GetBytes(name);
        Kind = kind;
        _capacity = Math.Max(MinCapacity, initialCapacity);
        _validity = BufferPool.Shared.Rent(BitmapBytes(_capacity));
        _values = BufferPool.Shared.Rent(UsedValueBytes(kind, _capacity));
        _data = kind.IsVariableLength() ? BufferPool.Shared.Rent(_capacity * 8) : [];
        if (kind.IsVariableLength())
        {
            Offsets[0] = 0;
        }
    }

    public string Name { get; }

    public byte[] NameUtf8 { get; }

    public ColumnKind Kind { get; }

    /// <summary>Rows written so far.</summary>
    public int Length { get; private set; }

    public int NullCount { get; private set; }

    /// <summary>Bytes of buffer memory this column holds (its capacity, not only what is used).</summary>
    public long ByteSize => _validity.Length + _values.Length + _data.Length;

    private Span<int> Offsets => MemoryMarshal.Cast<byte, int>(_values.AsSpan());

    private Span<long> Longs => MemoryMarshal.Cast<byte, long>(_values.AsSpan());

    /// <summary>Writes an 8-byte value (time, integer, unsigned or the bits of a float) at <paramref name="row"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetInt64(int row, long value)
    {
        if (row != Length - 1)
        {
            BeginRow(row);
        }
        else if (!IsValid(row))
        {
            SetValid(row);
        }

        // Capacity guarantees all 8 bytes are inside the array; indexing the first one keeps the bounds check.
        Unsafe.WriteUnaligned(ref _values[row * 8], value);
    }

    public void SetDouble(int row, double value) => SetInt64(row, BitConverter.DoubleToInt64Bits(value));

    /// <summary>
    /// Appends <paramref name="values"/> as rows <paramref name="row"/> onwards of a float column (rows before it that were
    /// not written become nulls): one capacity check and one copy instead of one call per value.
    /// </summary>
    public void AppendDoubles(int row, ReadOnlySpan<double> values) => AppendInt64s(row, MemoryMarshal.Cast<double, long>(values));

    /// <summary>As <see cref="AppendDoubles"/>, for 8-byte values of any kind (times, integers; floats as their bits).</summary>
    public void AppendInt64s(int row, ReadOnlySpan<long> values)
    {
        if (values.IsEmpty)
        {
            return;
        }

        BeginRow(row);
        var end = row + values.Length;
        EnsureCapacity(end);
        CopyBits([], _validity, row + 1, values.Length - 1, allSet: true);
        MemoryMarshal.AsBytes(values).CopyTo(_values.AsSpan(row * 8));
        Length = end;
    }

    public void SetBoolean(int row, bool value)
    {
        if (row != Length - 1)
        {
            BeginRow(row);
        }
        else if (!IsValid(row))
        {
            SetValid(row);
        }

        SetBit(_values, row, value);
    }

    public void SetBytes(int row, ReadOnlySpan<byte> value)
    {
        if (row == Length - 1)
        {
            // Overwrite the last row: drop its bytes first.
            if (!IsValid(row))
            {
                SetValid(row);
            }

            _dataLength = Offsets[row];
        }
        else
        {
            BeginRow(row);
        }

        EnsureData(_dataLength + value.Length);
        value.CopyTo(_data.AsSpan(_dataLength));
        _dataLength += value.Length;
        Offsets[row + 1] = _dataLength;
    }

    /// <summary>Appends nulls until the column has <paramref name="rows"/> rows (inlined: every row ends by padding every column).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PadTo(int rows)
    {
        if (Length < rows)
        {
            AppendNulls(rows);
        }
    }

    private void AppendNulls(int rows)
    {
        EnsureCapacity(rows);
        for (var row = Length; row < rows; row++)
        {
            SetBit(_validity, row, false);
            if (Kind.IsVariableLength())
            {
                Offsets[row + 1] = _dataLength;
            }
            else if (Kind == ColumnKind.Boolean)
            {
                SetBit(_values, row, false);
            }
            else
            {
                Longs[row] = 0;
            }
        }

        NullCount += rows - Length;
        Length = rows;
    }

    /// <summary>Appends every row of <paramref name="source"/> (same kind) after this column's rows.</summary>
    public void AppendFrom(ColumnBuffer source)
    {
        var start = Length;
        var count = source.Length;
        EnsureCapacity(start + count);
        CopyBits(source._validity, _validity, start, count, allSet: source.NullCount == 0);
        switch (Kind)
        {
            case ColumnKind.Boolean:
                CopyBits(source._values, _values, start, count, allSet: false);
                break;
            case ColumnKind.Tag or ColumnKind.String:
                var sourceBytes = source._dataLength;
                EnsureData(_dataLength + sourceBytes);
                source._data.AsSpan(0, sourceBytes).CopyTo(_data.AsSpan(_dataLength));
                var offsets = Offsets;
                var sourceOffsets = source.Offsets;
                for (var i = 1; i <= count; i++)
                {
                    offsets[start + i] = sourceOffsets[i] + _dataLength;
                }

                _dataLength += sourceBytes;
                break;
            default:
                source._values.AsSpan(0, count * 8).CopyTo(_values.AsSpan(start * 8));
                break;
        }

        Length += count;
        NullCount += source.NullCount;
    }

    /// <summary>
    /// Appends rows <paramref name="start"/> to <paramref name="start"/> + <paramref name="count"/> of an Arrow array, as
    /// read back from a Parquet file (merges: this column's own <see cref="ArrowType"/>) or imported from one: utf8 or
    /// binary as strings, booleans, 8-byte values (int64, uint64, double, timestamp[ns]) copied as they are, narrower
    /// integers and float widened, timestamps of other units scaled to nanoseconds and decimal128 as double. The import
    /// refuses, before it appends, the rows whose value does not convert (not UTF-8, out of range).
    /// </summary>
    public void AppendArrow(IArrowArray source, int start, int count)
    {
        var first = Length;
        EnsureCapacity(first + count);
        var nulls = 0;
        if (source.NullCount == 0)
        {
            CopyBits([], _validity, first, count, allSet: true);
        }
        else
        {
            for (var i = 0; i < count; i++)
            {
                var valid = source.IsValid(start + i);
                nulls += valid ? 0 : 1;
                SetBit(_validity, first + i, valid);
            }
        }

        switch (source)
        {
            case BooleanArray booleans:
                for (var i = 0; i < count; i++)
                {
                    SetBit(_values, first + i, booleans.GetValue(start + i) == true);
                }

                break;
            case BinaryArray strings:
                {
                    var sourceOffsets = strings.ValueOffsets;
                    var from = sourceOffsets[start];
                    var bytes = sourceOffsets[start + count] - from;
                    EnsureData(_dataLength + bytes);
                    strings.ValueBuffer.Span.Slice(from, bytes).CopyTo(_data.AsSpan(_dataLength));
                    var offsets = Offsets;
                    for (var i = 1; i <= count; i++)
                    {
                        offsets[first + i] = sourceOffsets[start + i] - from + _dataLength;
                    }

                    _dataLength += bytes;
                    break;
                }

            case TimestampArray timestamps when ((TimestampType)timestamps.Data.DataType).Unit != TimeUnit.Nanosecond:
                {
                    var scale = ((TimestampType)timestamps.Data.DataType).Unit switch
                    {
                        TimeUnit.Second => 1_000_000_000L,
                        TimeUnit.Millisecond => 1_000_000L,
                        _ => 1_000L,
                    };
                    var values = timestamps.Values.Slice(start, count);
                    var target = Longs.Slice(first, count);
                    for (var i = 0; i < values.Length; i++)
                    {
                        target[i] = unchecked(values[i] * scale); // a null's slot may hold anything
                    }

                    break;
                }

            case Decimal128Array decimals:
                {
                    var target = Longs.Slice(first, count);
                    for (var i = 0; i < count; i++)
                    {
                        target[i] = decimals.IsValid(start + i) ? BitConverter.DoubleToInt64Bits((double)decimals.GetValue(start + i)!.Value) : 0;
                    }

                    break;
                }

            case FloatArray floats:
                Widen(floats.Values.Slice(start, count), MemoryMarshal.Cast<long, double>(Longs.Slice(first, count)));
                break;
            case Int32Array ints:
                Widen(ints.Values.Slice(start, count), Longs.Slice(first, count));
                break;
            case Int16Array ints:
                Widen(ints.Values.Slice(start, count), Longs.Slice(first, count));
                break;
            case Int8Array ints:
                Widen(ints.Values.Slice(start, count), Longs.Slice(first, count));
                break;
            case UInt32Array ints:
                Widen(ints.Values.Slice(start, count), Longs.Slice(first, count));
                break;
            case UInt16Array ints:
                Widen(ints.Values.Slice(start, count), Longs.Slice(first, count));
                break;
            case UInt8Array ints:
                Widen(ints.Values.Slice(start, count), Longs.Slice(first, count));
                break;
            default:
                {
                    var data = source.Data;
                    var width = data.DataType is FixedWidthType { BitWidth: 64 }
                        ? 8
                        : throw new ArgumentException($"column '{Name}' cannot take Arrow {data.DataType.Name} values", nameof(source));
                    data.Buffers[1].Span.Slice((data.Offset + start) * width, count * width).CopyTo(_values.AsSpan(first * 8));
                    break;
                }
        }

        Length += count;
        NullCount += nulls;
    }

    private static void Widen<T>(ReadOnlySpan<T> source, Span<long> target)
        where T : unmanaged, IBinaryInteger<T>
    {
        for (var i = 0; i < source.Length; i++)
        {
            target[i] = long.CreateTruncating(source[i]);
        }
    }

    private static void Widen(ReadOnlySpan<float> source, Span<double> target)
    {
        for (var i = 0; i < source.Length; i++)
        {
            target[i] = source[i];
        }
    }

    /// <summary>Appends the rows of <paramref name="source"/> (same kind) listed in <paramref name="rows"/>, in that order.</summary>
    public void AppendRows(ColumnBuffer source, ReadOnlySpan<int> rows)
    {
        var start = Length;
        EnsureCapacity(start + rows.Length);
        if (source.NullCount == 0)
        {
            CopyBits(source._validity, _validity, start, rows.Length, allSet: true);
        }
        else
        {
            for (var i = 0; i < rows.Length; i++)
            {
                SetBit(_validity, start + i, source.IsValid(rows[i]));
            }
        }

        switch (Kind)
        {
            case ColumnKind.Boolean:
                for (var i = 0; i < rows.Length; i++)
                {
                    var row = rows[i];
                    SetBit(_values, start + i, source.IsValid(row) && source.GetBoolean(row));
                }

                break;
            case ColumnKind.Tag or ColumnKind.String:
                {
                    var sourceOffsets = source.Offsets;
                    var bytes = 0;
                    foreach (var row in rows)
                    {
                        bytes += sourceOffsets[row + 1] - sourceOffsets[row];
                    }

                    EnsureData(_dataLength + bytes);
                    var offsets = Offsets;
                    var data = _data.AsSpan();
                    var sourceData = source._data.AsSpan();
                    for (var i = 0; i < rows.Length; i++)
                    {
                        var row = rows[i];
                        var from = sourceOffsets[row];
                        var length = sourceOffsets[row + 1] - from;
                        sourceData.Slice(from, length).CopyTo(data[_dataLength..]);
                        _dataLength += length;
                        offsets[start + i + 1] = _dataLength;
                    }

                    break;
                }

            default:
                {
                    var values = Longs;
                    var sourceValues = source.Longs;
                    for (var i = 0; i < rows.Length; i++)
                    {
                        values[start + i] = sourceValues[rows[i]];
                    }

                    break;
                }
        }

        Length += rows.Length;
        NullCount += source.NullCount == 0 ? 0 : CountNulls(start, rows.Length);
    }

    public bool IsValid(int row) => GetBit(_validity, row);

    public long GetInt64(int row) => Longs[row];

    public bool GetBoolean(int row) => GetBit(_values, row);

    public ReadOnlySpan<byte> GetBytes(int row)
    {
        var offsets = Offsets;
        return _data.AsSpan(offsets[row], offsets[row + 1] - offsets[row]);
    }

    /// <summary>The validity bitmap of the rows written (bit i = row i).</summary>
    internal ReadOnlySpan<byte> ValidityBytes => _validity.AsSpan(0, BitmapBytes(Length));

    /// <summary>The value buffer of the rows written: 8 bytes per row, a bitmap for booleans, or int32 offsets (rows + 1).</summary>
    internal ReadOnlySpan<byte> ValueBytes => _values.AsSpan(0, UsedValueBytes(Kind, Length));

    /// <summary>The UTF-8 bytes of a tag or string column.</summary>
    internal ReadOnlySpan<byte> DataBytes => _data.AsSpan(0, _dataLength);

    /// <summary>
    /// Appends rows stored in this class's own layout (<see cref="ValidityBytes"/>, <see cref="ValueBytes"/>,
    /// <see cref="DataBytes"/> of another column), as read back from the write-ahead log.
    /// </summary>
    internal void AppendRaw(int rows, ReadOnlySpan<byte> validity, ReadOnlySpan<byte> values, ReadOnlySpan<byte> data)
    {
        var start = Length;
        EnsureCapacity(start + rows);
        var nulls = 0;
        for (var i = 0; i < rows; i++)
        {
            var valid = (validity[i >> 3] & (1 << (i & 7))) != 0;
            nulls += valid ? 0 : 1;
            SetBit(_validity, start + i, valid);
        }

        switch (Kind)
        {
            case ColumnKind.Boolean:
                for (var i = 0; i < rows; i++)
                {
                    SetBit(_values, start + i, (values[i >> 3] & (1 << (i & 7))) != 0);
                }

                break;
            case ColumnKind.Tag or ColumnKind.String:
                EnsureData(_dataLength + data.Length);
                data.CopyTo(_data.AsSpan(_dataLength));
                var offsets = Offsets;
                var source = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(values);
                for (var i = 1; i <= rows; i++)
                {
                    offsets[start + i] = source[i] - source[0] + _dataLength;
                }

                _dataLength += data.Length;
                break;
            default:
                values[..(rows * 8)].CopyTo(_values.AsSpan(start * 8));
                break;
        }

        Length += rows;
        NullCount += nulls;
    }

    /// <summary>
    /// The rows written so far over this column's current arrays (no copy), for a reader on another thread. Later appends
    /// write only past them (the shared buffers are append-only), and an array this column outgrows is not reused while
    /// the owning set is shared.
    /// </summary>
    internal ColumnSlice Slice() => new(Name, Kind, _validity, _values, _data, Length, NullCount);

    /// <summary>Forgets all rows, keeping the memory for reuse.</summary>
    public void Reset()
    {
        Length = 0;
        NullCount = 0;
        _dataLength = 0;
    }

    /// <summary>An Arrow array over this column's memory (no copy). Valid until the column is written to, reset or disposed.</summary>
    public IArrowArray ToArrow()
    {
        var validity = NullCount == 0 ? ArrowBuffer.Empty : new ArrowBuffer(_validity.AsMemory(0, BitmapBytes(Length)));
        ArrayData data = Kind switch
        {
            ColumnKind.Tag or ColumnKind.String => new ArrayData(StringType.Default, Length, NullCount, 0,
                [validity, new ArrowBuffer(_values.AsMemory(0, (Length + 1) * 4)), new ArrowBuffer(_data.AsMemory(0, _dataLength))]),
            ColumnKind.Boolean => new ArrayData(BooleanType.Default, Length, NullCount, 0,
                [validity, new ArrowBuffer(_values.AsMemory(0, BitmapBytes(Length)))]),
            _ => new ArrayData(ArrowType(Kind), Length, NullCount, 0, [validity, new ArrowBuffer(_values.AsMemory(0, Length * 8))]),
        };
        return ArrowArrayFactory.BuildArray(data);
    }

    internal static IArrowType ArrowType(ColumnKind kind) => kind switch
    {
        ColumnKind.Time => TimeType,
        ColumnKind.Tag or ColumnKind.String => StringType.Default,
        ColumnKind.Float => DoubleType.Default,
        ColumnKind.Integer => Int64Type.Default,
        ColumnKind.UInteger => UInt64Type.Default,
        ColumnKind.Boolean => BooleanType.Default,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Nanosecond timestamps without a time zone, which DuckDB reads as TIMESTAMP_NS (a zone would make it µs).</summary>
    internal static readonly TimestampType TimeType = new(TimeUnit.Nanosecond, (string?)null);

    public void Dispose()
    {
        BufferPool.Shared.Return(_validity);
        BufferPool.Shared.Return(_values);
        if (_data.Length > 0)
        {
            BufferPool.Shared.Return(_data);
        }

        _validity = _values = _data = [];
        _capacity = 0;
        Length = 0;
    }

    private void BeginRow(int row)
    {
        if (row < Length)
        {
            throw new InvalidOperationException($"column '{Name}' cannot write row {row}: it already has {Length} rows");
        }

        PadTo(row);
        EnsureCapacity(row + 1);
        SetBit(_validity, row, true);
        Length = row + 1;
    }

    private int CountNulls(int start, int count)
    {
        var nulls = 0;
        for (var row = start; row < start + count; row++)
        {
            if (!IsValid(row))
            {
                nulls++;
            }
        }

        return nulls;
    }

    private void SetValid(int row)
    {
        SetBit(_validity, row, true);
        NullCount--;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnsureCapacity(int rows)
    {
        if (rows > _capacity)
        {
            GrowRows(rows);
        }
    }

    private void GrowRows(int rows)
    {
        var capacity = Math.Max(rows, _capacity * 2);
        _validity = Grow(_validity, BitmapBytes(capacity), BitmapBytes(Length));
        _values = Grow(_values, UsedValueBytes(Kind, capacity), UsedValueBytes(Kind, Length));
        _capacity = capacity;
    }

    private void EnsureData(int bytes)
    {
        if (bytes > _data.Length)
        {
            _data = Grow(_data, Math.Max(bytes, _data.Length * 2), _dataLength);
        }
    }

    private byte[] Grow(byte[] old, int size, int used)
    {
        var grown = BufferPool.Shared.Rent(size);
        old.AsSpan(0, used).CopyTo(grown);
        if (old.Length > 0)
        {
            if (_owner is not null)
            {
                _owner.Retire(old);
            }
            else
            {
                BufferPool.Shared.Return(old);
            }
        }

        return grown;
    }

    internal static int BitmapBytes(int rows) => (rows + 7) >> 3;

    internal static int UsedValueBytes(ColumnKind kind, int rows) => kind switch
    {
        ColumnKind.Boolean => BitmapBytes(rows),
        ColumnKind.Tag or ColumnKind.String => (rows + 1) * 4,
        _ => rows * 8,
    };

    /// <summary>
    /// Writes <paramref name="count"/> bits at <paramref name="start"/> of <paramref name="target"/>: the first bits of
    /// <paramref name="source"/>, or all ones when <paramref name="allSet"/>; whole bytes at once where the positions allow.
    /// </summary>
    private static void CopyBits(byte[] source, byte[] target, int start, int count, bool allSet)
    {
        var i = 0;
        for (; i < count && ((start + i) & 7) != 0; i++)
        {
            SetBit(target, start + i, allSet || GetBit(source, i));
        }

        var bytes = (count - i) >> 3;
        if (bytes > 0)
        {
            var to = target.AsSpan((start + i) >> 3, bytes);
            if (allSet)
            {
                to.Fill(0xFF);
                i += bytes * 8;
            }
            else if ((i & 7) == 0)
            {
                source.AsSpan(i >> 3, bytes).CopyTo(to);
                i += bytes * 8;
            }
        }

        for (; i < count; i++)
        {
            SetBit(target, start + i, allSet || GetBit(source, i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool GetBit(byte[] bits, int index) => (bits[index >> 3] & (1 << (index & 7))) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetBit(byte[] bits, int index, bool value)
    {
        ref var b = ref bits[index >> 3];
        var mask = (byte)(1 << (index & 7));
        b = value ? (byte)(b | mask) : (byte)(b & ~mask);
    }
}

using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Arc.Engine.DuckDb;
using DuckDB.NET.Native;
using Microsoft.Win32.SafeHandles;

namespace Arc.Engine.Query;

/// <summary>Limits of the msgpack output's spool (see <see cref="MsgPackQueryOutput"/>).</summary>
public sealed record MsgPackSpoolOptions
{
    /// <summary>Encoded bytes held in memory before they are spilled to a temporary file.</summary>
    public long MemoryBytes { get; init; } = 64L << 20;

    /// <summary>Largest encoded result; a query past it is refused with a 400 before anything is sent.</summary>
    public long MaxResultBytes { get; init; } = 4L << 30;

    /// <summary>Directory of the spill files (deleted on close; the store wipes it at startup).</summary>
    public required string TempDirectory { get; init; }
}

/// <summary>
/// Arc's columnar MessagePack response: a map <c>{success, columns, types, data, row_count, execution_time_ms}</c> whose
/// <c>data</c> holds one array per column. A MessagePack array carries its length up front and the columns are written
/// one after the other, while DuckDB produces rows chunk by chunk; so the result is first encoded column by column into a
/// spool (pooled memory up to <see cref="MsgPackSpoolOptions.MemoryBytes"/>, then a temporary file), and sent once the
/// query has finished. Memory stays bounded however large the result; the price is latency to the first byte and disk
/// space up to <see cref="MsgPackSpoolOptions.MaxResultBytes"/>. Errors (including the size limit) surface before the
/// response starts, so they are clean 400s.
/// </summary>
public sealed class MsgPackQueryOutput : IDisposable
{
    private readonly string[] _names;
    private readonly string[] _types;
    private readonly MsgPackBuffer[] _columns;
    private readonly List<(long Offset, long Length)>[] _spilled;
    private readonly MsgPackSpoolOptions _options;
    private SafeFileHandle? _spill;
    private long _spillLength;

    private MsgPackQueryOutput(QueryCursor cursor, ValueFormat[] formats, MsgPackSpoolOptions options)
    {
        _options = options;
        var count = formats.Length;
        _names = new string[count];
        _types = new string[count];
        _columns = new MsgPackBuffer[count];
        _spilled = new List<(long, long)>[count];
        for (var i = 0; i < count; i++)
        {
            _names[i] = cursor.Result.GetColumnName(i);
            _types[i] = TypeName(formats[i]);
            _columns[i] = new MsgPackBuffer();
            _spilled[i] = [];
        }
    }

    public long RowCount { get; private set; }

    /// <summary>Bytes that went to the spill file (0 when the result fit in memory).</summary>
    public long SpilledBytes => _spillLength;

    /// <summary>
    /// Runs the query to its end, encoding every chunk into the spool. Throws <see cref="DuckDbException"/> for query
    /// failures and <see cref="QueryRejectedException"/> for unsupported types or a result past the size limit.
    /// </summary>
    public static MsgPackQueryOutput Spool(QueryCursor cursor, MsgPackSpoolOptions options)
    {
        var formats = cursor.Formats();
        var output = new MsgPackQueryOutput(cursor, formats, options);
        try
        {
            while (cursor.Next() is { } chunk)
            {
                using (chunk)
                {
                    output.Append(chunk, formats);
                }
            }

            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    private void Append(DuckDBDataChunk chunk, ValueFormat[] formats)
    {
        var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
        long inMemory = 0;
        for (var c = 0; c < formats.Length; c++)
        {
            MsgPackValueWriter.WriteColumn(_columns[c], formats[c], NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, c), size);
            inMemory += _columns[c].WrittenBytes;
        }

        RowCount += size;
        if (inMemory + _spillLength > _options.MaxResultBytes)
        {
            throw new QueryRejectedException(
                $"the msgpack result is larger than query.msgpack_max_result_size ({_options.MaxResultBytes.ToString(CultureInfo.InvariantCulture)} bytes) " +
                $"after {RowCount.ToString(CultureInfo.InvariantCulture)} rows; add a LIMIT, or use /api/v1/query/arrow or /api/v1/query/stream, which stream without a size limit");
        }

        if (inMemory > _options.MemoryBytes)
        {
            Spill();
        }
    }

    /// <summary>Moves every column's encoded bytes to the spill file, one extent per column.</summary>
    private void Spill()
    {
        if (_spill is null)
        {
            Directory.CreateDirectory(_options.TempDirectory);
            var path = Path.Combine(_options.TempDirectory, $"msgpack-{Guid.NewGuid():N}.spool");
            _spill = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
        }

        for (var c = 0; c < _columns.Length; c++)
        {
            var start = _spillLength;
            _columns[c].DrainTo(this, static (self, segment) =>
            {
                RandomAccess.Write(self._spill!, segment.Span, self._spillLength);
                self._spillLength += segment.Length;
            });
            if (_spillLength > start)
            {
                _spilled[c].Add((start, _spillLength - start));
            }
        }
    }

    /// <summary>Writes the response; <paramref name="startTimestamp"/> is when the request arrived (for execution_time_ms).</summary>
    public async ValueTask WriteAsync(Stream output, long startTimestamp, CancellationToken cancellationToken)
    {
        using (var header = new MsgPackBuffer())
        {
            header.WriteMapHeader(6);
            header.WriteString("success"u8);
            header.WriteBool(true);
            header.WriteString("columns"u8);
            WriteStrings(header, _names);
            header.WriteString("types"u8);
            WriteStrings(header, _types);
            header.WriteString("data"u8);
            header.WriteArrayHeader(_columns.Length);
            await header.DrainToAsync(output, cancellationToken).ConfigureAwait(false);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(MsgPackBuffer.SegmentSize * 4);
        try
        {
            for (var c = 0; c < _columns.Length; c++)
            {
                using (var arrayHeader = new MsgPackBuffer())
                {
                    arrayHeader.WriteArrayHeader(RowCount);
                    await arrayHeader.DrainToAsync(output, cancellationToken).ConfigureAwait(false);
                }

                foreach (var (offset, length) in _spilled[c])
                {
                    for (long done = 0; done < length;)
                    {
                        var read = await RandomAccess.ReadAsync(_spill!, buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - done)), offset + done,
                            cancellationToken).ConfigureAwait(false);
                        if (read == 0)
                        {
                            throw new IOException("the msgpack spool file is shorter than what was written to it");
                        }

                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                        done += read;
                    }
                }

                await _columns[c].DrainToAsync(output, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        using var trailer = new MsgPackBuffer();
        trailer.WriteString("row_count"u8);
        trailer.WriteUInt((ulong)RowCount);
        trailer.WriteString("execution_time_ms"u8);
        trailer.WriteFloat64(Math.Round(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, 3));
        await trailer.DrainToAsync(output, cancellationToken).ConfigureAwait(false);
    }

    private static void WriteStrings(MsgPackBuffer buffer, string[] values)
    {
        buffer.WriteArrayHeader(values.Length);
        foreach (var value in values)
        {
            buffer.WriteString(Encoding.UTF8.GetBytes(value));
        }
    }

    /// <summary>
    /// Arc's msgpack type vocabulary: bool, int8..int64, uint8..uint64, float32, float64, utf8, binary, date32,
    /// timestamp[s|ms|us|ns] (UTC; the time zone is not part of the name), list, struct, map, null, and string_encoded for
    /// values sent as text (TIME, INTERVAL). DECIMAL(p,0) and HUGEINT are int64 (integers), other DECIMALs float64, as Arc
    /// normalizes them; UUID and ENUM are utf8.
    /// </summary>
    internal static string TypeName(ValueFormat format) => format.Type switch
    {
        DuckDBType.Boolean => "bool",
        DuckDBType.TinyInt => "int8",
        DuckDBType.SmallInt => "int16",
        DuckDBType.Integer => "int32",
        DuckDBType.BigInt or DuckDBType.HugeInt => "int64",
        DuckDBType.UnsignedTinyInt => "uint8",
        DuckDBType.UnsignedSmallInt => "uint16",
        DuckDBType.UnsignedInteger => "uint32",
        DuckDBType.UnsignedBigInt or DuckDBType.UnsignedHugeInt => "uint64",
        DuckDBType.Float => "float32",
        DuckDBType.Double => "float64",
        DuckDBType.Decimal => format.Scale == 0 ? "int64" : "float64",
        DuckDBType.Varchar or DuckDBType.Uuid or DuckDBType.Enum => "utf8",
        DuckDBType.Blob => "binary",
        DuckDBType.Date => "date32",
        DuckDBType.Timestamp or DuckDBType.TimestampTz => "timestamp[us]",
        DuckDBType.TimestampS => "timestamp[s]",
        DuckDBType.TimestampMs => "timestamp[ms]",
        DuckDBType.TimestampNs => "timestamp[ns]",
        DuckDBType.Time or DuckDBType.Interval => "string_encoded",
        DuckDBType.List or DuckDBType.Array => "list",
        DuckDBType.Struct => "struct",
        DuckDBType.Map => "map",
        DuckDBType.SqlNull => "null",
        _ => "unknown:" + format.TypeName,
    };

    public void Dispose()
    {
        foreach (var column in _columns)
        {
            column.Dispose();
        }

        _spill?.Dispose();
    }
}

/// <summary>Encodes DuckDB vectors as MessagePack values, straight from the vectors' memory.</summary>
internal static unsafe class MsgPackValueWriter
{
    private readonly struct VectorView(IntPtr vector)
    {
        public readonly IntPtr Vector = vector;
        public readonly byte* Data = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(vector);
        public readonly ulong* Validity = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool IsValid(long row) => Validity == null || (Validity[row >> 6] & (1UL << (int)(row & 63))) != 0;
    }

    /// <summary>Appends <paramref name="count"/> values of one column: a tight loop per common type, else value by value.</summary>
    public static void WriteColumn(MsgPackBuffer output, ValueFormat format, IntPtr vector, int count)
    {
        var view = new VectorView(vector);
        var data = view.Data;
        switch (format.Type)
        {
            case DuckDBType.BigInt:
                for (var row = 0; row < count; row++)
                {
                    if (view.IsValid(row))
                    {
                        output.WriteInt(((long*)data)[row]);
                    }
                    else
                    {
                        output.WriteNil();
                    }
                }

                break;
            case DuckDBType.Double:
                for (var row = 0; row < count; row++)
                {
                    if (view.IsValid(row))
                    {
                        output.WriteFloat64(((double*)data)[row]);
                    }
                    else
                    {
                        output.WriteNil();
                    }
                }

                break;
            case DuckDBType.Varchar:
                for (var row = 0; row < count; row++)
                {
                    if (view.IsValid(row))
                    {
                        output.WriteString(DuckDbStrings.Span(data + (row * 16)));
                    }
                    else
                    {
                        output.WriteNil();
                    }
                }

                break;
            case DuckDBType.TimestampNs:
                for (var row = 0; row < count; row++)
                {
                    if (view.IsValid(row))
                    {
                        WriteTimestamp(output, ((long*)data)[row], 1_000_000_000);
                    }
                    else
                    {
                        output.WriteNil();
                    }
                }

                break;
            default:
                for (var row = 0; row < count; row++)
                {
                    WriteValue(output, format, view, row);
                }

                break;
        }
    }

    private static void WriteValue(MsgPackBuffer output, ValueFormat format, in VectorView view, long row)
    {
        if (!view.IsValid(row))
        {
            output.WriteNil();
            return;
        }

        var data = view.Data;
        switch (format.Type)
        {
            case DuckDBType.Boolean:
                output.WriteBool(data[row] != 0);
                break;
            case DuckDBType.TinyInt:
                output.WriteInt(((sbyte*)data)[row]);
                break;
            case DuckDBType.SmallInt:
                output.WriteInt(((short*)data)[row]);
                break;
            case DuckDBType.Integer:
                output.WriteInt(((int*)data)[row]);
                break;
            case DuckDBType.BigInt:
                output.WriteInt(((long*)data)[row]);
                break;
            case DuckDBType.UnsignedTinyInt:
                output.WriteUInt(data[row]);
                break;
            case DuckDBType.UnsignedSmallInt:
                output.WriteUInt(((ushort*)data)[row]);
                break;
            case DuckDBType.UnsignedInteger:
                output.WriteUInt(((uint*)data)[row]);
                break;
            case DuckDBType.UnsignedBigInt:
                output.WriteUInt(((ulong*)data)[row]);
                break;
            case DuckDBType.HugeInt:
                WriteInteger(output, ScalarText.ReadInt128(data, row));
                break;
            case DuckDBType.UnsignedHugeInt:
                {
                    var value = ((UInt128*)data)[row];
                    if (value <= ulong.MaxValue)
                    {
                        output.WriteUInt((ulong)value);
                    }
                    else
                    {
                        output.WriteFloat64((double)value);
                    }

                    break;
                }

            case DuckDBType.Float:
                output.WriteFloat32(((float*)data)[row]);
                break;
            case DuckDBType.Double:
                output.WriteFloat64(((double*)data)[row]);
                break;
            case DuckDBType.Decimal:
                WriteDecimal(output, format, data, row);
                break;
            case DuckDBType.Varchar:
                output.WriteString(DuckDbStrings.Span(data + (row * 16)));
                break;
            case DuckDBType.Blob:
                output.WriteBinary(DuckDbStrings.Span(data + (row * 16)));
                break;
            case DuckDBType.Enum:
                output.WriteString(format.EnumValues[ScalarText.EnumIndex(format.Storage, data, row)]);
                break;
            case DuckDBType.Date:
                output.WriteTimestamp(((int*)data)[row] * 86_400L, 0);
                break;
            case DuckDBType.Timestamp or DuckDBType.TimestampTz:
                WriteTimestamp(output, ((long*)data)[row], 1_000_000);
                break;
            case DuckDBType.TimestampNs:
                WriteTimestamp(output, ((long*)data)[row], 1_000_000_000);
                break;
            case DuckDBType.TimestampMs:
                WriteTimestamp(output, ((long*)data)[row], 1000);
                break;
            case DuckDBType.TimestampS:
                output.WriteTimestamp(((long*)data)[row], 0);
                break;
            case DuckDBType.Time:
                {
                    Span<byte> text = stackalloc byte[ScalarText.MaxLength];
                    output.WriteString(text[..TemporalFormat.FormatMicrosOfDay(((long*)data)[row], text)]);
                    break;
                }

            case DuckDBType.Interval:
                {
                    Span<byte> text = stackalloc byte[ScalarText.MaxLength];
                    output.WriteString(text[..ScalarText.Interval(data + (row * 16), text)]);
                    break;
                }

            case DuckDBType.Uuid:
                {
                    Span<byte> text = stackalloc byte[ScalarText.MaxLength];
                    output.WriteString(text[..ScalarText.Uuid(ScalarText.ReadInt128(data, row), text)]);
                    break;
                }

            case DuckDBType.List or DuckDBType.Map:
                WriteList(output, format, view, row);
                break;
            case DuckDBType.Array:
                {
                    var child = new VectorView(NativeMethods.Vectors.DuckDBArrayVectorGetChild(view.Vector));
                    output.WriteArrayHeader(format.ArraySize);
                    for (var i = 0; i < format.ArraySize; i++)
                    {
                        WriteValue(output, format.Children[0], child, (row * format.ArraySize) + i);
                    }

                    break;
                }

            case DuckDBType.Struct:
                output.WriteMapHeader(format.Children.Length);
                for (var i = 0; i < format.Children.Length; i++)
                {
                    output.WriteString(Encoding.UTF8.GetBytes(format.ChildNames[i]));
                    WriteValue(output, format.Children[i], new VectorView(NativeMethods.Vectors.DuckDBStructVectorGetChild(view.Vector, i)), row);
                }

                break;
            default:
                output.WriteNil();
                break;
        }
    }

    /// <summary>Unix time in <paramref name="unitsPerSecond"/> as (seconds, nanoseconds), flooring toward the past.</summary>
    private static void WriteTimestamp(MsgPackBuffer output, long value, long unitsPerSecond)
    {
        var seconds = Math.DivRem(value, unitsPerSecond, out var remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += unitsPerSecond;
        }

        output.WriteTimestamp(seconds, (uint)(remainder * (1_000_000_000 / unitsPerSecond)));
    }

    /// <summary>An integer column type wider than 64 bits: an int when it fits, else the nearest float64.</summary>
    private static void WriteInteger(MsgPackBuffer output, Int128 value)
    {
        if (value >= long.MinValue && value <= long.MaxValue)
        {
            output.WriteInt((long)value);
        }
        else if (value > 0 && value <= ulong.MaxValue)
        {
            output.WriteUInt((ulong)value);
        }
        else
        {
            output.WriteFloat64((double)value);
        }
    }

    /// <summary>DECIMAL(p,0) as an integer; other scales as the float64 nearest to the exact value.</summary>
    private static void WriteDecimal(MsgPackBuffer output, ValueFormat format, byte* data, long row)
    {
        var unscaled = ScalarText.DecimalUnscaled(format.Storage, data, row);
        if (format.Scale == 0)
        {
            WriteInteger(output, unscaled);
            return;
        }

        Span<byte> text = stackalloc byte[ScalarText.MaxLength];
        var length = ScalarText.Decimal(unscaled, format.Scale, text);
        output.WriteFloat64(double.Parse(text[..length], NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    private static void WriteList(MsgPackBuffer output, ValueFormat format, in VectorView view, long row)
    {
        var entry = (ulong*)view.Data + (row * 2);
        var offset = (long)entry[0];
        var length = (long)entry[1];
        var child = new VectorView(NativeMethods.Vectors.DuckDBListVectorGetChild(view.Vector));
        if (format.Type == DuckDBType.Map)
        {
            // A MAP is a list of (key, value) structs: a msgpack map with keys of their own type.
            var keys = new VectorView(NativeMethods.Vectors.DuckDBStructVectorGetChild(child.Vector, 0));
            var values = new VectorView(NativeMethods.Vectors.DuckDBStructVectorGetChild(child.Vector, 1));
            output.WriteMapHeader(length);
            for (var i = offset; i < offset + length; i++)
            {
                WriteValue(output, format.Children[0], keys, i);
                WriteValue(output, format.Children[1], values, i);
            }

            return;
        }

        output.WriteArrayHeader(length);
        for (var i = 0; i < length; i++)
        {
            WriteValue(output, format.Children[0], child, offset + i);
        }
    }
}

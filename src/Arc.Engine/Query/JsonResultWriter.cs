using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text.Json;
using DuckDB.NET.Native;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Query;

/// <summary>
/// Writes DuckDB result chunks as JSON rows (<c>[v1, v2, ...]</c>) straight from the vectors' memory, with no per-row
/// objects. Timestamps become RFC 3339 strings keeping nanoseconds, decimals exact numbers, blobs base64, nested types JSON
/// arrays and objects; non-finite floats become null (JSON has no NaN).
/// </summary>
internal static unsafe class JsonResultWriter
{
    private readonly struct VectorView(IntPtr vector)
    {
        public readonly IntPtr Vector = vector;
        public readonly byte* Data = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(vector);
        public readonly ulong* Validity = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool IsValid(long row) => Validity == null || (Validity[row >> 6] & (1UL << (int)(row & 63))) != 0;
    }

    /// <summary>Writes every row of <paramref name="chunk"/>; returns the row count.</summary>
    public static int WriteRows(Utf8JsonWriter writer, DuckDBDataChunk chunk, ValueFormat[] formats)
    {
        var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
        var columns = formats.Length;
        var views = columns <= 64 ? stackalloc VectorView[columns] : new VectorView[columns];
        for (var c = 0; c < columns; c++)
        {
            views[c] = new VectorView(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, c));
        }

        for (var row = 0; row < size; row++)
        {
            writer.WriteStartArray();
            for (var c = 0; c < columns; c++)
            {
                WriteValue(writer, formats[c], views[c], row);
            }

            writer.WriteEndArray();
        }

        return size;
    }

    /// <summary>Writes one value of <paramref name="vector"/> as JSON (the CSV and msgpack writers use it for nested values).</summary>
    public static void WriteValue(Utf8JsonWriter writer, ValueFormat format, IntPtr vector, long row) =>
        WriteValue(writer, format, new VectorView(vector), row);

    private static void WriteValue(Utf8JsonWriter writer, ValueFormat format, in VectorView view, long row)
    {
        if (!view.IsValid(row))
        {
            writer.WriteNullValue();
            return;
        }

        var data = view.Data;
        Span<byte> text = stackalloc byte[TemporalFormat.MaxLength];
        switch (format.Type)
        {
            case DuckDBType.Boolean:
                writer.WriteBooleanValue(data[row] != 0);
                break;
            case DuckDBType.TinyInt:
                writer.WriteNumberValue(((sbyte*)data)[row]);
                break;
            case DuckDBType.SmallInt:
                writer.WriteNumberValue(((short*)data)[row]);
                break;
            case DuckDBType.Integer:
                writer.WriteNumberValue(((int*)data)[row]);
                break;
            case DuckDBType.BigInt:
                writer.WriteNumberValue(((long*)data)[row]);
                break;
            case DuckDBType.UnsignedTinyInt:
                writer.WriteNumberValue(data[row]);
                break;
            case DuckDBType.UnsignedSmallInt:
                writer.WriteNumberValue(((ushort*)data)[row]);
                break;
            case DuckDBType.UnsignedInteger:
                writer.WriteNumberValue(((uint*)data)[row]);
                break;
            case DuckDBType.UnsignedBigInt:
                writer.WriteNumberValue(((ulong*)data)[row]);
                break;
            case DuckDBType.HugeInt:
                WriteInt128(writer, ReadInt128(data, row), 0);
                break;
            case DuckDBType.UnsignedHugeInt:
                WriteRawNumber(writer, ((UInt128*)data)[row]);
                break;
            case DuckDBType.Float:
                WriteDouble(writer, ((float*)data)[row]);
                break;
            case DuckDBType.Double:
                WriteDouble(writer, ((double*)data)[row]);
                break;
            case DuckDBType.Decimal:
                WriteDecimal(writer, format, data, row);
                break;
            case DuckDBType.Varchar:
                writer.WriteStringValue(DuckDbStrings.Span(data + (row * 16)));
                break;
            case DuckDBType.Blob:
                writer.WriteBase64StringValue(DuckDbStrings.Span(data + (row * 16)));
                break;
            case DuckDBType.Enum:
                writer.WriteStringValue(format.EnumValues[EnumIndex(format.Storage, data, row)]);
                break;
            case DuckDBType.Date:
                WriteTemporal(writer, format.Type, ((int*)data)[row], text);
                break;
            case DuckDBType.Time:
                writer.WriteStringValue(text[..TemporalFormat.FormatMicrosOfDay(((long*)data)[row], text)]);
                break;
            case DuckDBType.Timestamp or DuckDBType.TimestampTz or DuckDBType.TimestampNs or DuckDBType.TimestampMs or DuckDBType.TimestampS:
                WriteTemporal(writer, format.Type, ((long*)data)[row], text);
                break;
            case DuckDBType.Interval:
                WriteInterval(writer, data + (row * 16));
                break;
            case DuckDBType.Uuid:
                WriteUuid(writer, ReadInt128(data, row));
                break;
            case DuckDBType.List or DuckDBType.Map:
                WriteList(writer, format, view, row);
                break;
            case DuckDBType.Array:
                WriteArray(writer, format, view, row);
                break;
            case DuckDBType.Struct:
                WriteStruct(writer, format, view, row);
                break;
            default:
                writer.WriteNullValue();
                break;
        }
    }

    private static void WriteTemporal(Utf8JsonWriter writer, DuckDBType type, long value, Span<byte> text)
    {
        // DuckDB's infinite dates and timestamps are the extreme values of their storage type.
        var infinity = type == DuckDBType.Date ? int.MaxValue : long.MaxValue;
        if (value == infinity || value == -infinity)
        {
            writer.WriteStringValue(value > 0 ? "infinity"u8 : "-infinity"u8);
            return;
        }

        var length = type switch
        {
            DuckDBType.Date => TemporalFormat.FormatDate(value, text),
            DuckDBType.TimestampNs => TemporalFormat.FormatNanos(value, text),
            DuckDBType.TimestampMs => TemporalFormat.FormatMillis(value, text),
            DuckDBType.TimestampS => TemporalFormat.FormatTimestamp(value, 0, text),
            _ => TemporalFormat.FormatMicros(value, text),
        };
        writer.WriteStringValue(text[..length]);
    }

    private static void WriteDouble(Utf8JsonWriter writer, double value)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteNullValue();
        }
    }

    private static Int128 ReadInt128(byte* data, long row)
    {
        var lower = ((ulong*)data)[row * 2];
        var upper = ((long*)data)[(row * 2) + 1];
        return new Int128((ulong)upper, lower);
    }

    private static void WriteDecimal(Utf8JsonWriter writer, ValueFormat format, byte* data, long row)
    {
        Int128 unscaled = format.Storage switch
        {
            DuckDBType.SmallInt => ((short*)data)[row],
            DuckDBType.Integer => ((int*)data)[row],
            DuckDBType.BigInt => ((long*)data)[row],
            _ => ReadInt128(data, row),
        };
        WriteInt128(writer, unscaled, format.Scale);
    }

    /// <summary>Writes <paramref name="unscaled"/> × 10^-scale as an exact JSON number.</summary>
    private static void WriteInt128(Utf8JsonWriter writer, Int128 unscaled, int scale)
    {
        Span<byte> digits = stackalloc byte[48];
        var negative = Int128.IsNegative(unscaled);
        var magnitude = negative ? (UInt128)(-(unscaled + 1)) + 1 : (UInt128)unscaled;
        magnitude.TryFormat(digits[1..], out var count, default, System.Globalization.CultureInfo.InvariantCulture);
        Span<byte> text = stackalloc byte[52];
        var length = 0;
        if (negative)
        {
            text[length++] = (byte)'-';
        }

        var body = digits.Slice(1, count);
        if (scale == 0)
        {
            body.CopyTo(text[length..]);
            length += count;
        }
        else
        {
            var whole = count - scale;
            if (whole <= 0)
            {
                text[length++] = (byte)'0';
                text[length++] = (byte)'.';
                text.Slice(length, -whole).Fill((byte)'0');
                length += -whole;
                body.CopyTo(text[length..]);
                length += count;
            }
            else
            {
                body[..whole].CopyTo(text[length..]);
                length += whole;
                text[length++] = (byte)'.';
                body[whole..].CopyTo(text[length..]);
                length += scale;
            }
        }

        writer.WriteRawValue(text[..length], skipInputValidation: true);
    }

    private static void WriteRawNumber(Utf8JsonWriter writer, UInt128 value)
    {
        Span<byte> text = stackalloc byte[40];
        value.TryFormat(text, out var length, default, System.Globalization.CultureInfo.InvariantCulture);
        writer.WriteRawValue(text[..length], skipInputValidation: true);
    }

    private static int EnumIndex(DuckDBType storage, byte* data, long row) => storage switch
    {
        DuckDBType.UnsignedTinyInt => data[row],
        DuckDBType.UnsignedSmallInt => ((ushort*)data)[row],
        _ => (int)((uint*)data)[row],
    };

    /// <summary>ISO 8601 duration: <c>P{months}M{days}DT{seconds}S</c>, each part only when non-zero.</summary>
    private static void WriteInterval(Utf8JsonWriter writer, byte* value)
    {
        var months = *(int*)value;
        var days = *(int*)(value + 4);
        var micros = *(long*)(value + 8);
        Span<byte> text = stackalloc byte[64];
        var length = 0;
        text[length++] = (byte)'P';
        if (months != 0)
        {
            Utf8Formatter.TryFormat(months, text[length..], out var n);
            length += n;
            text[length++] = (byte)'M';
        }

        if (days != 0)
        {
            Utf8Formatter.TryFormat(days, text[length..], out var n);
            length += n;
            text[length++] = (byte)'D';
        }

        if (micros != 0 || length == 1)
        {
            text[length++] = (byte)'T';
            Utf8Formatter.TryFormat(micros / 1_000_000m, text[length..], out var n);
            length += n;
            text[length++] = (byte)'S';
        }

        writer.WriteStringValue(text[..length]);
    }

    private static void WriteUuid(Utf8JsonWriter writer, Int128 stored)
    {
        // DuckDB stores UUIDs as a hugeint with the top bit flipped so they sort as unsigned.
        var value = (UInt128)stored ^ (UInt128.One << 127);
        Span<byte> hex = stackalloc byte[32];
        for (var i = 31; i >= 0; i--)
        {
            hex[i] = (byte)"0123456789abcdef"[(int)(value & 0xF)];
            value >>= 4;
        }

        Span<byte> text = stackalloc byte[36];
        hex[..8].CopyTo(text);
        text[8] = (byte)'-';
        hex[8..12].CopyTo(text[9..]);
        text[13] = (byte)'-';
        hex[12..16].CopyTo(text[14..]);
        text[18] = (byte)'-';
        hex[16..20].CopyTo(text[19..]);
        text[23] = (byte)'-';
        hex[20..].CopyTo(text[24..]);
        writer.WriteStringValue(text);
    }

    private static void WriteList(Utf8JsonWriter writer, ValueFormat format, in VectorView view, long row)
    {
        var entry = (ulong*)view.Data + (row * 2);
        var offset = (long)entry[0];
        var length = (long)entry[1];
        var child = new VectorView(NativeMethods.Vectors.DuckDBListVectorGetChild(view.Vector));
        if (format.Type == DuckDBType.Map)
        {
            WriteMapEntries(writer, format, child, offset, length);
            return;
        }

        writer.WriteStartArray();
        for (var i = 0; i < length; i++)
        {
            WriteValue(writer, format.Children[0], child, offset + i);
        }

        writer.WriteEndArray();
    }

    /// <summary>A MAP is a list of (key, value) structs; written as a JSON object with the keys as text.</summary>
    private static void WriteMapEntries(Utf8JsonWriter writer, ValueFormat format, in VectorView entries, long offset, long length)
    {
        var keys = new VectorView(NativeMethods.Vectors.DuckDBStructVectorGetChild(entries.Vector, 0));
        var values = new VectorView(NativeMethods.Vectors.DuckDBStructVectorGetChild(entries.Vector, 1));
        writer.WriteStartObject();
        for (var i = offset; i < offset + length; i++)
        {
            if (format.Children[0].Type == DuckDBType.Varchar)
            {
                writer.WritePropertyName(DuckDbStrings.Span(keys.Data + (i * 16)));
            }
            else
            {
                writer.WritePropertyName(KeyText(format.Children[0], keys, i));
            }

            WriteValue(writer, format.Children[1], values, i);
        }

        writer.WriteEndObject();
    }

    private static string KeyText(ValueFormat format, in VectorView view, long row)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64);
        using (var inner = new Utf8JsonWriter(buffer))
        {
            WriteValue(inner, format, view, row);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan).Trim('"');
    }

    private static void WriteArray(Utf8JsonWriter writer, ValueFormat format, in VectorView view, long row)
    {
        var child = new VectorView(NativeMethods.Vectors.DuckDBArrayVectorGetChild(view.Vector));
        writer.WriteStartArray();
        for (var i = 0; i < format.ArraySize; i++)
        {
            WriteValue(writer, format.Children[0], child, (row * format.ArraySize) + i);
        }

        writer.WriteEndArray();
    }

    private static void WriteStruct(Utf8JsonWriter writer, ValueFormat format, in VectorView view, long row)
    {
        writer.WriteStartObject();
        for (var i = 0; i < format.Children.Length; i++)
        {
            writer.WritePropertyName(format.ChildNames[i]);
            WriteValue(writer, format.Children[i], new VectorView(NativeMethods.Vectors.DuckDBStructVectorGetChild(view.Vector, i)), row);
        }

        writer.WriteEndObject();
    }
}

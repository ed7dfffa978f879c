using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Arc.Engine.DuckDb;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>
/// The CSV query response (RFC 4180): a header row of column names, then one record per row, CRLF line ends, fields quoted
/// when they contain a comma, quote, CR or LF (quotes doubled). Streamed chunk by chunk like the JSON output. Values are
/// spelled as in the JSON output: RFC 3339 timestamps keeping nanoseconds, exact decimals, base64 blobs, nested values as
/// JSON text; NULL is an empty field (an empty string is <c>""</c>), and non-finite floats are <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>.
/// </summary>
public static class CsvQueryOutput
{
    private const int FlushThreshold = 32 * 1024;

    /// <summary>The media type of the output (RFC 4180 text with a header row).</summary>
    public const string ContentType = "text/csv; charset=utf-8; header=present";

    /// <summary>Writes the whole response; <paramref name="flush"/> pushes written bytes to the client. Returns the row count.</summary>
    public static async ValueTask<long> WriteAsync(QueryCursor cursor, IBufferWriter<byte> output, Func<ValueTask> flush)
    {
        var writer = new CsvResultWriter(output, cursor.Formats());
        for (var i = 0; i < cursor.Result.ColumnCount; i++)
        {
            writer.WriteHeaderField(i, cursor.Result.GetColumnName(i));
        }

        writer.EndRecord();
        long rows = 0;
        while (cursor.Next() is { } chunk)
        {
            using (chunk)
            {
                rows += writer.WriteRows(chunk);
            }

            if (writer.Unflushed >= FlushThreshold)
            {
                writer.Unflushed = 0;
                await flush().ConfigureAwait(false);
            }
        }

        await flush().ConfigureAwait(false);
        return rows;
    }
}

/// <summary>Writes DuckDB chunks as CSV records straight from the vectors' memory.</summary>
internal sealed unsafe class CsvResultWriter(IBufferWriter<byte> output, ValueFormat[] formats)
{
    private static readonly SearchValues<byte> NeedsQuotes = SearchValues.Create(",\"\r\n"u8);

    private static readonly JsonWriterOptions NestedJson = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    private ArrayBufferWriter<byte>? _nestedBuffer;
    private Utf8JsonWriter? _nestedWriter;

    /// <summary>Bytes written since the caller last reset it.</summary>
    public long Unflushed { get; set; }

    private readonly struct Column(IntPtr vector)
    {
        public readonly IntPtr Vector = vector;
        public readonly byte* Data = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(vector);
        public readonly ulong* Validity = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool IsValid(long row) => Validity == null || (Validity[row >> 6] & (1UL << (int)(row & 63))) != 0;
    }

    public void WriteHeaderField(int index, string name)
    {
        if (index > 0)
        {
            WriteByte((byte)',');
        }

        var bytes = Encoding.UTF8.GetBytes(name);
        WriteField(bytes);
    }

    public void EndRecord()
    {
        var span = output.GetSpan(2);
        span[0] = (byte)'\r';
        span[1] = (byte)'\n';
        Advance(2);
    }

    public int WriteRows(DuckDBDataChunk chunk)
    {
        var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
        var count = formats.Length;
        var columns = count <= 64 ? stackalloc Column[count] : new Column[count];
        for (var c = 0; c < count; c++)
        {
            columns[c] = new Column(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, c));
        }

        for (var row = 0; row < size; row++)
        {
            for (var c = 0; c < count; c++)
            {
                if (c > 0)
                {
                    WriteByte((byte)',');
                }

                if (columns[c].IsValid(row))
                {
                    WriteValue(formats[c], columns[c], row);
                }
            }

            EndRecord();
        }

        return size;
    }

    private void WriteValue(ValueFormat format, in Column column, long row)
    {
        var data = column.Data;
        var span = output.GetSpan(ScalarText.MaxLength);
        int length;
        switch (format.Type)
        {
            case DuckDBType.Boolean:
                (data[row] != 0 ? "true"u8 : "false"u8).CopyTo(span);
                length = data[row] != 0 ? 4 : 5;
                break;
            case DuckDBType.TinyInt:
                Utf8Formatter.TryFormat(((sbyte*)data)[row], span, out length);
                break;
            case DuckDBType.SmallInt:
                Utf8Formatter.TryFormat(((short*)data)[row], span, out length);
                break;
            case DuckDBType.Integer:
                Utf8Formatter.TryFormat(((int*)data)[row], span, out length);
                break;
            case DuckDBType.BigInt:
                Utf8Formatter.TryFormat(((long*)data)[row], span, out length);
                break;
            case DuckDBType.UnsignedTinyInt:
                Utf8Formatter.TryFormat(data[row], span, out length);
                break;
            case DuckDBType.UnsignedSmallInt:
                Utf8Formatter.TryFormat(((ushort*)data)[row], span, out length);
                break;
            case DuckDBType.UnsignedInteger:
                Utf8Formatter.TryFormat(((uint*)data)[row], span, out length);
                break;
            case DuckDBType.UnsignedBigInt:
                Utf8Formatter.TryFormat(((ulong*)data)[row], span, out length);
                break;
            case DuckDBType.HugeInt:
                length = ScalarText.Decimal(ScalarText.ReadInt128(data, row), 0, span);
                break;
            case DuckDBType.UnsignedHugeInt:
                ((UInt128*)data)[row].TryFormat(span, out length, default, CultureInfo.InvariantCulture);
                break;
            case DuckDBType.Float:
                ((float*)data)[row].TryFormat(span, out length, default, CultureInfo.InvariantCulture);
                break;
            case DuckDBType.Double:
                ((double*)data)[row].TryFormat(span, out length, default, CultureInfo.InvariantCulture);
                break;
            case DuckDBType.Decimal:
                length = ScalarText.Decimal(ScalarText.DecimalUnscaled(format.Storage, data, row), format.Scale, span);
                break;
            case DuckDBType.Varchar:
                WriteField(DuckDbStrings.Span(data + (row * 16)));
                return;
            case DuckDBType.Blob:
                WriteBase64(DuckDbStrings.Span(data + (row * 16)));
                return;
            case DuckDBType.Enum:
                WriteField(format.EnumValues[ScalarText.EnumIndex(format.Storage, data, row)]);
                return;
            case DuckDBType.Date:
                length = ScalarText.Temporal(format.Type, ((int*)data)[row], span);
                break;
            case DuckDBType.Time:
                length = TemporalFormat.FormatMicrosOfDay(((long*)data)[row], span);
                break;
            case DuckDBType.Timestamp or DuckDBType.TimestampTz or DuckDBType.TimestampNs or DuckDBType.TimestampMs or DuckDBType.TimestampS:
                length = ScalarText.Temporal(format.Type, ((long*)data)[row], span);
                break;
            case DuckDBType.Interval:
                length = ScalarText.Interval(data + (row * 16), span);
                break;
            case DuckDBType.Uuid:
                length = ScalarText.Uuid(ScalarText.ReadInt128(data, row), span);
                break;
            case DuckDBType.List or DuckDBType.Map or DuckDBType.Array or DuckDBType.Struct:
                WriteNested(format, column.Vector, row);
                return;
            default:
                return;
        }

        Advance(length);
    }

    /// <summary>A nested value as its JSON text (the JSON output's spelling), as one quoted field.</summary>
    private void WriteNested(ValueFormat format, IntPtr vector, long row)
    {
        _nestedBuffer ??= new ArrayBufferWriter<byte>(256);
        _nestedBuffer.ResetWrittenCount();
        if (_nestedWriter is null)
        {
            _nestedWriter = new Utf8JsonWriter(_nestedBuffer, NestedJson);
        }
        else
        {
            _nestedWriter.Reset(_nestedBuffer);
        }

        JsonResultWriter.WriteValue(_nestedWriter, format, vector, row);
        _nestedWriter.Flush();
        WriteField(_nestedBuffer.WrittenSpan);
    }

    private void WriteBase64(ReadOnlySpan<byte> value)
    {
        var length = Base64.GetMaxEncodedToUtf8Length(value.Length);
        var span = output.GetSpan(length);
        Base64.EncodeToUtf8(value, span, out _, out var written);
        Advance(written);
    }

    /// <summary>
    /// Writes text as one field, quoted (with quotes doubled) when RFC 4180 requires it; an empty string is <c>""</c> so it
    /// differs from NULL (an empty field).
    /// </summary>
    private void WriteField(ReadOnlySpan<byte> value)
    {
        if (!value.IsEmpty && value.IndexOfAny(NeedsQuotes) < 0)
        {
            var plain = output.GetSpan(value.Length);
            value.CopyTo(plain);
            Advance(value.Length);
            return;
        }

        var span = output.GetSpan((value.Length * 2) + 2);
        var length = 0;
        span[length++] = (byte)'"';
        foreach (var b in value)
        {
            span[length++] = b;
            if (b == (byte)'"')
            {
                span[length++] = (byte)'"';
            }
        }

        span[length++] = (byte)'"';
        Advance(length);
    }

    private void WriteByte(byte value)
    {
        output.GetSpan(1)[0] = value;
        Advance(1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Advance(int count)
    {
        output.Advance(count);
        Unflushed += count;
    }
}

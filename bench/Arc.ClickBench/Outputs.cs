using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Arc.ClickBench;

/// <summary>Writes chunks to a Parquet file with the published physical types (ZSTD, one row group per chunk at most).</summary>
internal sealed class ParquetSink : IDisposable
{
    private static readonly Apache.Arrow.Schema ArrowSchema = BuildSchema();
    private readonly ParquetSharp.WriterProperties _properties;
    private readonly ParquetSharp.Arrow.FileWriter _writer;

    public ParquetSink(string path, int rowGroupSize)
    {
        _properties = new ParquetSharp.WriterPropertiesBuilder().Compression(ParquetSharp.Compression.Zstd).MaxRowGroupLength(rowGroupSize).Build();
        _writer = new ParquetSharp.Arrow.FileWriter(path, ArrowSchema, _properties);
    }

    public void Write(Chunk chunk) => _writer.WriteRecordBatch(ToBatch(chunk));

    public void Dispose()
    {
        _writer.Close();
        _writer.Dispose();
        _properties.Dispose();
    }

    private static Apache.Arrow.Schema BuildSchema()
    {
        var builder = new Apache.Arrow.Schema.Builder();
        foreach (var column in HitsSchema())
        {
            builder.Field(column);
        }

        return builder.Build();
    }

    private static IEnumerable<Field> HitsSchema() => Arc.ClickBench.Schema.Columns.Select(c => new Field(c.Name, c.Type switch
    {
        ColumnType.Int16 => Int16Type.Default,
        ColumnType.Int32 => Int32Type.Default,
        ColumnType.Int64 or ColumnType.Seconds => Int64Type.Default,
        ColumnType.Date => UInt16Type.Default,
        _ => StringType.Default,
    }, nullable: false));

    private static RecordBatch ToBatch(Chunk chunk)
    {
        var n = chunk.Count;
        var arrays = new IArrowArray[Arc.ClickBench.Schema.Columns.Length];
        for (var c = 0; c < arrays.Length; c++)
        {
            var values = chunk.Ints[c];
            switch (Arc.ClickBench.Schema.Columns[c].Type)
            {
                case ColumnType.Int16:
                    var shorts = new short[n];
                    for (var i = 0; i < n; i++)
                    {
                        shorts[i] = (short)values[i];
                    }

                    arrays[c] = new Int16Array(new ArrowBuffer(System.Runtime.InteropServices.MemoryMarshal.AsBytes(shorts.AsSpan()).ToArray()),
                        ArrowBuffer.Empty, n, 0, 0);
                    break;
                case ColumnType.Int32:
                    var ints = new int[n];
                    for (var i = 0; i < n; i++)
                    {
                        ints[i] = (int)values[i];
                    }

                    arrays[c] = new Int32Array(new ArrowBuffer(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ints.AsSpan()).ToArray()),
                        ArrowBuffer.Empty, n, 0, 0);
                    break;
                case ColumnType.Date:
                    var days = new ushort[n];
                    for (var i = 0; i < n; i++)
                    {
                        days[i] = (ushort)values[i];
                    }

                    arrays[c] = new UInt16Array(new ArrowBuffer(System.Runtime.InteropServices.MemoryMarshal.AsBytes(days.AsSpan()).ToArray()),
                        ArrowBuffer.Empty, n, 0, 0);
                    break;
                case ColumnType.Text:
                    var builder = new StringArray.Builder();
                    var texts = chunk.Texts[c];
                    for (var i = 0; i < n; i++)
                    {
                        builder.Append(texts[i]);
                    }

                    arrays[c] = builder.Build();
                    break;
                default:
                    arrays[c] = new Int64Array(new ArrowBuffer(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan(0, n)).ToArray()),
                        ArrowBuffer.Empty, n, 0, 0);
                    break;
            }
        }

        return new RecordBatch(ArrowSchema, arrays, n);
    }
}

/// <summary>
/// Encodes chunks as arc-native MessagePack columnar bodies, <c>{"m":"hits","columns":{"time":[...],"WatchID":[...],...}}</c>, one
/// file per body. Type mapping (the ingest API has integers, floats, booleans and strings): every integer column is sent as
/// integers (stored BIGINT), TEXT as strings (VARCHAR), EventDate as its ISO date text (VARCHAR, so the queries' date literals
/// compare as in DuckDB), and <c>time</c> is EventTime plus the row's number in the data set as nanoseconds. arc-native
/// identifies a point by measurement, tags and time, and compaction keeps only the last of duplicate points; hits has no
/// series key and many hits share a second, so with <c>time</c> = EventTime alone compaction would drop rows.
/// </summary>
internal sealed class MsgPackSink(string directory, int bodyRows)
{
    private static readonly string[] DateTexts = Enumerable.Range(0, 40)
        .Select(d => DateOnly.FromDayNumber(DateOnly.FromDateTime(new DateTime(1970, 1, 1)).DayNumber + HitsGenerator.FirstDay + d)
            .ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).ToArray();

    private static readonly byte[][] NameBytes = Arc.ClickBench.Schema.Columns.Select(c => Encoding.UTF8.GetBytes(c.Name)).ToArray();
    private readonly ArrayBufferWriter<byte> _buffer = new(64 << 20);
    private readonly int _eventTime = Arc.ClickBench.Schema.Index("EventTime");
    private long _row;

    public int Bodies { get; private set; }

    public long Bytes { get; private set; }

    public void Write(Chunk chunk)
    {
        for (var start = 0; start < chunk.Count; start += bodyRows)
        {
            var count = Math.Min(bodyRows, chunk.Count - start);
            _buffer.ResetWrittenCount();
            WriteMapHeader(2);
            WriteString("m"u8);
            WriteString("hits"u8);
            WriteString("columns"u8);
            WriteMapHeader(Arc.ClickBench.Schema.Columns.Length + 1);
            WriteString("time"u8);
            WriteArrayHeader(count);
            var times = chunk.Ints[_eventTime];
            for (var i = start; i < start + count; i++)
            {
                WriteInt((times[i] * 1_000_000_000L) + ((_row + i) % 1_000_000_000L));
            }

            for (var c = 0; c < Arc.ClickBench.Schema.Columns.Length; c++)
            {
                WriteString(NameBytes[c]);
                WriteArrayHeader(count);
                var type = Arc.ClickBench.Schema.Columns[c].Type;
                if (type == ColumnType.Text)
                {
                    var texts = chunk.Texts[c];
                    for (var i = start; i < start + count; i++)
                    {
                        WriteString(texts[i]);
                    }
                }
                else if (type == ColumnType.Date)
                {
                    var days = chunk.Ints[c];
                    for (var i = start; i < start + count; i++)
                    {
                        WriteString(DateTexts[days[i] - HitsGenerator.FirstDay]);
                    }
                }
                else
                {
                    var values = chunk.Ints[c];
                    for (var i = start; i < start + count; i++)
                    {
                        WriteInt(values[i]);
                    }
                }
            }

            var path = Path.Combine(directory, $"body_{Bodies:D6}.msgpack");
            File.WriteAllBytes(path, _buffer.WrittenSpan.ToArray());
            Bodies++;
            Bytes += _buffer.WrittenCount;
        }

        _row += chunk.Count;
    }

    private void WriteMapHeader(int count)
    {
        if (count < 16)
        {
            Put((byte)(0x80 | count));
        }
        else
        {
            var span = _buffer.GetSpan(5);
            span[0] = 0xdf;
            BinaryPrimitives.WriteInt32BigEndian(span[1..], count);
            _buffer.Advance(5);
        }
    }

    private void WriteArrayHeader(int count)
    {
        var span = _buffer.GetSpan(5);
        span[0] = 0xdd;
        BinaryPrimitives.WriteInt32BigEndian(span[1..], count);
        _buffer.Advance(5);
    }

    private void WriteInt(long value)
    {
        if (value is >= 0 and < 128)
        {
            Put((byte)value);
        }
        else if (value is >= -32 and < 0)
        {
            Put((byte)(0xe0 | (value + 32)));
        }
        else if (value is >= short.MinValue and <= short.MaxValue)
        {
            var span = _buffer.GetSpan(3);
            span[0] = 0xd1;
            BinaryPrimitives.WriteInt16BigEndian(span[1..], (short)value);
            _buffer.Advance(3);
        }
        else if (value is >= int.MinValue and <= int.MaxValue)
        {
            var span = _buffer.GetSpan(5);
            span[0] = 0xd2;
            BinaryPrimitives.WriteInt32BigEndian(span[1..], (int)value);
            _buffer.Advance(5);
        }
        else
        {
            var span = _buffer.GetSpan(9);
            span[0] = 0xd3;
            BinaryPrimitives.WriteInt64BigEndian(span[1..], value);
            _buffer.Advance(9);
        }
    }

    private void WriteString(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteStringHeader(length);
        var span = _buffer.GetSpan(length);
        Encoding.UTF8.GetBytes(value, span);
        _buffer.Advance(length);
    }

    private void WriteString(ReadOnlySpan<byte> value)
    {
        WriteStringHeader(value.Length);
        value.CopyTo(_buffer.GetSpan(value.Length));
        _buffer.Advance(value.Length);
    }

    private void WriteStringHeader(int length)
    {
        if (length < 32)
        {
            Put((byte)(0xa0 | length));
        }
        else if (length < 256)
        {
            var span = _buffer.GetSpan(2);
            span[0] = 0xd9;
            span[1] = (byte)length;
            _buffer.Advance(2);
        }
        else
        {
            var span = _buffer.GetSpan(5);
            span[0] = 0xdb;
            BinaryPrimitives.WriteInt32BigEndian(span[1..], length);
            _buffer.Advance(5);
        }
    }

    private void Put(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
    }
}

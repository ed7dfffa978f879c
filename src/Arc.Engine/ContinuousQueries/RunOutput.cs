using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using Arc.Engine.DuckDb;
using Arc.Engine.Query;
using DuckDB.NET.Native;

namespace Arc.Engine.ContinuousQueries;

/// <summary>How an output column is written: the timestamp, a tag, or a field of a type.</summary>
internal enum OutputKind
{
    Time,
    Tag,
    Float,
    Integer,
    UInteger,
    Boolean,
    String,
}

internal sealed record OutputColumn(string Name, OutputKind Kind);

/// <summary>One output row: its time (Unix nanoseconds) and a value per column (null where the query gave NULL).</summary>
internal sealed record OutputRow(long Time, object?[] Values);

/// <summary>
/// A run's rows, read from the typed projection of the query (one DuckDB column per <see cref="Columns"/> entry, in order),
/// with what a run needs of them: each row's identity, the MessagePack body that writes them, and the dry run's JSON.
/// </summary>
internal sealed class RunOutput(List<OutputColumn> columns, long windowStartNs)
{
    public List<OutputColumn> Columns { get; } = columns;

    public List<OutputRow> Rows { get; } = [];

    /// <summary>
    /// Appends a chunk's rows. Rows without any field value are left out: no write format stores a row with no field, so
    /// they would never be found in the destination.
    /// </summary>
    public void Read(DuckDBDataChunk chunk)
    {
        var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
        var vectors = new IntPtr[Columns.Count];
        for (var c = 0; c < vectors.Length; c++)
        {
            vectors[c] = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, c);
        }

        for (var r = 0; r < size; r++)
        {
            var time = windowStartNs;
            var values = new object?[Columns.Count];
            var hasField = false;
            for (var c = 0; c < vectors.Length; c++)
            {
                var kind = Columns[c].Kind;
                if (kind == OutputKind.Time)
                {
                    time = ReadLong(vectors[c], r) ?? windowStartNs;
                    continue;
                }

                values[c] = kind switch
                {
                    OutputKind.Float => ReadDouble(vectors[c], r),
                    OutputKind.Integer => ReadLong(vectors[c], r),
                    OutputKind.UInteger => ReadULong(vectors[c], r),
                    OutputKind.Boolean => ReadBool(vectors[c], r),
                    _ => ReadString(vectors[c], r),
                };
                hasField |= kind != OutputKind.Tag && values[c] is not null;
            }

            if (hasField)
            {
                Rows.Add(new OutputRow(time, values));
            }
        }
    }

    /// <summary>The row's identity: its time and its tag values (a NULL tag differs from an empty one).</summary>
    public string Key(OutputRow row)
    {
        var key = new StringBuilder();
        key.Append(row.Time);
        for (var c = 0; c < Columns.Count; c++)
        {
            if (Columns[c].Kind == OutputKind.Tag)
            {
                AppendKeyPart(key, (string?)row.Values[c]);
            }
        }

        return key.ToString();
    }

    internal static void AppendKeyPart(StringBuilder key, string? value) => key.Append('\0').Append(value is null ? "\u0001" : "\u0002" + value);

    /// <summary>
    /// A columnar MessagePack write body: <c>{"m": destination, "columns": {"time": [...], ...}, "tags": [...]}</c>, times
    /// as MessagePack timestamps (exact to the nanosecond), NULLs as nil. Stored all or nothing.
    /// </summary>
    public byte[] Encode(string destination, List<OutputRow> rows)
    {
        using var buffer = new MsgPackBuffer();
        buffer.WriteMapHeader(3);
        WriteString(buffer, "m");
        WriteString(buffer, destination);
        WriteString(buffer, "columns");
        var written = Columns.Where(c => c.Kind != OutputKind.Time).ToList();
        buffer.WriteMapHeader(written.Count + 1);
        WriteString(buffer, "time");
        buffer.WriteArrayHeader(rows.Count);
        foreach (var row in rows)
        {
            var seconds = Math.DivRem(row.Time, 1_000_000_000L, out var nanos);
            if (nanos < 0)
            {
                seconds--;
                nanos += 1_000_000_000L;
            }

            buffer.WriteTimestamp(seconds, (uint)nanos);
        }

        for (var c = 0; c < Columns.Count; c++)
        {
            var column = Columns[c];
            if (column.Kind == OutputKind.Time)
            {
                continue;
            }

            WriteString(buffer, column.Name);
            buffer.WriteArrayHeader(rows.Count);
            foreach (var row in rows)
            {
                switch (row.Values[c])
                {
                    case null:
                        buffer.WriteNil();
                        break;
                    case double d:
                        buffer.WriteFloat64(d);
                        break;
                    case long l:
                        buffer.WriteInt(l);
                        break;
                    case ulong u:
                        buffer.WriteUInt(u);
                        break;
                    case bool b:
                        buffer.WriteBool(b);
                        break;
                    case string s:
                        WriteString(buffer, s);
                        break;
                }
            }
        }

        var tags = Columns.Where(c => c.Kind == OutputKind.Tag).ToList();
        WriteString(buffer, "tags");
        buffer.WriteArrayHeader(tags.Count);
        foreach (var tag in tags)
        {
            WriteString(buffer, tag.Name);
        }

        var body = new ArrayBufferWriter<byte>((int)Math.Min(buffer.WrittenBytes, Array.MaxLength));
        buffer.DrainTo(body, static (writer, segment) => writer.Write(segment.Span));
        return body.WrittenSpan.ToArray();
    }

    /// <summary>The first <paramref name="limit"/> rows as JSON objects (<c>time</c> in RFC 3339), for a dry run.</summary>
    public JsonArray ToJson(int limit)
    {
        var array = new JsonArray();
        foreach (var row in Rows.Take(limit))
        {
            var item = new JsonObject
            {
                ["time"] = JsonValue.Create(ContinuousQueryStore.Rfc3339(DateTime.UnixEpoch.AddTicks(row.Time / 100))),
            };
            for (var c = 0; c < Columns.Count; c++)
            {
                if (Columns[c].Kind == OutputKind.Time)
                {
                    continue;
                }

                item[Columns[c].Name] = row.Values[c] switch
                {
                    double d when double.IsFinite(d) => JsonValue.Create(d),
                    long l => JsonValue.Create(l),
                    ulong u => JsonValue.Create(u),
                    bool b => JsonValue.Create(b),
                    string s => JsonValue.Create(s),
                    _ => null,
                };
            }

            array.Add((JsonNode)item);
        }

        return array;
    }

    private static void WriteString(MsgPackBuffer buffer, string value) => buffer.WriteString(Encoding.UTF8.GetBytes(value));

    private static unsafe bool IsValid(IntPtr vector, int row)
    {
        var validity = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);
        return validity == null || (validity[row >> 6] & (1UL << (row & 63))) != 0;
    }

    internal static unsafe long? ReadLong(IntPtr vector, int row) =>
        IsValid(vector, row) ? ((long*)NativeMethods.Vectors.DuckDBVectorGetData(vector))[row] : null;

    private static unsafe ulong? ReadULong(IntPtr vector, int row) =>
        IsValid(vector, row) ? ((ulong*)NativeMethods.Vectors.DuckDBVectorGetData(vector))[row] : null;

    private static unsafe double? ReadDouble(IntPtr vector, int row) =>
        IsValid(vector, row) ? ((double*)NativeMethods.Vectors.DuckDBVectorGetData(vector))[row] : null;

    private static unsafe bool? ReadBool(IntPtr vector, int row) =>
        IsValid(vector, row) ? ((byte*)NativeMethods.Vectors.DuckDBVectorGetData(vector))[row] != 0 : null;

    internal static unsafe string? ReadString(IntPtr vector, int row) =>
        IsValid(vector, row) ? DuckDbStrings.Read((byte*)NativeMethods.Vectors.DuckDBVectorGetData(vector) + (row * 16)) : null;
}

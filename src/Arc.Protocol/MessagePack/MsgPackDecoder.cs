using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Unicode;
using Arc.Protocol.LineProtocol;
using static Arc.Protocol.MessagePack.MsgPackReader;

namespace Arc.Protocol.MessagePack;

/// <summary>
/// Decodes Arc's MessagePack write format into an <see cref="IMsgPackHandler"/>, without building an object tree:
/// <list type="bullet">
/// <item>columnar: <c>{"m":"cpu","columns":{"time":[...],"host":[...],"usage":[...]},"tags":["host"]}</c> — arrays of equal
/// length, one row per index; <c>tags</c> (or Arc's <c>tag_keys</c>) names the string columns that are tags;</item>
/// <item>row: <c>{"m":"cpu","t":...,"h":"host1","tags":{...},"fields":{...}}</c> — <c>h</c> is the tag <c>host</c>,
/// <c>"f":[...]</c> instead of <c>fields</c> names its values <c>field_0..n</c>;</item>
/// <item>batch: <c>{"batch":[...]}</c> or a top-level array of records (or batches).</item>
/// </list>
/// The body is read twice: a validation pass that checks everything (structure, types, names, the handler's schema
/// rules) and writes nothing, then a write pass. Unknown keys of a record are skipped. Errors carry the byte offset.
/// </summary>
public static class MsgPackDecoder
{
    /// <summary>
    /// Decodes <paramref name="body"/> (the whole, decompressed request body). Returns true and what was written, or false
    /// and why the body was rejected — in which case the handler wrote nothing (the write pass never started).
    /// </summary>
    public static bool TryDecode<THandler>(ReadOnlySpan<byte> body, ref THandler handler, in MsgPackDecoderOptions options,
        out MsgPackSummary summary, out MsgPackError error)
        where THandler : IMsgPackHandler, allows ref struct
    {
        var state = new State(options);
        try
        {
            Walk<THandler, ValidatePass>(body, ref handler, ref state);
            if (handler.EndValidation(out var offset) is { } refused)
            {
                summary = default;
                error = new MsgPackError(offset, MsgPackErrorKind.Rejected, refused);
                return false;
            }

            var validated = state;
            state = new State(options);
            Walk<THandler, WritePass>(body, ref handler, ref state);
            summary = new MsgPackSummary(validated.Records, validated.Rows);
            error = default;
            return true;
        }
        catch (MsgPackFormatException e)
        {
            summary = new MsgPackSummary(state.Records, state.Rows);
            error = e.ToError();
            return false;
        }
    }

    private static void Walk<THandler, TPass>(ReadOnlySpan<byte> body, ref THandler handler, ref State state)
        where THandler : IMsgPackHandler, allows ref struct
        where TPass : struct
    {
        if (body.IsEmpty)
        {
            MsgPackThrow.Malformed(0, "the body is empty");
        }

        var reader = new MsgPackReader(body);
        switch (reader.PeekType())
        {
            case MsgPackType.Map:
                ReadMap<THandler, TPass>(ref reader, ref handler, ref state, 1);
                break;
            case MsgPackType.Array:
                ReadBatchItems<THandler, TPass>(ref reader, ref handler, ref state, 1);
                break;
            default:
                MsgPackThrow.Malformed(0, $"expected a map (a record or a batch) or an array of records, got {DescribeCode(body[0])}");
                break;
        }

        if (!reader.End)
        {
            MsgPackThrow.Malformed(reader.Position, $"unexpected data after the payload ({reader.Remaining} bytes)");
        }
    }

    /// <summary>An array whose items are records or batches (maps).</summary>
    private static void ReadBatchItems<THandler, TPass>(ref MsgPackReader reader, ref THandler handler, ref State state, int depth)
        where THandler : IMsgPackHandler, allows ref struct
        where TPass : struct
    {
        CheckDepth(reader.Position, depth, ref state);
        var count = reader.ReadArrayHeader();
        for (var i = 0; i < count; i++)
        {
            if (reader.PeekType() != MsgPackType.Map)
            {
                MsgPackThrow.Malformed(reader.Position, $"batch items must be maps (records), got {DescribeCode(reader.PeekCode())}");
            }

            ReadMap<THandler, TPass>(ref reader, ref handler, ref state, depth + 1);
        }
    }

    /// <summary>A map: a batch, a columnar record or a row record. Leaves the reader after the map.</summary>
    private static void ReadMap<THandler, TPass>(ref MsgPackReader reader, ref THandler handler, ref State state, int depth)
        where THandler : IMsgPackHandler, allows ref struct
        where TPass : struct
    {
        var mapOffset = reader.Position;
        CheckDepth(mapOffset, depth, ref state);
        var count = reader.ReadMapHeader();
        var keys = RecordKeys.Absent;
        for (var i = 0; i < count; i++)
        {
            var keyOffset = reader.Position;
            var code = reader.PeekCode();
            if (TypeOf(code) != MsgPackType.String)
            {
                MsgPackThrow.Malformed(keyOffset, $"map keys must be strings, got {DescribeCode(code)}");
            }

            var key = reader.ReadString();
            ref var slot = ref keys.Find(key);
            if (!Unsafe.IsNullRef(ref slot))
            {
                if (slot >= 0)
                {
                    MsgPackThrow.Malformed(keyOffset, $"duplicate key '{LineProtocolError.Sanitize(key)}'");
                }

                slot = reader.Position;
                if (slot == keys.Batch)
                {
                    // A batch is read where it stands (not skipped, then read): it is most of the body.
                    if (reader.PeekType() != MsgPackType.Array)
                    {
                        MsgPackThrow.Malformed(keys.Batch, $"'batch' must be an array of records, got {DescribeCode(reader.PeekCode())}");
                    }

                    ReadBatchItems<THandler, TPass>(ref reader, ref handler, ref state, depth + 1);
                    continue;
                }

                if (slot == keys.Columns && i == count - 1 && keys.Batch < 0)
                {
                    // The record's last entry (as senders usually put it): read where it stands, which leaves the reader
                    // at the end of the map; skipping it first would walk every value once more. The validation pass
                    // still tells the handler of the record only once all of it was read (ReadColumnar).
                    ReadColumnar<THandler, TPass>(ref reader, ref handler, ref state, in keys, mapOffset);
                    return;
                }
            }

            reader.Skip(state.MaxDepth - depth);
        }

        var end = reader.Position;
        if (keys.Batch >= 0)
        {
            if (keys.M >= 0 || keys.Columns >= 0)
            {
                MsgPackThrow.Malformed(mapOffset, "a map with 'batch' cannot also be a record ('m', 'columns')");
            }
        }
        else if (keys.Columns >= 0)
        {
            ReadColumnar<THandler, TPass>(ref reader, ref handler, ref state, in keys, mapOffset);
        }
        else
        {
            ReadRow<THandler, TPass>(ref reader, ref handler, ref state, in keys, mapOffset);
        }

        reader.Position = end;
    }

    private static void ReadColumnar<THandler, TPass>(ref MsgPackReader reader, ref THandler handler, ref State state,
        in RecordKeys keys, int mapOffset)
        where THandler : IMsgPackHandler, allows ref struct
        where TPass : struct
    {
        var validate = typeof(TPass) == typeof(ValidatePass);
        var measurement = ReadMeasurement(ref reader, keys.M, mapOffset);

        // The tag list: "tags" (ours) or "tag_keys" (Arc's), an array of column names.
        var tagsOffset = keys.Tags >= 0 ? keys.Tags : keys.TagKeys;
        if (keys.Tags >= 0 && keys.TagKeys >= 0)
        {
            MsgPackThrow.Malformed(keys.TagKeys, "give the tag columns in 'tags' or in 'tag_keys', not both");
        }

        var tagCount = 0;
        if (tagsOffset >= 0)
        {
            reader.Position = tagsOffset;
            if (!reader.TryReadNil())
            {
                tagCount = validate ? ValidateTagList(ref reader, tagsOffset) : reader.ReadArrayHeader();
            }
            else
            {
                tagsOffset = -1;
            }
        }

        reader.Position = keys.Columns;
        if (reader.PeekType() != MsgPackType.Map)
        {
            MsgPackThrow.Malformed(keys.Columns, $"'columns' must be a map of column name to array, got {DescribeCode(reader.PeekCode())}");
        }

        var columnCount = reader.ReadMapHeader();
        if (columnCount == 0)
        {
            MsgPackThrow.Malformed(keys.Columns, "'columns' is empty");
        }

        // The first column's length is the record's row count; every other column must have it too.
        var probe = reader;
        var firstOffset = probe.Position;
        var first = ReadColumnName(ref probe);
        if (probe.PeekType() != MsgPackType.Array)
        {
            MsgPackThrow.Malformed(probe.Position,
                $"column '{LineProtocolError.Sanitize(first)}' must be an array, got {DescribeCode(probe.PeekCode())}");
        }

        var rows = probe.ReadArrayHeader();
        if (validate)
        {
            // The handler hears of the record only once all of it was read and checked (below): a truncated or malformed
            // record must not resolve its measurement, which would create its database.
            state.AddRows(rows, firstOffset);
            ValidateColumnar(ref reader, ref handler, ref state, in keys, columnCount, rows, first, measurement, tagCount, tagsOffset);
            return;
        }

        if (handler.BeginRecord(measurement, rows) is { } refused)
        {
            MsgPackThrow.Rejected(keys.M, refused);
        }

        var hasTime = false;
        for (var c = 0; c < columnCount; c++)
        {
            var nameOffset = reader.Position;
            var name = ReadColumnName(ref reader);
            reader.ReadArrayHeader(); // checked in the validation pass
            if (name.SequenceEqual("time"u8))
            {
                hasTime = true;
                ReadTimes<THandler, TPass>(ref reader, ref handler, rows);
                continue;
            }

            var tag = tagCount > 0 && IsTag(ref reader, tagsOffset, name);
            handler.Column(name, MsgPackValueKinds.None, tag, nameOffset, out var type);
            WriteValues(ref reader, ref handler, rows, type);
        }

        if (!hasTime)
        {
            for (var row = 0; row < rows; row++)
            {
                handler.WriteTime(row, state.DefaultTimestamp);
            }
        }

        handler.EndRecord();
    }

    /// <summary>
    /// The validation pass over a columnar record's <c>columns</c>: every column read and checked (names, lengths, times,
    /// the kinds of values, the tag and field limits) and its kinds kept; only then are the handler's
    /// <see cref="IMsgPackHandler.BeginRecord"/> and <see cref="IMsgPackHandler.Column"/> called, in column order.
    /// </summary>
    private static void ValidateColumnar<THandler>(ref MsgPackReader reader, ref THandler handler, ref State state, in RecordKeys keys,
        int columnCount, int rows, scoped ReadOnlySpan<byte> first, scoped ReadOnlySpan<byte> measurement, int tagCount, int tagsOffset)
        where THandler : IMsgPackHandler, allows ref struct
    {
        // At most the tag and field limits are kept (one more is refused): a map header may declare far more entries
        // than the record holds, and only the walk finds out.
        var columns = System.Buffers.ArrayPool<(int Offset, MsgPackValueKinds Kinds, bool Tag)>.Shared.Rent(
            Math.Min(columnCount, state.MaxTags + state.MaxFields));
        try
        {
            var kept = 0;
            var hasTime = false;
            var fields = 0;
            var tags = 0;
            for (var c = 0; c < columnCount; c++)
            {
                var nameOffset = reader.Position;
                var name = ReadColumnName(ref reader);
                var arrayOffset = reader.Position;
                if (reader.PeekType() != MsgPackType.Array)
                {
                    MsgPackThrow.Malformed(arrayOffset,
                        $"column '{LineProtocolError.Sanitize(name)}' must be an array, got {DescribeCode(reader.PeekCode())}");
                }

                var count = reader.ReadArrayHeader();
                if (count != rows)
                {
                    MsgPackThrow.Malformed(arrayOffset,
                        $"column '{LineProtocolError.Sanitize(name)}' has {count} values but '{LineProtocolError.Sanitize(first)}' has {rows}");
                }

                if (name.SequenceEqual("time"u8))
                {
                    if (hasTime)
                    {
                        MsgPackThrow.Malformed(nameOffset, "duplicate column 'time'");
                    }

                    hasTime = true;
                    ReadTimes<THandler, ValidatePass>(ref reader, ref handler, rows);
                    continue;
                }

                var tag = tagCount > 0 && IsTag(ref reader, tagsOffset, name);
                ValidateName(name, nameOffset);
                var kinds = Classify(ref reader, rows, name);
                if ((kinds & ~MsgPackValueKinds.Nil) == MsgPackValueKinds.None)
                {
                    tags += tag ? 1 : 0; // only nils: no column
                    continue;
                }

                CheckColumn(kinds, tag, name, arrayOffset);
                if (tag ? ++tags > state.MaxTags : ++fields > state.MaxFields)
                {
                    MsgPackThrow.Rejected(nameOffset, tag ? $"more than {state.MaxTags} tags in one record" : $"more than {state.MaxFields} fields in one record");
                }

                columns[kept++] = (nameOffset, kinds, tag);
            }

            if (tags != tagCount)
            {
                MissingTag(ref reader, tagsOffset, keys.Columns);
            }

            if (fields == 0 && rows > 0)
            {
                MsgPackThrow.Malformed(keys.Columns, "the record has no field values (only time, tags or nils)");
            }

            if (handler.BeginRecord(measurement, rows) is { } refused)
            {
                MsgPackThrow.Rejected(keys.M, refused);
            }

            var names = reader;
            foreach (var (offset, kinds, tag) in columns.AsSpan(0, kept))
            {
                names.Position = offset;
                if (handler.Column(ReadColumnName(ref names), kinds, tag, offset, out _) is { } columnRefused)
                {
                    MsgPackThrow.Rejected(offset, columnRefused);
                }
            }

            handler.EndRecord();
        }
        finally
        {
            System.Buffers.ArrayPool<(int Offset, MsgPackValueKinds Kinds, bool Tag)>.Shared.Return(columns);
        }
    }

    private static void ReadRow<THandler, TPass>(ref MsgPackReader reader, ref THandler handler, ref State state,
        in RecordKeys keys, int mapOffset)
        where THandler : IMsgPackHandler, allows ref struct
        where TPass : struct
    {
        var validate = typeof(TPass) == typeof(ValidatePass);
        var measurement = ReadMeasurement(ref reader, keys.M, mapOffset);
        if (validate)
        {
            state.AddRows(1, mapOffset);
        }

        if (handler.BeginRecord(measurement, 1) is { } refused)
        {
            MsgPackThrow.Rejected(keys.M, refused);
        }

        var time = state.DefaultTimestamp;
        if (keys.T >= 0)
        {
            reader.Position = keys.T;
            if (!reader.TryReadNil())
            {
                time = ReadTime(ref reader, "'t'");
            }
        }

        // Tags: the "tags" map, then "h" (the tag host).
        var tags = 0;
        if (keys.Tags >= 0)
        {
            reader.Position = keys.Tags;
            if (!reader.TryReadNil())
            {
                if (reader.PeekType() != MsgPackType.Map)
                {
                    MsgPackThrow.Malformed(keys.Tags, $"'tags' of a row must be a map of tag name to string, got {DescribeCode(reader.PeekCode())}");
                }

                var count = reader.ReadMapHeader();
                for (var i = 0; i < count; i++)
                {
                    var nameOffset = reader.Position;
                    var name = ReadColumnName(ref reader);
                    if (validate)
                    {
                        ValidateName(name, nameOffset);
                    }

                    tags += RowTag<THandler, TPass>(ref reader, ref handler, ref state, name, nameOffset, tags);
                }
            }
        }

        if (keys.H >= 0)
        {
            reader.Position = keys.H;
            if (reader.PeekType() is not (MsgPackType.String or MsgPackType.Nil))
            {
                MsgPackThrow.Malformed(keys.H, $"'h' (the host tag) must be a string, got {DescribeCode(reader.PeekCode())}");
            }

            tags += RowTag<THandler, TPass>(ref reader, ref handler, ref state, "host"u8, keys.H, tags);
        }

        // Fields: the "fields" map, or the "f" array (field_0..n).
        if (keys.Fields >= 0 && keys.F >= 0)
        {
            MsgPackThrow.Malformed(keys.F, "a row has both 'fields' and 'f'");
        }

        var fields = 0;
        if (keys.Fields >= 0)
        {
            reader.Position = keys.Fields;
            if (reader.PeekType() != MsgPackType.Map)
            {
                MsgPackThrow.Malformed(keys.Fields, $"'fields' must be a map of field name to value, got {DescribeCode(reader.PeekCode())}");
            }

            var count = reader.ReadMapHeader();
            for (var i = 0; i < count; i++)
            {
                var nameOffset = reader.Position;
                var name = ReadColumnName(ref reader);
                if (validate)
                {
                    ValidateName(name, nameOffset);
                }

                fields += RowField<THandler, TPass>(ref reader, ref handler, ref state, name, nameOffset, fields);
            }
        }
        else if (keys.F >= 0)
        {
            reader.Position = keys.F;
            if (reader.PeekType() != MsgPackType.Array)
            {
                MsgPackThrow.Malformed(keys.F, $"'f' must be an array of field values, got {DescribeCode(reader.PeekCode())}");
            }

            Span<byte> generated = stackalloc byte[24];
            "field_"u8.CopyTo(generated);
            var count = reader.ReadArrayHeader();
            for (var i = 0; i < count; i++)
            {
                i.TryFormat(generated[6..], out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
                fields += RowField<THandler, TPass>(ref reader, ref handler, ref state, generated[..(6 + digits)], reader.Position, fields);
            }
        }
        else
        {
            MsgPackThrow.Malformed(mapOffset, "a record needs 'columns' (columnar form) or 'fields' or 'f' (row form)");
        }

        if (validate && fields == 0)
        {
            MsgPackThrow.Malformed(keys.Fields >= 0 ? keys.Fields : keys.F, "the row has no field values (every value is nil)");
        }

        if (!validate)
        {
            handler.WriteTime(0, time);
        }

        handler.EndRecord();
    }

    /// <summary>One tag of a row (value at the reader): nil is no tag, else a string. Returns 1 when it is a tag.</summary>
    private static int RowTag<THandler, TPass>(ref MsgPackReader reader, ref THandler handler, ref State state,
        scoped ReadOnlySpan<byte> name, int nameOffset, int tags)
        where THandler : IMsgPackHandler, allows ref struct
        where TPass : struct
    {
        var valueOffset = reader.Position;
        if (reader.TryReadNil())
        {
            return 0;
        }

        if (reader.PeekType() != MsgPackType.String)
        {
            MsgPackThrow.Malformed(valueOffset, $"tag '{LineProtocolError.Sanitize(name)}' must be a string, got {DescribeCode(reader.PeekCode())}");
        }

        var value = reader.ReadString();
        if (typeof(TPass) == typeof(ValidatePass))
        {
            if (!Utf8.IsValid(value))
            {
                MsgPackThrow.Malformed(valueOffset, $"value of tag '{LineProtocolError.Sanitize(name)}' is not valid UTF-8");
            }

            if (tags >= state.MaxTags)
            {
                MsgPackThrow.Rejected(nameOffset, $"more than {state.MaxTags} tags in one record");
            }

            if (handler.Column(name, MsgPackValueKinds.String, true, nameOffset, out _) is { } refused)
            {
                MsgPackThrow.Rejected(nameOffset, refused);
            }
        }
        else
        {
            handler.Column(name, MsgPackValueKinds.None, true, nameOffset, out var type);
            if (type != MsgPackColumnType.None)
            {
                handler.WriteString(0, value);
            }
        }

        return 1;
    }

    /// <summary>One field of a row (value at the reader). Returns 1 when it has a (non-nil) value.</summary>
    private static int RowField<THandler, TPass>(ref MsgPackReader reader, ref THandler handler, ref State state,
        scoped ReadOnlySpan<byte> name, int nameOffset, int fields)
        where THandler : IMsgPackHandler, allows ref struct
        where TPass : struct
    {
        if (reader.TryReadNil())
        {
            return 0;
        }

        if (typeof(TPass) == typeof(ValidatePass))
        {
            var valueOffset = reader.Position;
            var kinds = Classify(ref reader, 1, name);
            CheckColumn(kinds, false, name, valueOffset);
            if (fields >= state.MaxFields)
            {
                MsgPackThrow.Rejected(nameOffset, $"more than {state.MaxFields} fields in one record");
            }

            if (handler.Column(name, kinds, false, nameOffset, out _) is { } refused)
            {
                MsgPackThrow.Rejected(nameOffset, refused);
            }
        }
        else
        {
            handler.Column(name, MsgPackValueKinds.None, false, nameOffset, out var type);
            WriteValues(ref reader, ref handler, 1, type);
        }

        return 1;
    }

    /// <summary>The time column: every value a number or a timestamp; written in the write pass.</summary>
    private static void ReadTimes<THandler, TPass>(ref MsgPackReader reader, ref THandler handler, int rows)
        where THandler : IMsgPackHandler, allows ref struct
        where TPass : struct
    {
        for (var row = 0; row < rows; row++)
        {
            var time = ReadTime(ref reader, "'time'");
            if (typeof(TPass) == typeof(WritePass))
            {
                handler.WriteTime(row, time);
            }
        }
    }

    /// <summary>
    /// A time value in Unix nanoseconds: an integer or float epoch (unit from its absolute value), or a timestamp; it must
    /// fall in <see cref="TimestampRange"/> (what DuckDB's <c>TIMESTAMP_NS</c> holds, its infinities excluded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long ReadTime(ref MsgPackReader reader, string what)
    {
        var offset = reader.Position;
        var code = reader.PeekCode();
        long time;
        bool converted;
        if (code is Codes.Int64 or Codes.UInt64 or <= 0x7f or >= 0xe0 || TypeOf(code) == MsgPackType.Integer)
        {
            var bits = reader.ReadIntegerBits(out var large);
            converted = MsgPackTime.TryFromInteger((long)bits, out time) && !large;
        }
        else
        {
            switch (TypeOf(code))
            {
                case MsgPackType.Float:
                    var value = reader.ReadDouble();
                    if (!double.IsFinite(value))
                    {
                        MsgPackThrow.Malformed(offset, $"{what} must be a finite number, got {value.ToString(CultureInfo.InvariantCulture)}");
                    }

                    converted = MsgPackTime.TryFromDouble(value, out time);
                    break;
                case MsgPackType.Extension:
                    var data = reader.ReadExtension(out var type);
                    if (type != MsgPackTime.TimestampExtension)
                    {
                        MsgPackThrow.Malformed(offset, $"{what} must be a number or a timestamp, got extension type {type}");
                    }

                    if (!MsgPackTime.TryFromExtension(data, out time))
                    {
                        MsgPackThrow.Malformed(offset, $"{what} is not a valid timestamp extension value");
                    }

                    converted = true;
                    break;
                default:
                    MsgPackThrow.Malformed(offset, $"{what} must be a number (epoch s, ms, µs or ns), got {DescribeCode(code)}");
                    return 0;
            }
        }

        if (!converted || !TimestampRange.Contains(time))
        {
            MsgPackThrow.Malformed(offset, $"{what} is out of range (it must fall between 1677-09-22 and 2262-04-11 in nanoseconds)");
        }

        return time;
    }

    /// <summary>The most float64 values handed to <see cref="IMsgPackHandler.WriteDoubles"/> at once (2 KB of stack).</summary>
    private const int FloatRun = 256;

    /// <summary>Reads <paramref name="rows"/> values as <paramref name="type"/> (the validation pass proved they fit).</summary>
    private static void WriteValues<THandler>(ref MsgPackReader reader, ref THandler handler, int rows, MsgPackColumnType type)
        where THandler : IMsgPackHandler, allows ref struct
    {
        switch (type)
        {
            case MsgPackColumnType.Float:
                // Runs of float64 (what senders write for a float column) go to the handler a block at a time.
                Span<double> run = stackalloc double[FloatRun];
                for (var row = 0; row < rows;)
                {
                    var read = reader.ReadFloat64Run(run[..Math.Min(FloatRun, rows - row)]);
                    if (read > 0)
                    {
                        handler.WriteDoubles(row, run[..read]);
                        row += read;
                        continue;
                    }

                    if (!reader.TryReadNil())
                    {
                        handler.WriteDouble(row, reader.ReadNumberAsDouble());
                    }

                    row++;
                }

                break;
            case MsgPackColumnType.Integer:
                for (var row = 0; row < rows; row++)
                {
                    if (!reader.TryReadNil())
                    {
                        handler.WriteInt64(row, reader.ReadInt64());
                    }
                }

                break;
            case MsgPackColumnType.UInteger:
                for (var row = 0; row < rows; row++)
                {
                    if (!reader.TryReadNil())
                    {
                        handler.WriteUInt64(row, reader.ReadUInt64());
                    }
                }

                break;
            case MsgPackColumnType.Boolean:
                for (var row = 0; row < rows; row++)
                {
                    if (!reader.TryReadNil())
                    {
                        handler.WriteBoolean(row, reader.ReadBoolean());
                    }
                }

                break;
            case MsgPackColumnType.String or MsgPackColumnType.Tag:
                for (var row = 0; row < rows; row++)
                {
                    if (!reader.TryReadNil())
                    {
                        handler.WriteString(row, reader.ReadString());
                    }
                }

                break;
            default:
                for (var row = 0; row < rows; row++)
                {
                    reader.SkipScalar();
                }

                break;
        }
    }

    /// <summary>
    /// What kinds of values the next <paramref name="count"/> values are (validation pass): scalars only, strings valid
    /// UTF-8, at most one category (numbers, booleans, strings) besides nil.
    /// </summary>
    private static MsgPackValueKinds Classify(ref MsgPackReader reader, int count, scoped ReadOnlySpan<byte> name)
    {
        var kinds = MsgPackValueKinds.None;
        for (var i = 0; i < count; i++)
        {
            var offset = reader.Position;
            var code = reader.PeekCode();
            MsgPackValueKinds kind;
            if (code == Codes.Float64 && reader.SkipFloat64Run(count - i) is var run and > 0)
            {
                i += run - 1; // a float column: its float64 values in one loop
                kind = MsgPackValueKinds.Float;
            }
            else if (code is Codes.Float64 or Codes.Float32)
            {
                reader.SkipScalar();
                kind = MsgPackValueKinds.Float;
            }
            else
            {
                switch (TypeOf(code))
                {
                    case MsgPackType.Integer:
                        var bits = reader.ReadIntegerBits(out var large);
                        kind = large ? MsgPackValueKinds.LargeUnsigned
                            : (long)bits < 0 ? MsgPackValueKinds.NegativeInteger : MsgPackValueKinds.Integer;
                        break;
                    case MsgPackType.Nil:
                        reader.SkipScalar();
                        kind = MsgPackValueKinds.Nil;
                        break;
                    case MsgPackType.Boolean:
                        reader.SkipScalar();
                        kind = MsgPackValueKinds.Boolean;
                        break;
                    case MsgPackType.String:
                        if (!Utf8.IsValid(reader.ReadString()))
                        {
                            MsgPackThrow.Malformed(offset, $"a value of '{LineProtocolError.Sanitize(name)}' is not valid UTF-8");
                        }

                        kind = MsgPackValueKinds.String;
                        break;
                    default:
                        MsgPackThrow.Malformed(offset,
                            $"'{LineProtocolError.Sanitize(name)}' holds {DescribeCode(code)}; values must be nil, booleans, numbers or strings");
                        kind = default;
                        break;
                }
            }

            if ((kinds | kind) != kinds)
            {
                var merged = kinds | kind;
                if (Categories(merged) > 1)
                {
                    MsgPackThrow.Malformed(offset,
                        $"'{LineProtocolError.Sanitize(name)}' mixes {MsgPackColumnTypes.Describe(kinds)} and {MsgPackColumnTypes.Describe(kind)} values");
                }

                kinds = merged;
            }
        }

        return kinds;
    }

    /// <summary>Checks that classified values make a column (and a tag holds strings).</summary>
    private static void CheckColumn(MsgPackValueKinds kinds, bool tag, ReadOnlySpan<byte> name, int offset)
    {
        if (MsgPackColumnTypes.Natural(kinds, tag) != MsgPackColumnType.None)
        {
            return;
        }

        MsgPackThrow.Malformed(offset, tag
            ? $"tag '{LineProtocolError.Sanitize(name)}' must hold strings, got {MsgPackColumnTypes.Describe(kinds)} values"
            : $"'{LineProtocolError.Sanitize(name)}' mixes {MsgPackColumnTypes.Describe(kinds)} values (no column type holds both)");
    }

    private static int Categories(MsgPackValueKinds kinds) =>
        ((kinds & MsgPackValueKinds.Numbers) != 0 ? 1 : 0)
        + ((kinds & MsgPackValueKinds.Boolean) != 0 ? 1 : 0)
        + ((kinds & MsgPackValueKinds.String) != 0 ? 1 : 0);

    private static ReadOnlySpan<byte> ReadMeasurement(ref MsgPackReader reader, int offset, int mapOffset)
    {
        if (offset < 0)
        {
            MsgPackThrow.Malformed(mapOffset, "the record has no 'm' (measurement)");
        }

        reader.Position = offset;
        if (reader.PeekType() != MsgPackType.String)
        {
            MsgPackThrow.Malformed(offset, $"'m' (the measurement) must be a string, got {DescribeCode(reader.PeekCode())}");
        }

        return reader.ReadString();
    }

    private static ReadOnlySpan<byte> ReadColumnName(ref MsgPackReader reader)
    {
        var code = reader.PeekCode();
        if (TypeOf(code) != MsgPackType.String)
        {
            MsgPackThrow.Malformed(reader.Position, $"column names must be strings, got {DescribeCode(code)}");
        }

        return reader.ReadString();
    }

    /// <summary>Names are not empty, valid UTF-8, without control characters.</summary>
    private static void ValidateName(ReadOnlySpan<byte> name, int offset)
    {
        if (name.IsEmpty)
        {
            MsgPackThrow.Malformed(offset, "a column name is empty");
        }

        if (name.IndexOfAnyInRange((byte)0, (byte)0x1f) >= 0 || name.Contains((byte)0x7f))
        {
            MsgPackThrow.Malformed(offset, $"column name '{LineProtocolError.Sanitize(name)}' contains a control character");
        }

        if (!Utf8.IsValid(name))
        {
            MsgPackThrow.Malformed(offset, "a column name is not valid UTF-8");
        }
    }

    /// <summary>Checks the columnar tag list (strings, valid distinct names, not time); returns its length.</summary>
    private static int ValidateTagList(ref MsgPackReader reader, int offset)
    {
        if (reader.PeekType() != MsgPackType.Array)
        {
            MsgPackThrow.Malformed(offset, $"'tags' of a columnar record must be an array of column names, got {DescribeCode(reader.PeekCode())}");
        }

        var count = reader.ReadArrayHeader();
        var start = reader;
        for (var i = 0; i < count; i++)
        {
            var nameOffset = reader.Position;
            var name = ReadColumnName(ref reader);
            ValidateName(name, nameOffset);
            if (name.SequenceEqual("time"u8))
            {
                MsgPackThrow.Malformed(nameOffset, "'time' cannot be a tag");
            }

            var earlier = start;
            for (var j = 0; j < i; j++)
            {
                if (earlier.ReadString().SequenceEqual(name))
                {
                    MsgPackThrow.Malformed(nameOffset, $"tag '{LineProtocolError.Sanitize(name)}' is listed twice");
                }
            }
        }

        return count;
    }

    /// <summary>Whether the tag list at <paramref name="tagsOffset"/> names <paramref name="name"/>.</summary>
    private static bool IsTag(ref MsgPackReader reader, int tagsOffset, scoped ReadOnlySpan<byte> name)
    {
        var tags = reader;
        tags.Position = tagsOffset;
        var count = tags.ReadArrayHeader();
        for (var i = 0; i < count; i++)
        {
            if (tags.ReadString().SequenceEqual(name))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Reports the first name of the tag list that is not a column (error path).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MissingTag(ref MsgPackReader reader, int tagsOffset, int columnsOffset)
    {
        var tags = reader;
        tags.Position = tagsOffset;
        var count = tags.ReadArrayHeader();
        for (var i = 0; i < count; i++)
        {
            var offset = tags.Position;
            var tag = tags.ReadString();
            var columns = reader;
            columns.Position = columnsOffset;
            var found = false;
            var columnCount = columns.ReadMapHeader();
            for (var c = 0; c < columnCount && !found; c++)
            {
                found = columns.ReadString().SequenceEqual(tag);
                columns.Skip();
            }

            if (!found)
            {
                MsgPackThrow.Malformed(offset, $"tag '{LineProtocolError.Sanitize(tag)}' is not a column of the record");
            }
        }

        // Every tag is a column, so one of them is a key that 'columns' holds twice.
        MsgPackThrow.Malformed(columnsOffset, "'columns' names a tag column twice");
    }

    private static void CheckDepth(int offset, int depth, ref State state)
    {
        if (depth >= state.MaxDepth)
        {
            MsgPackThrow.Malformed(offset, $"nesting deeper than {state.MaxDepth} levels");
        }
    }

    /// <summary>Marks the validation pass (the type parameter lets the JIT drop the other pass's code).</summary>
    private readonly struct ValidatePass;

    /// <summary>Marks the write pass.</summary>
    private readonly struct WritePass;

    [StructLayout(LayoutKind.Auto)]
    private struct State(in MsgPackDecoderOptions options)
    {
        public readonly long DefaultTimestamp = options.DefaultTimestamp;
        // default(MsgPackDecoderOptions) has zeros: they mean the defaults, not "nothing allowed".
        public readonly int MaxRows = options.MaxRows > 0 ? options.MaxRows : new MsgPackDecoderOptions().MaxRows;
        public readonly int MaxTags = options.MaxTagsPerRecord > 0 ? options.MaxTagsPerRecord : new MsgPackDecoderOptions().MaxTagsPerRecord;
        public readonly int MaxFields = options.MaxFieldsPerRecord > 0 ? options.MaxFieldsPerRecord : new MsgPackDecoderOptions().MaxFieldsPerRecord;
        public readonly int MaxDepth = options.MaxDepth > 0 ? Math.Clamp(options.MaxDepth, 4, 64) : new MsgPackDecoderOptions().MaxDepth;
        public int Records;
        public long Rows;

        public void AddRows(int rows, int offset)
        {
            Records++;
            Rows += rows;
            if (Rows > MaxRows)
            {
                MsgPackThrow.TooLarge(offset, $"the body holds more than {MaxRows} rows");
            }
        }
    }

    /// <summary>Where the values of a record map's known keys are (-1: absent).</summary>
    [StructLayout(LayoutKind.Auto)]
    private struct RecordKeys
    {
        public int M;
        public int Columns;
        public int Tags;
        public int TagKeys;
        public int T;
        public int H;
        public int Fields;
        public int F;
        public int Batch;
        private int _ignored;

        public static RecordKeys Absent => new() { M = -1, Columns = -1, Tags = -1, TagKeys = -1, T = -1, H = -1, Fields = -1, F = -1, Batch = -1 };

        /// <summary>The slot of a known key, or a null ref for an unknown one (skipped).</summary>
        [UnscopedRef]
        public ref int Find(ReadOnlySpan<byte> key)
        {
            switch (key.Length)
            {
                case 1:
                    switch (key[0])
                    {
                        case (byte)'m':
                            return ref M;
                        case (byte)'t':
                            return ref T;
                        case (byte)'h':
                            return ref H;
                        case (byte)'f':
                            return ref F;
                    }

                    break;
                case 4 when key.SequenceEqual("tags"u8):
                    return ref Tags;
                case 5 when key.SequenceEqual("batch"u8):
                    return ref Batch;
                case 6 when key.SequenceEqual("fields"u8):
                    return ref Fields;
                case 7 when key.SequenceEqual("columns"u8):
                    return ref Columns;
                case 8 when key.SequenceEqual("tag_keys"u8):
                    return ref TagKeys;
            }

            _ = _ignored;
            return ref Unsafe.NullRef<int>();
        }
    }
}

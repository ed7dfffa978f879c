using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Arc.Protocol.LineProtocol;

/// <summary>
/// Parses and validates one logical line (line ending already removed) and hands it to the handler. Holds the
/// per-<c>Read</c> pooled buffers: tag and field entry arrays, the copy buffer for lines straddling segments, and the
/// unescape scratch buffer (sized to the line, each
/// token unescaped at its own offset so tokens never overlap). Nothing is allocated per line.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct LineParser
{
    private const int InitialEntries = 32;

    /// <summary>Delimiters of tag keys, tag values and field keys (plus backslash); error path only.</summary>
    private static readonly SearchValues<byte> KeyStops = SearchValues.Create(",= \\"u8);

    private readonly int _maxTags;
    private readonly int _maxFields;
    private readonly long _nanosecondsPerUnit;
    private readonly long _defaultTimestamp;
    private TagEntry[]? _tags;
    private FieldEntry[]? _fields;
    private byte[]? _scratch;
    private byte[]? _copy;

    public LineParser(in LineProtocolOptions options)
    {
        _maxTags = options.MaxTagsPerLine;
        _maxFields = options.MaxFieldsPerLine;
        _nanosecondsPerUnit = TimestampPrecisions.NanosecondsPerUnit(options.Precision);
        _defaultTimestamp = options.DefaultTimestamp;
    }

    /// <summary>Returns the pooled buffers.</summary>
    public void Dispose()
    {
        if (_tags is not null)
        {
            ArrayPool<TagEntry>.Shared.Return(_tags);
            _tags = null;
        }

        if (_fields is not null)
        {
            ArrayPool<FieldEntry>.Shared.Return(_fields);
            _fields = null;
        }

        if (_scratch is not null)
        {
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = null;
        }

        if (_copy is not null)
        {
            ArrayPool<byte>.Shared.Return(_copy);
            _copy = null;
        }
    }

    /// <summary>A pooled buffer of <paramref name="length"/> bytes for a line that straddles segments.</summary>
    public Span<byte> CopyBuffer(int length)
    {
        if (_copy is null || _copy.Length < length)
        {
            if (_copy is not null)
            {
                ArrayPool<byte>.Shared.Return(_copy);
            }

            _copy = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1024));
        }

        return _copy.AsSpan(0, length);
    }

    /// <summary>
    /// Parses <paramref name="line"/> (no line ending). Calls <see cref="ILineProtocolHandler.OnPoint(in LinePoint)"/>
    /// and returns 1 for a valid line, calls <see cref="ILineProtocolHandler.OnError(in LineProtocolError)"/> and
    /// returns 0 for a bad one, returns 0 for a blank or comment line.
    /// </summary>
    public int Parse<THandler>(ReadOnlySpan<byte> line, long lineNumber, ref THandler handler)
        where THandler : ILineProtocolHandler, allows ref struct
    {
        var len = line.Length;
        var i = 0;
        while ((uint)i < (uint)len && line[i] is (byte)' ' or (byte)'\t')
        {
            i++;
        }

        if (i == len || line[i] == (byte)'#')
        {
            return 0;
        }

        // Measurement.
        var index = new SpecialByteIndex(line);
        var start = i;
        var escaped = false;
        i = FindKeyEnd(ref index, line, i, measurement: true, ref escaped);
        if (i == start)
        {
            return Fail(ref handler, lineNumber, i, LineErrorKind.MissingMeasurement, null, "missing measurement");
        }

        var measurement = escaped ? Unescape(line, start, i, measurement: true) : line[start..i];
        if (i == len)
        {
            return Fail(ref handler, lineNumber, i, LineErrorKind.MissingFields, null, "missing fields");
        }

        // Tag set.
        _tags ??= ArrayPool<TagEntry>.Shared.Rent(Math.Clamp(_maxTags, 1, InitialEntries));
        var tagCount = 0;
        while (line[i] == (byte)',')
        {
            var keyStart = ++i;
            var keyEscaped = false;
            i = FindKeyEnd(ref index, line, i, measurement: false, ref keyEscaped);
            if (i == keyStart)
            {
                return Fail(ref handler, lineNumber, i, LineErrorKind.InvalidTag, null, "missing tag key");
            }

            if (i == len || line[i] != (byte)'=')
            {
                return FailKey(ref handler, lineNumber, i, LineErrorKind.InvalidTag, line, keyStart, keyEscaped, "missing '=' after tag key");
            }

            var valueStart = ++i;
            var valueEscaped = false;
            i = FindKeyEnd(ref index, line, i, measurement: false, ref valueEscaped);
            if (i < len && line[i] == (byte)'=')
            {
                return FailKey(ref handler, lineNumber, i, LineErrorKind.InvalidTag, line, keyStart, keyEscaped, "unescaped '=' in the value of tag");
            }

            if (i == valueStart)
            {
                return FailKey(ref handler, lineNumber, i, LineErrorKind.InvalidTag, line, keyStart, keyEscaped, "missing value for tag");
            }

            if (tagCount == _maxTags)
            {
                return Fail(ref handler, lineNumber, keyStart, LineErrorKind.TooManyTags, null, $"more than {_maxTags} tags");
            }

            if (tagCount == _tags.Length)
            {
                Grow(ref _tags, _maxTags);
            }

            ref var tag = ref _tags[tagCount++];
            tag.KeyStart = keyStart;
            tag.KeyLength = keyEscaped ? Unescape(line, keyStart, valueStart - 1, measurement: false).Length : valueStart - 1 - keyStart;
            tag.KeyUnescaped = keyEscaped;
            tag.ValueStart = valueStart;
            tag.ValueLength = valueEscaped ? Unescape(line, valueStart, i, measurement: false).Length : i - valueStart;
            tag.ValueUnescaped = valueEscaped;

            if (i == len)
            {
                return Fail(ref handler, lineNumber, i, LineErrorKind.MissingFields, null, "missing fields");
            }
        }

        // line[i] is the space that ends the measurement or tag set.
        i = SkipWhitespace(line, i + 1);
        if (i == len)
        {
            return Fail(ref handler, lineNumber, i, LineErrorKind.MissingFields, null, "missing fields");
        }

        // Field set.
        _fields ??= ArrayPool<FieldEntry>.Shared.Rent(Math.Clamp(_maxFields, 1, InitialEntries));
        var fieldCount = 0;
        while (true)
        {
            var keyStart = i;
            var keyEscaped = false;
            i = FindKeyEnd(ref index, line, i, measurement: false, ref keyEscaped);
            if (i == keyStart)
            {
                return Fail(ref handler, lineNumber, i, LineErrorKind.InvalidField, null, "missing field key");
            }

            if (i == len || line[i] != (byte)'=')
            {
                return FailKey(ref handler, lineNumber, i, LineErrorKind.InvalidField, line, keyStart, keyEscaped, "missing '=' after field key");
            }

            var keyEnd = i;
            if (fieldCount == _maxFields)
            {
                return Fail(ref handler, lineNumber, keyStart, LineErrorKind.TooManyFields, null, $"more than {_maxFields} fields");
            }

            if (fieldCount == _fields.Length)
            {
                Grow(ref _fields, _maxFields);
            }

            ref var field = ref _fields[fieldCount];
            var valueStart = ++i;
            if (i == len)
            {
                return FailKey(ref handler, lineNumber, i, LineErrorKind.InvalidFieldValue, line, keyStart, keyEscaped, "missing value for field");
            }

            if (line[i] == (byte)'"')
            {
                // String: ends at the first quote not escaped by a backslash; \" and \\ are escapes.
                var stringEscaped = false;
                i++;
                while (true)
                {
                    i = index.Next(i);
                    if (i >= len)
                    {
                        return FailKey(ref handler, lineNumber, valueStart, LineErrorKind.UnterminatedString, line, keyStart, keyEscaped, "unterminated string value of field");
                    }

                    var b = line[i];
                    if (b == (byte)'"')
                    {
                        break;
                    }

                    if (b == (byte)'\\')
                    {
                        stringEscaped = true;
                        i += 2;
                        if (i >= len)
                        {
                            return FailKey(ref handler, lineNumber, valueStart, LineErrorKind.UnterminatedString, line, keyStart, keyEscaped, "unterminated string value of field");
                        }
                    }
                    else
                    {
                        i++;
                    }
                }

                field.Type = FieldType.String;
                field.Bits = 0;
                field.ValueStart = valueStart + 1;
                field.ValueLength = stringEscaped ? UnescapeString(line, valueStart + 1, i) : i - valueStart - 1;
                field.ValueUnescaped = stringEscaped;
                i++;
                if (i < len && line[i] is not ((byte)',' or (byte)' '))
                {
                    return FailKey(ref handler, lineNumber, i, LineErrorKind.InvalidFieldValue, line, keyStart, keyEscaped, "unexpected character after the string value of field");
                }
            }
            else
            {
                i = FindValueEnd(ref index, line, i, (byte)',');
                var status = ParseValue(line[valueStart..i], ref field);
                if (status != NumberStatus.Ok)
                {
                    return status == NumberStatus.OutOfRange
                        ? FailKey(ref handler, lineNumber, valueStart, LineErrorKind.FieldValueOutOfRange, line, keyStart, keyEscaped, "out of range value for field")
                        : FailKey(ref handler, lineNumber, valueStart, LineErrorKind.InvalidFieldValue, line, keyStart, keyEscaped, "invalid value for field");
                }
            }

            field.KeyStart = keyStart;
            field.KeyLength = keyEscaped ? Unescape(line, keyStart, keyEnd, measurement: false).Length : keyEnd - keyStart;
            field.KeyUnescaped = keyEscaped;
            fieldCount++;

            if (i == len)
            {
                break;
            }

            if (line[i] == (byte)',')
            {
                i++;
                continue;
            }

            // A space: the timestamp, if any, follows.
            i = SkipWhitespace(line, i + 1);
            break;
        }

        // Timestamp.
        var timestamp = _defaultTimestamp;
        var hasTimestamp = false;
        if (i < len)
        {
            var tsStart = i;
            i = FindValueEnd(ref index, line, i, (byte)'\t');
            var status = LineNumbers.ParseInt64(line[tsStart..i], out var ts);
            if (status == NumberStatus.Invalid)
            {
                return Fail(ref handler, lineNumber, tsStart, LineErrorKind.InvalidTimestamp, null, "invalid timestamp");
            }

            if (status == NumberStatus.OutOfRange || !TryScale(ts, _nanosecondsPerUnit, out ts) || !TimestampRange.Contains(ts))
            {
                return Fail(ref handler, lineNumber, tsStart, LineErrorKind.TimestampOutOfRange, null,
                    "timestamp out of range (it must fall between 1677-09-22 and 2262-04-11 in nanoseconds)");
            }

            i = SkipWhitespace(line, i);
            if (i < len)
            {
                return Fail(ref handler, lineNumber, i, LineErrorKind.TrailingCharacters, null, "unexpected characters after the timestamp");
            }

            timestamp = ts;
            hasTimestamp = true;
        }

        var point = new LinePoint(
            line,
            _scratch,
            measurement,
            _tags.AsSpan(0, tagCount),
            _fields.AsSpan(0, fieldCount),
            timestamp,
            hasTimestamp,
            lineNumber);
        handler.OnPoint(in point);
        return 1;
    }

    /// <summary>
    /// End of a measurement (unescaped <c>,</c> or space) or of a tag key, tag value or field key (also <c>=</c>) at or
    /// after <paramref name="i"/>, or the line length. A byte preceded by a backslash is not a delimiter (so
    /// <c>\\,</c> escapes the comma, as in InfluxDB); <paramref name="escaped"/> is set when the token has a backslash.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FindKeyEnd(ref SpecialByteIndex index, ReadOnlySpan<byte> line, int i, bool measurement, ref bool escaped)
    {
        while (true)
        {
            i = index.Next(i);
            if ((uint)i >= (uint)line.Length)
            {
                return line.Length;
            }

            var b = line[i];
            if (b is (byte)',' or (byte)' ' || (b == (byte)'=' && !measurement))
            {
                return i;
            }

            i++;
            if (b == (byte)'\\')
            {
                escaped = true;
                if ((uint)i < (uint)line.Length && line[i] != (byte)'\\')
                {
                    i++;
                }
            }
        }
    }

    /// <summary>End of an unquoted field value (<c>,</c> or space) or of a timestamp (space or tab), or the line length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FindValueEnd(ref SpecialByteIndex index, ReadOnlySpan<byte> line, int i, byte other)
    {
        while (true)
        {
            i = index.Next(i);
            if ((uint)i >= (uint)line.Length)
            {
                return line.Length;
            }

            var b = line[i];
            if (b == (byte)' ' || b == other)
            {
                return i;
            }

            i++;
        }
    }

    /// <summary>
    /// Like <see cref="FindKeyEnd"/> for tag and field keys, without an index (error path only).
    /// </summary>
    private static int FindDelimiter(ReadOnlySpan<byte> line, int start, SearchValues<byte> stops, ref bool escaped)
    {
        var i = start;
        while (true)
        {
            var k = line[i..].IndexOfAny(stops);
            if (k < 0)
            {
                return line.Length;
            }

            i += k;
            if (line[i] != (byte)'\\')
            {
                return i;
            }

            escaped = true;
            i++;
            if ((uint)i < (uint)line.Length && line[i] != (byte)'\\')
            {
                i++;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SkipWhitespace(ReadOnlySpan<byte> line, int i)
    {
        while ((uint)i < (uint)line.Length && line[i] is (byte)' ' or (byte)'\t')
        {
            i++;
        }

        return i;
    }

    private static bool TryScale(long value, long factor, out long result)
    {
        if (factor == 1)
        {
            result = value;
            return true;
        }

        if (value > long.MaxValue / factor || value < long.MinValue / factor)
        {
            result = 0;
            return false;
        }

        result = value * factor;
        return true;
    }

    /// <summary>Converts an unquoted field value: <c>…i</c> integer, <c>…u</c> unsigned, boolean, else float.</summary>
    private static NumberStatus ParseValue(ReadOnlySpan<byte> v, ref FieldEntry field)
    {
        if (v.IsEmpty)
        {
            return NumberStatus.Invalid;
        }

        var last = v[^1];
        NumberStatus status;
        if (last == (byte)'i')
        {
            status = LineNumbers.ParseInt64(v[..^1], out var l);
            field.Type = FieldType.Integer;
            field.Bits = l;
        }
        else if (last == (byte)'u')
        {
            status = LineNumbers.ParseDigits(v[..^1], out var u);
            field.Type = FieldType.UInteger;
            field.Bits = unchecked((long)u);
        }
        else if (v[0] is (byte)'t' or (byte)'T' or (byte)'f' or (byte)'F')
        {
            status = LineNumbers.TryParseBoolean(v, out var b) ? NumberStatus.Ok : NumberStatus.Invalid;
            field.Type = FieldType.Boolean;
            field.Bits = b ? 1 : 0;
        }
        else
        {
            status = LineNumbers.ParseFloat(v, out var d);
            field.Type = FieldType.Float;
            field.Bits = BitConverter.DoubleToInt64Bits(d);
        }

        return status;
    }

    /// <summary>Makes sure the scratch buffer can hold a line of <paramref name="length"/> bytes at the same offsets.</summary>
    private Span<byte> Scratch(int length)
    {
        if (_scratch is null || _scratch.Length < length)
        {
            // Only the first escaped token of a line can get here (the buffer is then sized to the whole line), so
            // no token of the current line is lost.
            if (_scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(_scratch);
            }

            _scratch = ArrayPool<byte>.Shared.Rent(Math.Max(length, 256));
        }

        return _scratch;
    }

    /// <summary>
    /// Unescapes line[start..end] into the scratch buffer at offset <paramref name="start"/>: <c>\,</c> and <c>\ </c>
    /// (and <c>\=</c> unless <paramref name="measurement"/>) lose their backslash; any other backslash is literal.
    /// </summary>
    private ReadOnlySpan<byte> Unescape(ReadOnlySpan<byte> line, int start, int end, bool measurement)
    {
        var dst = Scratch(line.Length);
        var w = start;
        for (var r = start; r < end; r++)
        {
            var b = line[r];
            if (b == (byte)'\\' && r + 1 < end)
            {
                var n = line[r + 1];
                if (n is (byte)',' or (byte)' ' || (n == (byte)'=' && !measurement))
                {
                    b = n;
                    r++;
                }
            }

            dst[w++] = b;
        }

        return dst[start..w];
    }

    /// <summary>Unescapes a string value (<c>\"</c> and <c>\\</c>; other backslashes are literal) into scratch; returns its length.</summary>
    private int UnescapeString(ReadOnlySpan<byte> line, int start, int end)
    {
        var dst = Scratch(line.Length);
        var w = start;
        for (var r = start; r < end; r++)
        {
            var b = line[r];
            if (b == (byte)'\\' && r + 1 < end && line[r + 1] is (byte)'"' or (byte)'\\')
            {
                b = line[++r];
            }

            dst[w++] = b;
        }

        return w - start;
    }

    private static void Grow<T>(ref T[] array, int max)
    {
        var bigger = ArrayPool<T>.Shared.Rent((int)Math.Min((long)array.Length * 2, Math.Max(max, array.Length + 1)));
        array.AsSpan().CopyTo(bigger);
        ArrayPool<T>.Shared.Return(array);
        array = bigger;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Fail<THandler>(ref THandler handler, long lineNumber, int index, LineErrorKind kind, string? detail, string message)
        where THandler : ILineProtocolHandler, allows ref struct
    {
        var error = new LineProtocolError(lineNumber, index + 1, kind, detail, message);
        handler.OnError(in error);
        return 0;
    }

    /// <summary>Reports an error about the tag or field whose (still escaped) key starts at <paramref name="keyStart"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FailKey<THandler>(
        ref THandler handler,
        long lineNumber,
        int index,
        LineErrorKind kind,
        ReadOnlySpan<byte> line,
        int keyStart,
        bool keyEscaped,
        string what)
        where THandler : ILineProtocolHandler, allows ref struct
    {
        var escaped = false;
        var keyEnd = FindDelimiter(line, keyStart, KeyStops, ref escaped);
        var key = line[keyStart..keyEnd];
        string detail;
        if (keyEscaped)
        {
            var buffer = new byte[key.Length];
            var w = 0;
            for (var r = 0; r < key.Length; r++)
            {
                var b = key[r];
                if (b == (byte)'\\' && r + 1 < key.Length && key[r + 1] is (byte)',' or (byte)' ' or (byte)'=')
                {
                    b = key[++r];
                }

                buffer[w++] = b;
            }

            detail = LineProtocolError.Sanitize(buffer.AsSpan(0, w));
        }
        else
        {
            detail = LineProtocolError.Sanitize(key);
        }

        return Fail(ref handler, lineNumber, index, kind, detail, $"{what} '{detail}'");
    }
}

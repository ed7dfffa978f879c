using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Arc.Protocol.LineProtocol;

/// <summary>
/// One validated line-protocol point. Every span points into the request buffer or the reader's scratch buffer and is
/// valid only during <see cref="ILineProtocolHandler.OnPoint(in LinePoint)"/>.
/// </summary>
public readonly ref struct LinePoint
{
    private readonly ReadOnlySpan<byte> _line;
    private readonly ReadOnlySpan<byte> _scratch;
    private readonly ReadOnlySpan<TagEntry> _tags;
    private readonly ReadOnlySpan<FieldEntry> _fields;

    internal LinePoint(
        ReadOnlySpan<byte> line,
        ReadOnlySpan<byte> scratch,
        ReadOnlySpan<byte> measurement,
        ReadOnlySpan<TagEntry> tags,
        ReadOnlySpan<FieldEntry> fields,
        long timestamp,
        bool hasTimestamp,
        long lineNumber)
    {
        _line = line;
        _scratch = scratch;
        Measurement = measurement;
        _tags = tags;
        _fields = fields;
        Timestamp = timestamp;
        HasTimestamp = hasTimestamp;
        LineNumber = lineNumber;
    }

    /// <summary>The measurement name, unescaped.</summary>
    public ReadOnlySpan<byte> Measurement { get; }

    /// <summary>Number of tags, in the order they appear on the line.</summary>
    public int TagCount => _tags.Length;

    /// <summary>Number of fields (at least one), in the order they appear on the line.</summary>
    public int FieldCount => _fields.Length;

    /// <summary>Time in Unix nanoseconds; <see cref="LineProtocolOptions.DefaultTimestamp"/> when the line has none.</summary>
    public long Timestamp { get; }

    /// <summary>Whether the line carried its own timestamp.</summary>
    public bool HasTimestamp { get; }

    /// <summary>1-based number of the (first physical) line in the request body.</summary>
    public long LineNumber { get; }

    /// <summary>The raw line, without its line ending (a string field value may make it span several physical lines).</summary>
    public ReadOnlySpan<byte> Line => _line;

    /// <summary>Returns the tag at <paramref name="index"/> (0 ≤ index &lt; <see cref="TagCount"/>).</summary>
    public LineTag GetTag(int index)
    {
        ref readonly var e = ref _tags[index];
        return new LineTag(
            Resolve(e.KeyStart, e.KeyLength, e.KeyUnescaped),
            Resolve(e.ValueStart, e.ValueLength, e.ValueUnescaped),
            e.KeyStart + 1);
    }

    /// <summary>Returns the field at <paramref name="index"/> (0 ≤ index &lt; <see cref="FieldCount"/>).</summary>
    public LineField GetField(int index)
    {
        ref readonly var e = ref _fields[index];
        var str = e.Type == FieldType.String ? Resolve(e.ValueStart, e.ValueLength, e.ValueUnescaped) : default;
        return new LineField(Resolve(e.KeyStart, e.KeyLength, e.KeyUnescaped), e.Type, e.Bits, str, e.KeyStart + 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlySpan<byte> Resolve(int start, int length, bool unescaped)
        => unescaped ? _scratch.Slice(start, length) : _line.Slice(start, length);
}

/// <summary>A tag of a <see cref="LinePoint"/>.</summary>
public readonly ref struct LineTag
{
    internal LineTag(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, int column)
    {
        Key = key;
        Value = value;
        Column = column;
    }

    /// <summary>The tag key, unescaped and never empty.</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>The tag value, unescaped and never empty.</summary>
    public ReadOnlySpan<byte> Value { get; }

    /// <summary>1-based byte column of the tag key within the line.</summary>
    public int Column { get; }
}

/// <summary>A field of a <see cref="LinePoint"/>. Reading the value property of another type throws.</summary>
public readonly ref struct LineField
{
    private readonly long _bits;
    private readonly ReadOnlySpan<byte> _string;

    internal LineField(ReadOnlySpan<byte> key, FieldType type, long bits, ReadOnlySpan<byte> str, int column)
    {
        Key = key;
        Type = type;
        _bits = bits;
        _string = str;
        Column = column;
    }

    /// <summary>The field key, unescaped and never empty.</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>The type of the value as written on the wire.</summary>
    public FieldType Type { get; }

    /// <summary>1-based byte column of the field key within the line.</summary>
    public int Column { get; }

    /// <summary>The value of a <see cref="FieldType.Float"/> field (always finite).</summary>
    public double Float => Type == FieldType.Float ? BitConverter.Int64BitsToDouble(_bits) : ThrowWrongType<double>(FieldType.Float);

    /// <summary>The value of an <see cref="FieldType.Integer"/> field.</summary>
    public long Integer => Type == FieldType.Integer ? _bits : ThrowWrongType<long>(FieldType.Integer);

    /// <summary>The value of a <see cref="FieldType.UInteger"/> field.</summary>
    public ulong UInteger => Type == FieldType.UInteger ? unchecked((ulong)_bits) : ThrowWrongType<ulong>(FieldType.UInteger);

    /// <summary>The value of a <see cref="FieldType.Boolean"/> field.</summary>
    public bool Boolean => Type == FieldType.Boolean ? _bits != 0 : ThrowWrongType<bool>(FieldType.Boolean);

    /// <summary>The unescaped content of a <see cref="FieldType.String"/> field (may be empty).</summary>
    public ReadOnlySpan<byte> String => Type == FieldType.String ? _string : ThrowWrongType<ReadOnlySpan<byte>>(FieldType.String);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private T ThrowWrongType<T>(FieldType requested)
        where T : allows ref struct
        => throw new InvalidOperationException($"The field is of type {Type}, not {requested}.");
}

/// <summary>Where a tag's key and value are: in the line, or (when unescaped) at the same offsets in the scratch buffer.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct TagEntry
{
    public int KeyStart;
    public int KeyLength;
    public int ValueStart;
    public int ValueLength;
    public bool KeyUnescaped;
    public bool ValueUnescaped;
}

/// <summary>A parsed field: key location, type and value (<see cref="Bits"/> holds float bits, integers or 0/1).</summary>
[StructLayout(LayoutKind.Auto)]
internal struct FieldEntry
{
    public long Bits;
    public int KeyStart;
    public int KeyLength;
    public int ValueStart;
    public int ValueLength;
    public FieldType Type;
    public bool KeyUnescaped;
    public bool ValueUnescaped;
}

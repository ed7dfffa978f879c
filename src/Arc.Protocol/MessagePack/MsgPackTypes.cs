using System.Runtime.InteropServices;

namespace Arc.Protocol.MessagePack;

/// <summary>The MessagePack type family of a value, from its first byte.</summary>
public enum MsgPackType : byte
{
    /// <summary><c>nil</c> (0xc0).</summary>
    Nil,
    /// <summary><c>false</c>/<c>true</c> (0xc2, 0xc3).</summary>
    Boolean,
    /// <summary>Any int or uint family member: fixints, int8..int64, uint8..uint64.</summary>
    Integer,
    /// <summary>float32 or float64.</summary>
    Float,
    /// <summary>The str family (UTF-8 text).</summary>
    String,
    /// <summary>The bin family (raw bytes).</summary>
    Binary,
    /// <summary>fixarray, array16, array32.</summary>
    Array,
    /// <summary>fixmap, map16, map32.</summary>
    Map,
    /// <summary>fixext1..16, ext8..32 (the timestamp extension is type -1).</summary>
    Extension,
    /// <summary>The byte 0xc1, which MessagePack never uses: the data is invalid.</summary>
    NeverUsed,
}

/// <summary>Which kinds of values a column (or a single field value) holds, as found by the validation pass.</summary>
[Flags]
public enum MsgPackValueKinds : byte
{
    /// <summary>No values at all (an empty column).</summary>
    None = 0,
    /// <summary>At least one <c>nil</c>.</summary>
    Nil = 1,
    /// <summary>At least one integer below zero.</summary>
    NegativeInteger = 2,
    /// <summary>At least one integer in 0..2^63-1.</summary>
    Integer = 4,
    /// <summary>At least one unsigned integer above 2^63-1 (it needs an unsigned column).</summary>
    LargeUnsigned = 8,
    /// <summary>At least one float32 or float64.</summary>
    Float = 16,
    /// <summary>At least one boolean.</summary>
    Boolean = 32,
    /// <summary>At least one string.</summary>
    String = 64,

    /// <summary>Every numeric kind.</summary>
    Numbers = NegativeInteger | Integer | LargeUnsigned | Float,
}

/// <summary>The type a column is stored as; chosen by the handler among the types that can hold the column's values.</summary>
public enum MsgPackColumnType : byte
{
    /// <summary>No column: the values are not stored (the handler skips the column).</summary>
    None = 0,
    /// <summary>Signed 64-bit integers.</summary>
    Integer,
    /// <summary>Unsigned 64-bit integers.</summary>
    UInteger,
    /// <summary>64-bit floats (integers are converted).</summary>
    Float,
    /// <summary>Booleans.</summary>
    Boolean,
    /// <summary>A string field.</summary>
    String,
    /// <summary>A tag (a string column named in the record's tag list, or the row form's <c>tags</c>/<c>h</c>).</summary>
    Tag,
}

/// <summary>
/// The type rules for MessagePack columns (see docs/api.md, "MessagePack ingest"): a column holds values of one category —
/// numbers, booleans or strings — plus <c>nil</c>s. Numbers are stored as integers when all are integers (unsigned when one
/// exceeds 2^63-1), and as floats as soon as one of them is a float. An existing column of another numeric type may take
/// the values when they fit: integers go into a float column, non-negative integers into an unsigned one.
/// </summary>
public static class MsgPackColumnTypes
{
    /// <summary>
    /// The type the values would get in a new column, or <see cref="MsgPackColumnType.None"/> when they are all nil (or
    /// there are none) or cannot share one column (strings with numbers, negative with above-2^63-1 integers, ...).
    /// </summary>
    public static MsgPackColumnType Natural(MsgPackValueKinds kinds, bool tag)
    {
        var values = kinds & ~MsgPackValueKinds.Nil;
        if (values == MsgPackValueKinds.String)
        {
            return tag ? MsgPackColumnType.Tag : MsgPackColumnType.String;
        }

        if (tag)
        {
            return MsgPackColumnType.None;
        }

        if (values == MsgPackValueKinds.Boolean)
        {
            return MsgPackColumnType.Boolean;
        }

        if (values == MsgPackValueKinds.None || (values & ~MsgPackValueKinds.Numbers) != 0)
        {
            return MsgPackColumnType.None;
        }

        if ((values & MsgPackValueKinds.Float) != 0)
        {
            return MsgPackColumnType.Float;
        }

        if ((values & MsgPackValueKinds.LargeUnsigned) != 0)
        {
            return (values & MsgPackValueKinds.NegativeInteger) != 0 ? MsgPackColumnType.None : MsgPackColumnType.UInteger;
        }

        return MsgPackColumnType.Integer;
    }

    /// <summary>Whether a column of <paramref name="type"/> can hold every value described by <paramref name="kinds"/>.</summary>
    public static bool CanStore(MsgPackValueKinds kinds, MsgPackColumnType type)
    {
        var values = kinds & ~MsgPackValueKinds.Nil;
        return type switch
        {
            MsgPackColumnType.Integer => (values & ~(MsgPackValueKinds.NegativeInteger | MsgPackValueKinds.Integer)) == 0,
            MsgPackColumnType.UInteger => (values & ~(MsgPackValueKinds.Integer | MsgPackValueKinds.LargeUnsigned)) == 0,
            MsgPackColumnType.Float => (values & ~MsgPackValueKinds.Numbers) == 0,
            MsgPackColumnType.Boolean => (values & ~MsgPackValueKinds.Boolean) == 0,
            MsgPackColumnType.String or MsgPackColumnType.Tag => (values & ~MsgPackValueKinds.String) == 0,
            _ => false,
        };
    }

    /// <summary>Words for error messages: <c>float</c>, <c>string</c>, ...</summary>
    public static string Describe(MsgPackValueKinds kinds)
    {
        var values = kinds & ~MsgPackValueKinds.Nil;
        if (values == MsgPackValueKinds.None)
        {
            return "nil";
        }

        var parts = new List<string>(4);
        if ((values & MsgPackValueKinds.String) != 0)
        {
            parts.Add("string");
        }

        if ((values & MsgPackValueKinds.Boolean) != 0)
        {
            parts.Add("boolean");
        }

        if ((values & MsgPackValueKinds.Float) != 0)
        {
            parts.Add("float");
        }

        if ((values & (MsgPackValueKinds.NegativeInteger | MsgPackValueKinds.Integer)) != 0)
        {
            parts.Add((values & MsgPackValueKinds.NegativeInteger) != 0 ? "negative integer" : "integer");
        }

        if ((values & MsgPackValueKinds.LargeUnsigned) != 0)
        {
            parts.Add("unsigned integer above 2^63-1");
        }

        return string.Join(" and ", parts);
    }
}

/// <summary>What kind of problem rejected a MessagePack body; the host maps each to one HTTP status.</summary>
public enum MsgPackErrorKind : byte
{
    /// <summary>Not valid MessagePack, or not one of the accepted shapes (truncated, wrong types, mismatched lengths).</summary>
    Malformed,
    /// <summary>Valid shape, refused by the handler: names, type conflicts with the stored schema, limits.</summary>
    Rejected,
    /// <summary>More rows than <see cref="MsgPackDecoderOptions.MaxRows"/>.</summary>
    TooLarge,
}

/// <summary>Why and where a MessagePack body was rejected. Nothing of a rejected body is written.</summary>
/// <param name="Offset">0-based byte offset in the (decompressed) body of the value that is wrong.</param>
/// <param name="Kind">What kind of problem it is.</param>
/// <param name="Message">A human-readable description; client-supplied names in it are sanitized and truncated.</param>
public readonly record struct MsgPackError(long Offset, MsgPackErrorKind Kind, string Message)
{
    /// <inheritdoc/>
    public override string ToString() => $"offset {Offset}: {Message}";
}

/// <summary>Limits and defaults of one MessagePack write request (a limit of 0, as in <c>default</c>, means its default).</summary>
[StructLayout(LayoutKind.Auto)]
public readonly record struct MsgPackDecoderOptions
{
    public MsgPackDecoderOptions()
    {
    }

    /// <summary>Time in Unix nanoseconds given to rows without a time (the request's arrival time).</summary>
    public long DefaultTimestamp { get; init; }

    /// <summary>Most rows one body may hold (all records together); more is <see cref="MsgPackErrorKind.TooLarge"/>.</summary>
    public int MaxRows { get; init; } = 10_000_000;

    /// <summary>Most tag columns in one record.</summary>
    public int MaxTagsPerRecord { get; init; } = 256;

    /// <summary>Most field columns in one record.</summary>
    public int MaxFieldsPerRecord { get; init; } = 1024;

    /// <summary>Deepest nesting of arrays and maps (batches in batches, skipped unknown values).</summary>
    public int MaxDepth { get; init; } = 32;
}

/// <summary>What a successfully decoded body contained.</summary>
/// <param name="Records">Record maps (a columnar map or a row map each).</param>
/// <param name="Rows">Rows written (a columnar record has as many as its arrays are long; a row record has one).</param>
public readonly record struct MsgPackSummary(int Records, long Rows);

using System.Runtime.InteropServices;

namespace Arc.Protocol.LineProtocol;

/// <summary>The type of a line-protocol field value, as written on the wire.</summary>
public enum FieldType : byte
{
    /// <summary>A float: <c>1</c>, <c>-1.5</c>, <c>1e9</c>, <c>.5</c>.</summary>
    Float = 1,
    /// <summary>A signed 64-bit integer: <c>12i</c>.</summary>
    Integer = 2,
    /// <summary>An unsigned 64-bit integer: <c>12u</c>.</summary>
    UInteger = 3,
    /// <summary>A double-quoted string: <c>"a \"b\""</c>.</summary>
    String = 4,
    /// <summary>A boolean: <c>t T true True TRUE f F false False FALSE</c>.</summary>
    Boolean = 5,
}

/// <summary>Timestamp precision of a write request (InfluxDB's <c>precision</c> parameter).</summary>
public enum TimestampPrecision : byte
{
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

/// <summary>Why a line was rejected.</summary>
public enum LineErrorKind : byte
{
    /// <summary>The line has no measurement name before its first comma or space.</summary>
    MissingMeasurement,
    /// <summary>A tag is not of the form <c>key=value</c>, or its key or value is empty.</summary>
    InvalidTag,
    /// <summary>The line has no field set.</summary>
    MissingFields,
    /// <summary>A field is not of the form <c>key=value</c>, or its key is empty.</summary>
    InvalidField,
    /// <summary>A field value is not a valid float, integer, unsigned, string or boolean.</summary>
    InvalidFieldValue,
    /// <summary>An integer or unsigned field value does not fit in 64 bits, or a float value overflows a double.</summary>
    FieldValueOutOfRange,
    /// <summary>A string field value has no closing quote.</summary>
    UnterminatedString,
    /// <summary>The timestamp is not an integer.</summary>
    InvalidTimestamp,
    /// <summary>The timestamp, scaled to nanoseconds, is outside <see cref="TimestampRange"/> (or does not fit in 64 bits).</summary>
    TimestampOutOfRange,
    /// <summary>Something other than whitespace follows the timestamp.</summary>
    TrailingCharacters,
    /// <summary>The line is longer than <see cref="LineProtocolOptions.MaxLineLength"/>.</summary>
    LineTooLong,
    /// <summary>The line has more tags than <see cref="LineProtocolOptions.MaxTagsPerLine"/>.</summary>
    TooManyTags,
    /// <summary>The line has more fields than <see cref="LineProtocolOptions.MaxFieldsPerLine"/>.</summary>
    TooManyFields,
    /// <summary>Rejected by the handler (schema rules: names, type conflicts, limits); see the error's detail.</summary>
    Rejected,
}

/// <summary>Options of one write request.</summary>
[StructLayout(LayoutKind.Auto)]
public readonly record struct LineProtocolOptions
{
    public LineProtocolOptions()
    {
    }

    /// <summary>Unit of the timestamps in the body; every timestamp is scaled to nanoseconds.</summary>
    public TimestampPrecision Precision { get; init; } = TimestampPrecision.Nanoseconds;

    /// <summary>Time in Unix nanoseconds given to lines that have no timestamp (the request's arrival time).</summary>
    public long DefaultTimestamp { get; init; }

    /// <summary>Longest accepted line in bytes, excluding the line ending.</summary>
    public int MaxLineLength { get; init; } = 1 << 20;

    /// <summary>Most tags accepted on one line.</summary>
    public int MaxTagsPerLine { get; init; } = 256;

    /// <summary>Most fields accepted on one line.</summary>
    public int MaxFieldsPerLine { get; init; } = 1024;
}

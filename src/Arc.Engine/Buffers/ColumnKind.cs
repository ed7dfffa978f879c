namespace Arc.Engine.Buffers;

/// <summary>What a column holds; decides its Arrow/Parquet type.</summary>
public enum ColumnKind : byte
{
    /// <summary>The point's time: timestamp[ns] without time zone (DuckDB TIMESTAMP_NS).</summary>
    Time,
    /// <summary>A tag: utf8, recorded as a tag in the Parquet file's key-value metadata.</summary>
    Tag,
    /// <summary>A float field: float64.</summary>
    Float,
    /// <summary>An integer field: int64.</summary>
    Integer,
    /// <summary>An unsigned field: uint64.</summary>
    UInteger,
    /// <summary>A string field: utf8.</summary>
    String,
    /// <summary>A boolean field.</summary>
    Boolean,
}

public static class ColumnKinds
{
    /// <summary>The word used in error messages and in the schema API.</summary>
    public static string Describe(this ColumnKind kind) => kind switch
    {
        ColumnKind.Time => "time",
        ColumnKind.Tag => "tag",
        ColumnKind.Float => "float",
        ColumnKind.Integer => "integer",
        ColumnKind.UInteger => "unsigned",
        ColumnKind.String => "string",
        ColumnKind.Boolean => "boolean",
        _ => "unknown",
    };

    internal static bool IsVariableLength(this ColumnKind kind) => kind is ColumnKind.Tag or ColumnKind.String;
}

using System.Text;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>
/// How to read one DuckDB result column (and its nested children) out of its vectors; built once per result from the
/// column's logical type so the per-value work is a switch on <see cref="Type"/>.
/// </summary>
internal sealed class ValueFormat
{
    private ValueFormat(DuckDBType type) => Type = type;

    public DuckDBType Type { get; }

    /// <summary>DECIMAL: the storage type and scale.</summary>
    public DuckDBType Storage { get; private init; }

    public int Scale { get; private init; }

    /// <summary>ENUM: the dictionary, as UTF-8.</summary>
    public byte[][] EnumValues { get; private init; } = [];

    /// <summary>LIST, ARRAY, MAP: the element format. STRUCT: one per field.</summary>
    public ValueFormat[] Children { get; private init; } = [];

    /// <summary>STRUCT field names.</summary>
    public string[] ChildNames { get; private init; } = [];

    /// <summary>ARRAY: the fixed length.</summary>
    public int ArraySize { get; private init; }

    public string TypeName { get; private init; } = "";

    /// <summary>Builds the format of a logical type, or throws <see cref="NotSupportedException"/> naming it.</summary>
    public static ValueFormat Create(DuckDBLogicalType type)
    {
        var id = NativeMethods.LogicalType.DuckDBGetTypeId(type);
        switch (id)
        {
            case DuckDBType.Boolean or DuckDBType.TinyInt or DuckDBType.SmallInt or DuckDBType.Integer or DuckDBType.BigInt
                or DuckDBType.UnsignedTinyInt or DuckDBType.UnsignedSmallInt or DuckDBType.UnsignedInteger or DuckDBType.UnsignedBigInt
                or DuckDBType.HugeInt or DuckDBType.UnsignedHugeInt or DuckDBType.Float or DuckDBType.Double
                or DuckDBType.Varchar or DuckDBType.Blob or DuckDBType.Date or DuckDBType.Time
                or DuckDBType.Timestamp or DuckDBType.TimestampS or DuckDBType.TimestampMs or DuckDBType.TimestampNs
                or DuckDBType.TimestampTz or DuckDBType.Interval or DuckDBType.Uuid or DuckDBType.SqlNull:
                return new ValueFormat(id) { TypeName = Name(id) };
            case DuckDBType.Decimal:
                return new ValueFormat(id)
                {
                    Storage = NativeMethods.LogicalType.DuckDBDecimalInternalType(type),
                    Scale = NativeMethods.LogicalType.DuckDBDecimalScale(type),
                    TypeName = $"decimal({NativeMethods.LogicalType.DuckDBDecimalWidth(type)},{NativeMethods.LogicalType.DuckDBDecimalScale(type)})",
                };
            case DuckDBType.Enum:
                {
                    var size = NativeMethods.LogicalType.DuckDBEnumDictionarySize(type);
                    var values = new byte[size][];
                    for (var i = 0; i < size; i++)
                    {
                        values[i] = Encoding.UTF8.GetBytes(NativeMethods.LogicalType.DuckDBEnumDictionaryValue(type, i));
                    }

                    return new ValueFormat(id) { Storage = NativeMethods.LogicalType.DuckDBEnumInternalType(type), EnumValues = values, TypeName = "enum" };
                }

            case DuckDBType.List:
                {
                    using var child = NativeMethods.LogicalType.DuckDBListTypeChildType(type);
                    var format = Create(child);
                    return new ValueFormat(id) { Children = [format], TypeName = $"list<{format.TypeName}>" };
                }

            case DuckDBType.Array:
                {
                    using var child = NativeMethods.LogicalType.DuckDBArrayTypeChildType(type);
                    var format = Create(child);
                    var size = (int)NativeMethods.LogicalType.DuckDBArrayVectorGetSize(type);
                    return new ValueFormat(id) { Children = [format], ArraySize = size, TypeName = $"{format.TypeName}[{size}]" };
                }

            case DuckDBType.Map:
                {
                    using var key = NativeMethods.LogicalType.DuckDBMapTypeKeyType(type);
                    using var value = NativeMethods.LogicalType.DuckDBMapTypeValueType(type);
                    var keyFormat = Create(key);
                    var valueFormat = Create(value);
                    return new ValueFormat(id) { Children = [keyFormat, valueFormat], TypeName = $"map<{keyFormat.TypeName},{valueFormat.TypeName}>" };
                }

            case DuckDBType.Struct:
                {
                    var count = (int)NativeMethods.LogicalType.DuckDBStructTypeChildCount(type);
                    var children = new ValueFormat[count];
                    var names = new string[count];
                    for (var i = 0; i < count; i++)
                    {
                        names[i] = NativeMethods.LogicalType.DuckDBStructTypeChildName(type, i);
                        using var child = NativeMethods.LogicalType.DuckDBStructTypeChildType(type, i);
                        children[i] = Create(child);
                    }

                    return new ValueFormat(id) { Children = children, ChildNames = names, TypeName = "struct" };
                }

            default:
                throw new NotSupportedException($"DuckDB type {id} is not supported in query results; CAST the column to VARCHAR");
        }
    }

    private static string Name(DuckDBType type) => type switch
    {
        DuckDBType.Boolean => "bool",
        DuckDBType.TinyInt => "int8",
        DuckDBType.SmallInt => "int16",
        DuckDBType.Integer => "int32",
        DuckDBType.BigInt => "int64",
        DuckDBType.UnsignedTinyInt => "uint8",
        DuckDBType.UnsignedSmallInt => "uint16",
        DuckDBType.UnsignedInteger => "uint32",
        DuckDBType.UnsignedBigInt => "uint64",
        DuckDBType.HugeInt => "int128",
        DuckDBType.UnsignedHugeInt => "uint128",
        DuckDBType.Float => "float32",
        DuckDBType.Double => "float64",
        DuckDBType.Varchar => "utf8",
        DuckDBType.Blob => "binary",
        DuckDBType.Date => "date32",
        DuckDBType.Time => "time64[us]",
        DuckDBType.Timestamp => "timestamp[us]",
        DuckDBType.TimestampS => "timestamp[s]",
        DuckDBType.TimestampMs => "timestamp[ms]",
        DuckDBType.TimestampNs => "timestamp[ns]",
        DuckDBType.TimestampTz => "timestamp[us, tz=UTC]",
        DuckDBType.Interval => "interval",
        DuckDBType.Uuid => "uuid",
        DuckDBType.SqlNull => "null",
        _ => type.ToString(),
    };
}

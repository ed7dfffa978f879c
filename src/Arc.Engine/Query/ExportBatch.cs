using Arc.Engine.Buffers;

namespace Arc.Engine.Query;

/// <summary>One exported column: a tag or a typed field.</summary>
public readonly record struct ExportColumn(string Name, ColumnKind Kind);

/// <summary>
/// The columns a job exports, in tie-breaker order: tags sorted by name, then fields sorted by name (time is separate).
/// </summary>
public sealed class ExportSchema(string database, string measurement, IReadOnlyList<ExportColumn> columns)
{
    public string Database { get; } = database;

    public string Measurement { get; } = measurement;

    public IReadOnlyList<ExportColumn> Columns { get; } = columns;

    /// <summary>Identifies the column set; stored with the high-water mark.</summary>
    public string Signature { get; } = string.Join(',', columns.Select(c => c.Name + ":" + c.Kind.Describe()));

    public IEnumerable<ExportColumn> Tags => Columns.Where(c => c.Kind == ColumnKind.Tag);

    public IEnumerable<ExportColumn> Fields => Columns.Where(c => c.Kind != ColumnKind.Tag);
}

/// <summary>
/// One row: the time in Unix nanoseconds and a value per schema column (null, or string for tags and string fields,
/// double, long, ulong or bool).
/// </summary>
public readonly record struct ExportRow(long Time, object?[] Values);

/// <summary>A batch of rows in (time, key) order, and the position of its last row (the next high-water mark).</summary>
public sealed class ExportBatch(ExportSchema schema, List<ExportRow> rows, long lastTime, string lastKey, string firstKey)
{
    public ExportSchema Schema { get; } = schema;

    public List<ExportRow> Rows { get; } = rows;

    public int Count => Rows.Count;

    public long LastTime { get; } = lastTime;

    public string LastKey { get; } = lastKey;

    /// <summary>The first row's tie-breaker key: with its time, it names the batch (an idempotency key for HTTP targets).</summary>
    public string FirstKey { get; } = firstKey;
}

using System.Text;

namespace Arc.Engine.Buffers;

/// <summary>
/// The columns a measurement has ever had, with their kinds, shared by every writer of the measurement. The first writer
/// of a column decides its kind; a later point that sends it with another kind is rejected (InfluxDB's field type
/// conflict). Names are unique ignoring case, because DuckDB resolves identifiers case-insensitively. Thread-safe.
/// </summary>
internal sealed class MeasurementSchema(string database, string measurement, int maxColumns, int maxNameBytes)
{
    private readonly Dictionary<string, (string Name, ColumnKind Kind)> _columns = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _lock = new();

    public string Database { get; } = database;

    public string Measurement { get; } = measurement;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _columns.Count;
            }
        }
    }

    /// <summary>A snapshot of the columns (not the time column), in no particular order.</summary>
    public IReadOnlyList<(string Name, ColumnKind Kind)> Columns()
    {
        lock (_lock)
        {
            return _columns.Values.ToList();
        }
    }

    /// <summary>The kind of column <paramref name="name"/> (matched ignoring case), or null when it has none.</summary>
    public ColumnKind? KindOf(string name)
    {
        lock (_lock)
        {
            return _columns.TryGetValue(name, out var column) ? column.Kind : null;
        }
    }

    /// <summary>Adds columns known from files already on storage (no limits applied: they exist).</summary>
    public void Seed(string name, ColumnKind kind)
    {
        lock (_lock)
        {
            _columns.TryAdd(name, (name, kind));
        }
    }

    /// <summary>
    /// Null when a column <paramref name="name"/> of <paramref name="kind"/> may be written, else the reason. With
    /// <paramref name="claim"/>, a new column is added to the schema; without, the check changes nothing.
    /// </summary>
    public string? Check(string name, ColumnKind kind, bool claim)
    {
        if (name.Equals(ColumnSet.TimeColumn, StringComparison.OrdinalIgnoreCase))
        {
            return $"'{name}' is reserved for the point's timestamp and cannot be a tag or field name";
        }

        lock (_lock)
        {
            if (_columns.TryGetValue(name, out var existing))
            {
                if (!existing.Name.Equals(name, StringComparison.Ordinal))
                {
                    return $"'{name}' differs only in case from the existing column '{existing.Name}' of {Measurement}";
                }

                return existing.Kind == kind ? null : Conflict(name, kind, existing.Kind);
            }

            if (Encoding.UTF8.GetByteCount(name) > maxNameBytes)
            {
                return $"column name '{name[..Math.Min(name.Length, 32)]}...' is longer than {maxNameBytes} bytes";
            }

            if (_columns.Count >= maxColumns)
            {
                return $"measurement {Measurement} already has {_columns.Count} columns (limit {maxColumns}); '{name}' not added";
            }

            if (claim)
            {
                _columns.Add(name, (name, kind));
            }

            return null;
        }
    }

    private string Conflict(string name, ColumnKind sent, ColumnKind existing)
    {
        if (existing == ColumnKind.Tag)
        {
            return $"'{name}' is a tag of {Measurement} and cannot be written as a {sent.Describe()} field";
        }

        return sent == ColumnKind.Tag
            ? $"'{name}' is a {existing.Describe()} field of {Measurement} and cannot be written as a tag"
            : $"field type conflict: '{name}' is {existing.Describe()} in {Measurement}, got {sent.Describe()}";
    }
}

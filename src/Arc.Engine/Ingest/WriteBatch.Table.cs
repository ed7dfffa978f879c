using System.Text;
using Apache.Arrow;
using Arc.Engine.Buffers;
using Arc.Engine.Storage;

namespace Arc.Engine.Ingest;

/// <summary>
/// Fixed-shape rows of one measurement (CSV and Parquet imports): the columns are named and typed once, checked against and
/// claimed in the measurement's schema by <see cref="BeginTable"/>, and every row then sets some of them and ends with
/// <see cref="EndTableRow"/> (CSV), or runs of rows come as Arrow arrays (<see cref="AppendTableRows"/>, Parquet). The caller
/// validates a row whole before it writes any of it, so a rejected row leaves no trace.
/// </summary>
public sealed partial class WriteBatch
{
    private ColumnSet? _table;
    private (string Name, ColumnKind Kind)[] _tableColumns = [];
    private int[] _tableIndexes = [];

    /// <summary>The columns the measurement already has (a table's values are read as these kinds), or null for a bad name.</summary>
    internal IReadOnlyDictionary<string, ColumnKind>? ExistingColumns(string measurement, out string? error)
    {
        if (Names.ValidateMeasurement(Encoding.UTF8.GetBytes(measurement)) is { } invalid)
        {
            error = invalid;
            return null;
        }

        var entry = _catalog.ResolveMeasurement(Database, measurement, out error);
        return entry?.Schema.Columns().ToDictionary(c => c.Name, c => c.Kind, StringComparer.Ordinal);
    }

    /// <summary>
    /// Starts rows of <paramref name="columns"/> (not the time column) into <paramref name="measurement"/>; null, or why the
    /// measurement or a column cannot take them (a name or type conflict, the column limit).
    /// </summary>
    internal string? BeginTable(string measurement, (string Name, ColumnKind Kind)[] columns)
    {
        if (ExistingColumns(measurement, out var error) is null)
        {
            return error;
        }

        var entry = _catalog.ResolveMeasurement(Database, measurement, out error)!;
        foreach (var (name, kind) in columns)
        {
            if (entry.Schema.Check(name, kind, claim: true) is { } conflict)
            {
                return $"column '{name}': {conflict}";
            }
        }

        if (!_sets.TryGetValue(measurement, out var set))
        {
            set = new ColumnSet(Database, measurement) { Schema = entry.Schema };
            _sets.Add(measurement, set);
        }

        _table = set;
        _tableColumns = columns;
        _tableIndexes = new int[columns.Length];
        MapTable();
        return null;
    }

    /// <summary>The row being written (0-based in the pending rows).</summary>
    internal int TableRow => _table!.RowCount;

    /// <summary>The buffer of the <paramref name="index"/>-th column given to <see cref="BeginTable"/>.</summary>
    internal ColumnBuffer TableColumn(int index) => _table!.Columns[_tableIndexes[index]];

    /// <summary>Completes the row at <paramref name="time"/>: columns it did not set are null.</summary>
    internal void EndTableRow(long time)
    {
        var set = _table!;
        set.Time.SetInt64(set.RowCount, time);
        set.EndRow(time);
        Accepted++;
        PendingRows++;
        NoteAccepted(set);
    }

    /// <summary>
    /// Appends rows <paramref name="start"/> to <paramref name="start"/> + <paramref name="count"/> of Arrow arrays, one per
    /// column given to <see cref="BeginTable"/> (<see cref="ColumnBuffer.AppendArrow"/> converts them to the columns' kinds),
    /// at <paramref name="times"/> (indexed like the arrays). The caller has refused the rows whose values do not convert.
    /// </summary>
    internal void AppendTableRows(IArrowArray[] arrays, ReadOnlySpan<long> times, int start, int count)
    {
        var set = _table!;
        var first = set.RowCount;
        set.Time.AppendInt64s(first, times.Slice(start, count));
        for (var c = 0; c < arrays.Length; c++)
        {
            TableColumn(c).AppendArrow(arrays[c], start, count);
        }

        set.CompleteRows(count);
        Accepted += count;
        PendingRows += count;
        NoteAccepted(set);
    }

    /// <summary>A commit empties the sets (columns too): the table's columns are mapped again.</summary>
    private void MapTable()
    {
        var set = _table!;
        for (var i = 0; i < _tableColumns.Length; i++)
        {
            var (name, kind) = _tableColumns[i];
            var index = set.Find(name);
            _tableIndexes[i] = index >= 0 ? index : set.AddColumn(name, kind);
        }
    }
}

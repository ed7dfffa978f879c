using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Arc.Engine.Buffers;
using Arc.Engine.Storage;
using Arc.Engine.Wal;
using Arc.Protocol.LineProtocol;

namespace Arc.Engine.Ingest;

/// <summary>A rejected input record: 1-based line and byte column, and why.</summary>
public readonly record struct WriteError(long Line, int Column, string Message);

/// <summary>
/// The rows of one write request, per measurement, before they join the shared buffers (<see cref="IngestEngine.CommitAsync"/>).
/// Every point is checked whole (names, UTF-8, the measurement's schema) before any of it is written, so a rejected point
/// leaves no trace. Pooled by the engine: rent, fill, commit, return. Not thread-safe.
/// </summary>
public sealed partial class WriteBatch : IWalCommit
{
    private readonly Dictionary<string, ColumnSet> _sets = new(Utf8NameComparer.Instance);
    private readonly Dictionary<string, ColumnSet>.AlternateLookup<ReadOnlySpan<byte>> _setsByUtf8;
    private readonly List<WriteError> _errors = [];
    private readonly List<(string Name, ColumnKind Kind, int Slot, int Column)> _pending = [];
    private readonly Catalog _catalog;
    private readonly IIngestSettings _options;
    private readonly List<string> _measurements = [];
    private ColumnSet? _last;
    private ColumnSet? _lastAccepted;
    private byte[]? _only;

    internal WriteBatch(Catalog catalog, IIngestSettings options)
    {
        _catalog = catalog;
        _options = options;
        _setsByUtf8 = _sets.GetAlternateLookup<ReadOnlySpan<byte>>();
        Database = "";
    }

    public string Database { get; private set; }

    /// <summary>Points accepted into this batch since it was rented.</summary>
    public long Accepted { get; private set; }

    /// <summary>Records rejected since the batch was rented.</summary>
    public long Rejected { get; private set; }

    /// <summary>The first <see cref="IIngestSettings.MaxReportedErrors"/> rejections.</summary>
    public IReadOnlyList<WriteError> Errors => _errors;

    /// <summary>Rows waiting to be committed.</summary>
    public int PendingRows { get; private set; }

    /// <summary>Line-protocol points skipped because they belong to another measurement than <see cref="OnlyMeasurement"/>.</summary>
    public long Skipped { get; private set; }

    /// <summary>The measurements that accepted at least one point since the batch was rented, in first-seen order.</summary>
    public IReadOnlyList<string> Measurements => _measurements;

    /// <summary>When set (a bulk import's filter), line-protocol points of other measurements are skipped, not stored.</summary>
    public string? OnlyMeasurement
    {
        get => _only is null ? null : Encoding.UTF8.GetString(_only);
        set => _only = value is null ? null : Encoding.UTF8.GetBytes(value);
    }

    internal IEnumerable<ColumnSet> Sets => _sets.Values;

    IEnumerable<ColumnSet> IWalCommit.Sets => Sets;

    internal void Begin(string database)
    {
        Database = database;
        Accepted = Rejected = Skipped = 0;
        PendingRows = 0;
        _errors.Clear();
        _measurements.Clear();
        _lastAccepted = null;
        _only = null;
        _table = null;
    }

    /// <summary>Called after a commit: the sets are emptied but kept for the rest of the request.</summary>
    internal void Committed()
    {
        PendingRows = 0;
        if (_table is not null)
        {
            MapTable();
        }
    }

    internal void Clear()
    {
        foreach (var set in _sets.Values)
        {
            set.Dispose();
        }

        _sets.Clear();
        _last = null;
    }

    public void Reject(long line, int column, string message)
    {
        Rejected++;
        if (_errors.Count < _options.MaxReportedErrors)
        {
            _errors.Add(new WriteError(line, column, message));
        }
    }

    /// <summary>Adds one parsed line-protocol point, or rejects it with the position of the problem.</summary>
    public void Add(in LinePoint point)
    {
        if (_only is not null && !point.Measurement.SequenceEqual(_only))
        {
            Skipped++;
            return;
        }

        var set = _last;
        if (set is null || !set.MeasurementUtf8.AsSpan().SequenceEqual(point.Measurement))
        {
            set = FindSet(point.Measurement, point.LineNumber);
            if (set is null)
            {
                return;
            }

            _last = set;
        }

        var tagCount = point.TagCount;
        var count = tagCount + point.FieldCount;
        int[]? rented = null;
        var columns = count <= 64 ? stackalloc int[64] : (rented = ArrayPool<int>.Shared.Rent(count));
        try
        {
            if (!ResolveColumns(set, in point, columns))
            {
                return;
            }

            var row = set.RowCount;
            set.Time.SetInt64(row, point.Timestamp);
            var all = set.ColumnSpan;
            for (var i = 0; i < tagCount; i++)
            {
                all[columns[i]].SetBytes(row, point.GetTag(i).Value);
            }

            for (var i = 0; i < point.FieldCount; i++)
            {
                var field = point.GetField(i);
                var column = all[columns[tagCount + i]];
                switch (field.Type)
                {
                    case FieldType.Float:
                        column.SetDouble(row, field.Float);
                        break;
                    case FieldType.Integer:
                        column.SetInt64(row, field.Integer);
                        break;
                    case FieldType.UInteger:
                        column.SetInt64(row, (long)field.UInteger);
                        break;
                    case FieldType.Boolean:
                        column.SetBoolean(row, field.Boolean);
                        break;
                    default:
                        column.SetBytes(row, field.String);
                        break;
                }
            }

            set.EndRow(point.Timestamp);
            Accepted++;
            PendingRows++;
            NoteAccepted(set);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Maps every key of the point to a column. New columns are checked against the schema first and only created once the
    /// whole point passed, so a rejected point neither adds columns nor claims a type for them.
    /// </summary>
    private bool ResolveColumns(ColumnSet set, in LinePoint point, Span<int> columns)
    {
        if (SameShape(set, in point, columns))
        {
            return true;
        }

        _pending.Clear();
        var tagCount = point.TagCount;
        for (var i = 0; i < tagCount; i++)
        {
            var tag = point.GetTag(i);
            if (!Utf8.IsValid(tag.Value))
            {
                return Fail(point.LineNumber, tag.Column, $"value of tag '{Encoding.UTF8.GetString(tag.Key)}' is not valid UTF-8");
            }

            if (!ResolveColumn(set, i, tag.Key, ColumnKind.Tag, point.LineNumber, tag.Column, columns))
            {
                return false;
            }
        }

        for (var i = 0; i < point.FieldCount; i++)
        {
            var field = point.GetField(i);
            if (field.Type == FieldType.String && !Utf8.IsValid(field.String))
            {
                return Fail(point.LineNumber, field.Column, $"value of field '{Encoding.UTF8.GetString(field.Key)}' is not valid UTF-8");
            }

            if (!ResolveColumn(set, tagCount + i, field.Key, KindOf(field.Type), point.LineNumber, field.Column, columns))
            {
                return false;
            }
        }

        if (RepeatedTag(columns[..tagCount]) is var repeated and >= 0)
        {
            return Fail(point.LineNumber, point.GetTag(repeated).Column, $"duplicate tag '{Encoding.UTF8.GetString(point.GetTag(repeated).Key)}'");
        }

        if (_pending.Count == 0)
        {
            return true;
        }

        // Claim the new columns. Another request may have claimed one with another kind since the dry check.
        Span<int> created = stackalloc int[Math.Min(_pending.Count, 64)];
        var createdMap = _pending.Count <= 64 ? created : new int[_pending.Count];
        for (var p = 0; p < _pending.Count; p++)
        {
            var (name, kind, slot, column) = _pending[p];
            if (set.Schema!.Check(name, kind, claim: true) is { } error)
            {
                return Fail(point.LineNumber, column, error);
            }

            createdMap[p] = set.AddColumn(name, kind, slot);
        }

        for (var i = 0; i < tagCount + point.FieldCount; i++)
        {
            if (columns[i] < 0)
            {
                columns[i] = createdMap[-columns[i] - 1];
            }
        }

        return true;
    }

    /// <summary>
    /// The usual line: every key names the column the same slot named on the line before, with the same kind, and every
    /// value is valid UTF-8, and no two tags name one column — then <paramref name="columns"/> holds them and nothing else
    /// needs checking. Anything else (a new or moved key, another kind, a bad value, a repeated tag) is left to the full
    /// resolution, which reports it.
    /// </summary>
    private static bool SameShape(ColumnSet set, in LinePoint point, Span<int> columns)
    {
        var shape = set.Shape;
        var all = set.ColumnSpan;
        var tagCount = point.TagCount;
        var count = tagCount + point.FieldCount;
        if (count > shape.Length)
        {
            return false;
        }

        for (var i = 0; i < count; i++)
        {
            var guess = shape[i];
            if ((uint)guess >= (uint)all.Length)
            {
                return false;
            }

            var column = all[guess];
            if (i < tagCount)
            {
                var tag = point.GetTag(i);
                if (column.Kind != ColumnKind.Tag || !column.NameUtf8.AsSpan().SequenceEqual(tag.Key) || !Utf8.IsValid(tag.Value))
                {
                    return false;
                }
            }
            else
            {
                var field = point.GetField(i - tagCount);
                if (column.Kind != KindOf(field.Type) || !column.NameUtf8.AsSpan().SequenceEqual(field.Key)
                    || (field.Type == FieldType.String && !Utf8.IsValid(field.String)))
                {
                    return false;
                }
            }

            columns[i] = guess;
        }

        // A rejected line may have left two tag slots on one column ("a=1,a=2"): that stays the full path's to report.
        return RepeatedTag(columns[..tagCount]) < 0;
    }

    /// <summary>The first tag slot whose column an earlier slot already has (a tag written twice), or -1.</summary>
    private static int RepeatedTag(ReadOnlySpan<int> tagColumns)
    {
        for (var i = 1; i < tagColumns.Length; i++)
        {
            if (tagColumns[..i].Contains(tagColumns[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Sets <c>columns[slot]</c> to an existing column, or to <c>-1 - p</c> for the p-th pending new column.</summary>
    private bool ResolveColumn(ColumnSet set, int slot, ReadOnlySpan<byte> key, ColumnKind kind, long line, int position, Span<int> columns)
    {
        var index = set.Resolve(slot, key);
        if (index >= 0)
        {
            var existing = set.ColumnSpan[index];
            if (existing.Kind != kind)
            {
                return Fail(line, position, set.Schema!.Check(existing.Name, kind, claim: false) ?? $"'{existing.Name}' has another type");
            }

            columns[slot] = index;
            return true;
        }

        if (!Utf8.IsValid(key))
        {
            return Fail(line, position, "tag or field name is not valid UTF-8");
        }

        for (var p = 0; p < _pending.Count; p++)
        {
            if (_pending[p].Kind == kind && Utf8NameComparer.Instance.Equals(key, _pending[p].Name))
            {
                columns[slot] = -1 - p;
                return true;
            }
        }

        var name = Encoding.UTF8.GetString(key);
        if (set.Schema!.Check(name, kind, claim: false) is { } error)
        {
            return Fail(line, position, error);
        }

        foreach (var pending in _pending)
        {
            if (pending.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return Fail(line, position, pending.Name.Equals(name, StringComparison.Ordinal)
                    ? $"'{name}' is sent both as {pending.Kind.Describe()} and {kind.Describe()}"
                    : $"'{name}' differs only in case from '{pending.Name}' on the same line");
            }
        }

        columns[slot] = -1 - _pending.Count;
        _pending.Add((name, kind, slot, position));
        return true;
    }

    private ColumnSet? FindSet(ReadOnlySpan<byte> measurement, long line)
    {
        if (_setsByUtf8.TryGetValue(measurement, out var set))
        {
            return set;
        }

        if (Names.ValidateMeasurement(measurement) is { } invalid)
        {
            Fail(line, 1, invalid);
            return null;
        }

        if (_sets.Count >= _options.MaxMeasurementsPerRequest)
        {
            Fail(line, 1, $"the request writes more than {_options.MaxMeasurementsPerRequest} measurements");
            return null;
        }

        var name = Encoding.UTF8.GetString(measurement);
        var entry = _catalog.ResolveMeasurement(Database, name, out var error);
        if (entry is null)
        {
            Fail(line, 1, error!);
            return null;
        }

        set = new ColumnSet(Database, name) { Schema = entry.Schema };
        _sets.Add(name, set);
        return set;
    }

    /// <summary>Records that <paramref name="set"/> accepted a row (one reference comparison per row after the first).</summary>
    private void NoteAccepted(ColumnSet set)
    {
        if (ReferenceEquals(set, _lastAccepted))
        {
            return;
        }

        _lastAccepted = set;
        if (!_measurements.Contains(set.Measurement))
        {
            _measurements.Add(set.Measurement);
        }
    }

    private bool Fail(long line, int column, string message)
    {
        Reject(line, column, message);
        return false;
    }

    internal static ColumnKind KindOf(FieldType type) => type switch
    {
        FieldType.Float => ColumnKind.Float,
        FieldType.Integer => ColumnKind.Integer,
        FieldType.UInteger => ColumnKind.UInteger,
        FieldType.Boolean => ColumnKind.Boolean,
        _ => ColumnKind.String,
    };
}

/// <summary>Feeds the line-protocol reader's points and errors into a <see cref="WriteBatch"/>.</summary>
public readonly struct LineProtocolBatchHandler(WriteBatch batch) : ILineProtocolHandler
{
    public void OnPoint(in LinePoint point) => batch.Add(in point);

    public void OnError(in LineProtocolError error) => batch.Reject(error.Line, error.Column, error.Message);
}

using System.Text;
using Arc.Engine.Buffers;
using Arc.Engine.Storage;
using Arc.Protocol.MessagePack;

namespace Arc.Engine.Ingest;

/// <summary>
/// MessagePack input (<see cref="MsgPackDecoder"/>): whole records — a block of rows per columnar map — go straight into
/// the batch's column buffers. The decoder's validation pass builds a plan per measurement (each column's name, tag-ness
/// and the kinds of values seen across the whole body) and checks it against the batch and the measurement's shared schema
/// without claiming anything; only when the whole body passed are the new columns claimed (<see cref="MsgPackEndValidation"/>)
/// and the write pass run. A rejected body therefore writes no row and claims no column.
/// </summary>
public sealed partial class WriteBatch
{
    private readonly Dictionary<ColumnSet, MsgPackPlan> _msgPackPlans = [];
    private MsgPackPlan? _msgPackPlan;
    private ColumnSet? _msgPackSet;
    private ColumnBuffer? _msgPackColumn;
    private int _msgPackBase;
    private int _msgPackRows;
    private int _msgPackSlot;
    private int _msgPackRecord;
    private bool _msgPackWriting;

    /// <summary>Starts decoding a MessagePack body into this batch (called by <see cref="MsgPackBatchHandler"/>).</summary>
    internal void MsgPackBegin()
    {
        _msgPackPlans.Clear();
        _msgPackPlan = null;
        _msgPackSet = null;
        _msgPackColumn = null;
        _msgPackRecord = 0;
        _msgPackWriting = false;
    }

    internal string? MsgPackBeginRecord(ReadOnlySpan<byte> measurement, int rows)
    {
        var set = _msgPackSet;
        if (set is null || !set.MeasurementUtf8.AsSpan().SequenceEqual(measurement))
        {
            set = MsgPackFindSet(measurement, out var error);
            if (set is null)
            {
                return error;
            }

            _msgPackSet = set;
            if (!_msgPackPlans.TryGetValue(set, out _msgPackPlan))
            {
                _msgPackPlan = new MsgPackPlan();
                _msgPackPlans.Add(set, _msgPackPlan);
            }
        }

        _msgPackSlot = 0;
        _msgPackRecord++;
        _msgPackBase = set.RowCount;
        _msgPackRows = rows;
        return null;
    }

    internal string? MsgPackColumn(ReadOnlySpan<byte> name, MsgPackValueKinds values, bool tag, int offset, out MsgPackColumnType type)
    {
        var set = _msgPackSet!;
        var plan = _msgPackPlan!;
        var slot = _msgPackSlot++;
        if (_msgPackWriting)
        {
            var index = set.Resolve(slot, name);
            if (index < 0)
            {
                var planned = plan.Find(slot, name);
                if (planned is null)
                {
                    // Only nils everywhere in the body: no column.
                    _msgPackColumn = null;
                    type = MsgPackColumnType.None;
                    return null;
                }

                index = set.AddColumn(planned.Name, planned.Kind, slot);
            }

            _msgPackColumn = set.Columns[index];
            type = ToColumnType(_msgPackColumn.Kind);
            return null;
        }

        type = MsgPackColumnType.None;
        var column = plan.Find(slot, name);
        if (column is null)
        {
            var text = Encoding.UTF8.GetString(name);
            foreach (var other in plan.Columns)
            {
                if (other.Name.Equals(text, StringComparison.OrdinalIgnoreCase))
                {
                    return $"'{text}' differs only in case from '{other.Name}' in the same request";
                }
            }

            var schema = set.Schema!;
            var existing = set.Find(name);
            column = new MsgPackPlanColumn(text, tag, offset, existing >= 0 ? set.Columns[existing].Kind : null);

            // New to the measurement (not in the schema): counts against its column limit before anything is claimed.
            if (existing < 0 && schema.Check(text, ColumnKind.Tag, claim: false) is null && schema.Check(text, ColumnKind.Boolean, claim: false) is null)
            {
                if (schema.Count + plan.NewColumns + 1 > _options.MaxColumnsPerMeasurement)
                {
                    return $"measurement {set.Measurement} would have more than {_options.MaxColumnsPerMeasurement} columns; '{text}' not added";
                }

                plan.NewColumns++;
            }

            plan.Add(slot, column);
        }
        else if (column.Record == _msgPackRecord)
        {
            return column.Tag == tag
                ? $"duplicate column '{column.Name}' in one record"
                : $"'{column.Name}' is sent both as a tag and as a field";
        }
        else if (column.Tag != tag)
        {
            return column.Tag
                ? $"'{column.Name}' is a tag in one record and a field in another"
                : $"'{column.Name}' is a field in one record and a tag in another";
        }

        column.Record = _msgPackRecord;
        var merged = column.Kinds | values;
        if (merged != column.Kinds)
        {
            if (MsgPackDecideKind(set, column, merged) is { } error)
            {
                return error;
            }

            column.Kinds = merged;
        }

        type = ToColumnType(column.Kind);
        return null;
    }

    /// <summary>
    /// Picks the kind for a planned column holding <paramref name="kinds"/>: its natural type if the batch and schema allow
    /// it, else a wider numeric type that the column already has (integers into float, non-negative into unsigned).
    /// </summary>
    private static string? MsgPackDecideKind(ColumnSet set, MsgPackPlanColumn column, MsgPackValueKinds kinds)
    {
        var natural = MsgPackColumnTypes.Natural(kinds, column.Tag);
        if (natural == MsgPackColumnType.None)
        {
            return $"field type conflict: '{column.Name}' holds {MsgPackColumnTypes.Describe(column.Kinds)} values in one record and {MsgPackColumnTypes.Describe(kinds & ~column.Kinds)} in another";
        }

        ReadOnlySpan<MsgPackColumnType> candidates = [natural, MsgPackColumnType.Float, MsgPackColumnType.UInteger, MsgPackColumnType.Integer];
        foreach (var candidate in candidates)
        {
            if (!MsgPackColumnTypes.CanStore(kinds, candidate))
            {
                continue;
            }

            var kind = ToColumnKind(candidate);
            if (column.BatchKind is { } batchKind ? batchKind == kind : set.Schema!.Check(column.Name, kind, claim: false) is null)
            {
                column.Kind = kind;
                return null;
            }
        }

        var wanted = ToColumnKind(natural);
        return column.BatchKind is { } fixedKind
            ? $"field type conflict: '{column.Name}' is {fixedKind.Describe()} in {set.Measurement}, got {wanted.Describe()}"
            : set.Schema!.Check(column.Name, wanted, claim: false) ?? $"'{column.Name}' has another type in {set.Measurement}";
    }

    /// <summary>After a clean validation pass: claims every new column in the shared schemas, then switches to writing.</summary>
    internal string? MsgPackEndValidation(out int offset)
    {
        // Check everything first, so a conflict found now (another request claimed a name meanwhile) claims nothing.
        for (var claim = 0; claim < 2; claim++)
        {
            foreach (var (set, plan) in _msgPackPlans)
            {
                foreach (var column in plan.Columns)
                {
                    if (column.BatchKind is null && set.Schema!.Check(column.Name, column.Kind, claim: claim == 1) is { } error)
                    {
                        offset = column.Offset;
                        return error;
                    }
                }
            }
        }

        offset = 0;
        _msgPackWriting = true;
        _msgPackSet = null;
        return null;
    }

    internal void MsgPackEndRecord()
    {
        if (!_msgPackWriting)
        {
            return;
        }

        // Every column was filled directly: pad them to the record's end and take the time range once.
        _msgPackSet!.CompleteRows(_msgPackRows);
        Accepted += _msgPackRows;
        PendingRows += _msgPackRows;
    }

    internal void MsgPackWriteTime(int row, long timestamp) => _msgPackSet!.Time.SetInt64(_msgPackBase + row, timestamp);

    internal void MsgPackWriteInt64(int row, long value) => _msgPackColumn!.SetInt64(_msgPackBase + row, value);

    internal void MsgPackWriteDouble(int row, double value) => _msgPackColumn!.SetDouble(_msgPackBase + row, value);

    internal void MsgPackWriteDoubles(int row, ReadOnlySpan<double> values) => _msgPackColumn!.AppendDoubles(_msgPackBase + row, values);

    internal void MsgPackWriteBoolean(int row, bool value) => _msgPackColumn!.SetBoolean(_msgPackBase + row, value);

    internal void MsgPackWriteString(int row, ReadOnlySpan<byte> value) => _msgPackColumn!.SetBytes(_msgPackBase + row, value);

    private ColumnSet? MsgPackFindSet(ReadOnlySpan<byte> measurement, out string? error)
    {
        error = null;
        if (_setsByUtf8.TryGetValue(measurement, out var set))
        {
            return set;
        }

        if (Names.ValidateMeasurement(measurement) is { } invalid)
        {
            error = measurement.IsEmpty ? invalid : $"{invalid} (got '{Printable(measurement)}')";
            return null;
        }

        if (_sets.Count >= _options.MaxMeasurementsPerRequest)
        {
            error = $"the request writes more than {_options.MaxMeasurementsPerRequest} measurements";
            return null;
        }

        var name = Encoding.UTF8.GetString(measurement);
        var entry = _catalog.ResolveMeasurement(Database, name, out error);
        if (entry is null)
        {
            return null;
        }

        set = new ColumnSet(Database, name) { Schema = entry.Schema };
        _sets.Add(name, set);
        return set;
    }

    private static string Printable(ReadOnlySpan<byte> utf8)
    {
        var text = Encoding.UTF8.GetString(utf8[..Math.Min(utf8.Length, 64)]);
        return string.Create(text.Length, text, static (chars, source) =>
        {
            for (var i = 0; i < chars.Length; i++)
            {
                chars[i] = char.IsControl(source[i]) ? '?' : source[i];
            }
        });
    }

    internal static MsgPackColumnType ToColumnType(ColumnKind kind) => kind switch
    {
        ColumnKind.Tag => MsgPackColumnType.Tag,
        ColumnKind.Float => MsgPackColumnType.Float,
        ColumnKind.Integer => MsgPackColumnType.Integer,
        ColumnKind.UInteger => MsgPackColumnType.UInteger,
        ColumnKind.Boolean => MsgPackColumnType.Boolean,
        ColumnKind.String => MsgPackColumnType.String,
        _ => MsgPackColumnType.None,
    };

    internal static ColumnKind ToColumnKind(MsgPackColumnType type) => type switch
    {
        MsgPackColumnType.Tag => ColumnKind.Tag,
        MsgPackColumnType.Float => ColumnKind.Float,
        MsgPackColumnType.Integer => ColumnKind.Integer,
        MsgPackColumnType.UInteger => ColumnKind.UInteger,
        MsgPackColumnType.Boolean => ColumnKind.Boolean,
        _ => ColumnKind.String,
    };

    /// <summary>The columns one body writes into one measurement, as found by the validation pass.</summary>
    private sealed class MsgPackPlan
    {
        private readonly Dictionary<string, MsgPackPlanColumn> _byName = new(Utf8NameComparer.Instance);
        private readonly Dictionary<string, MsgPackPlanColumn>.AlternateLookup<ReadOnlySpan<byte>> _byUtf8;
        private MsgPackPlanColumn?[] _shape = new MsgPackPlanColumn?[16];

        public MsgPackPlan() => _byUtf8 = _byName.GetAlternateLookup<ReadOnlySpan<byte>>();

        public List<MsgPackPlanColumn> Columns { get; } = [];

        /// <summary>Planned columns that the measurement's schema does not have yet.</summary>
        public int NewColumns { get; set; }

        /// <summary>The planned column of that name; the column at the same slot of the previous record is tried first.</summary>
        public MsgPackPlanColumn? Find(int slot, ReadOnlySpan<byte> name)
        {
            if ((uint)slot < (uint)_shape.Length && _shape[slot] is { } guess && guess.NameUtf8.AsSpan().SequenceEqual(name))
            {
                return guess;
            }

            if (!_byUtf8.TryGetValue(name, out var column))
            {
                return null;
            }

            Remember(slot, column);
            return column;
        }

        public void Add(int slot, MsgPackPlanColumn column)
        {
            _byName.Add(column.Name, column);
            Columns.Add(column);
            Remember(slot, column);
        }

        private void Remember(int slot, MsgPackPlanColumn column)
        {
            if (slot >= _shape.Length)
            {
                Array.Resize(ref _shape, Math.Max(slot + 1, _shape.Length * 2));
            }

            _shape[slot] = column;
        }
    }

    private sealed class MsgPackPlanColumn(string name, bool tag, int offset, ColumnKind? batchKind)
    {
        public string Name { get; } = name;

        public byte[] NameUtf8 { get; } = Encoding.UTF8.GetBytes(name);

        public bool Tag { get; } = tag;

        /// <summary>Where the column was first named, for errors found after the validation pass.</summary>
        public int Offset { get; } = offset;

        /// <summary>The kind of the batch's existing column of that name, which cannot change.</summary>
        public ColumnKind? BatchKind { get; } = batchKind;

        /// <summary>Every kind of value the column holds in the body.</summary>
        public MsgPackValueKinds Kinds { get; set; }

        public ColumnKind Kind { get; set; }

        /// <summary>The last record that named the column (duplicate detection).</summary>
        public int Record { get; set; } = -1;
    }
}

/// <summary>Feeds <see cref="MsgPackDecoder"/> into a <see cref="WriteBatch"/>; create one per body.</summary>
public readonly struct MsgPackBatchHandler : IMsgPackHandler
{
    private readonly WriteBatch _batch;

    public MsgPackBatchHandler(WriteBatch batch)
    {
        _batch = batch;
        batch.MsgPackBegin();
    }

    public string? BeginRecord(scoped ReadOnlySpan<byte> measurement, int rows) => _batch.MsgPackBeginRecord(measurement, rows);

    public string? Column(scoped ReadOnlySpan<byte> name, MsgPackValueKinds values, bool tag, int offset, out MsgPackColumnType type) =>
        _batch.MsgPackColumn(name, values, tag, offset, out type);

    public void EndRecord() => _batch.MsgPackEndRecord();

    public string? EndValidation(out int offset) => _batch.MsgPackEndValidation(out offset);

    public void WriteTime(int row, long timestamp) => _batch.MsgPackWriteTime(row, timestamp);

    public void WriteInt64(int row, long value) => _batch.MsgPackWriteInt64(row, value);

    public void WriteUInt64(int row, ulong value) => _batch.MsgPackWriteInt64(row, unchecked((long)value));

    public void WriteDouble(int row, double value) => _batch.MsgPackWriteDouble(row, value);

    public void WriteDoubles(int row, scoped ReadOnlySpan<double> values) => _batch.MsgPackWriteDoubles(row, values);

    public void WriteBoolean(int row, bool value) => _batch.MsgPackWriteBoolean(row, value);

    public void WriteString(int row, scoped ReadOnlySpan<byte> value) => _batch.MsgPackWriteString(row, value);
}

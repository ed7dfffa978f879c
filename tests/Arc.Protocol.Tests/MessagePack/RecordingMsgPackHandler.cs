using System.Text;
using Arc.Protocol.MessagePack;

namespace Arc.Protocol.Tests.MessagePack;

/// <summary>
/// Records what the decoder delivers as rows, with a minimal schema: a column keeps the natural type of every value it
/// was given in the body (promotion across records), and optionally refuses names. Asserts that nothing is written before
/// the validation pass ended.
/// </summary>
internal sealed class RecordingMsgPackHandlerState
{
    public Dictionary<(string Measurement, string Column), (MsgPackValueKinds Kinds, bool Tag)> Plan { get; } = [];

    public List<RecordedRow> Rows { get; } = [];

    public bool Writing { get; set; }

    public bool Validated { get; set; }

    /// <summary>Records the validation pass announced (<see cref="IMsgPackHandler.BeginRecord"/> before the write pass).</summary>
    public int RecordsValidated { get; set; }

    public string? RefuseColumn { get; init; }

    public Dictionary<(string, string), MsgPackColumnType> Fixed { get; } = [];

    public string CurrentMeasurement = "";

    public int Base;

    public string? CurrentColumn;

    public MsgPackColumnType CurrentType;
}

internal sealed record RecordedRow(string Measurement)
{
    public long Time { get; set; } = long.MinValue;

    public Dictionary<string, object?> Values { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Tags { get; } = new(StringComparer.Ordinal);
}

internal struct RecordingMsgPackHandler(RecordingMsgPackHandlerState state) : IMsgPackHandler
{
    public readonly RecordingMsgPackHandlerState State => state;

    public readonly string? BeginRecord(scoped ReadOnlySpan<byte> measurement, int rows)
    {
        var name = Encoding.UTF8.GetString(measurement);
        if (name.Length == 0 || !char.IsAsciiLetter(name[0]))
        {
            return "invalid measurement name";
        }

        state.CurrentMeasurement = name;
        state.RecordsValidated += state.Writing ? 0 : 1;
        if (state.Writing)
        {
            state.Base = state.Rows.Count;
            for (var i = 0; i < rows; i++)
            {
                state.Rows.Add(new RecordedRow(name));
            }
        }

        return null;
    }

    public readonly string? Column(scoped ReadOnlySpan<byte> name, MsgPackValueKinds values, bool tag, int offset, out MsgPackColumnType type)
    {
        var column = Encoding.UTF8.GetString(name);
        var key = (state.CurrentMeasurement, column);
        if (state.Writing)
        {
            Assert.Equal(MsgPackValueKinds.None, values);
            state.CurrentColumn = column;
            type = state.Plan.TryGetValue(key, out var planned) ? Decide(key, planned.Kinds, planned.Tag) : MsgPackColumnType.None;
            state.CurrentType = type;
            return null;
        }

        Assert.NotEqual(MsgPackValueKinds.None, values & ~MsgPackValueKinds.Nil);
        type = MsgPackColumnType.None;
        if (column == state.RefuseColumn)
        {
            return $"column '{column}' refused";
        }

        if (state.Plan.TryGetValue(key, out var existing))
        {
            if (existing.Tag != tag)
            {
                return $"'{column}' is both a tag and a field";
            }

            values |= existing.Kinds;
        }

        type = Decide(key, values, tag);
        if (type == MsgPackColumnType.None)
        {
            return $"field type conflict: '{column}'";
        }

        state.Plan[key] = (values, tag);
        return null;
    }

    public readonly void EndRecord()
    {
    }

    public readonly string? EndValidation(out int offset)
    {
        Assert.False(state.Writing);
        offset = 0;
        state.Validated = true;
        state.Writing = true;
        return null;
    }

    public readonly void WriteTime(int row, long timestamp) => Row(row).Time = timestamp;

    public readonly void WriteInt64(int row, long value) => Set(row, value, MsgPackColumnType.Integer);

    public readonly void WriteUInt64(int row, ulong value) => Set(row, value, MsgPackColumnType.UInteger);

    public readonly void WriteDouble(int row, double value) => Set(row, value, MsgPackColumnType.Float);

    public readonly void WriteDoubles(int row, scoped ReadOnlySpan<double> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            WriteDouble(row + i, values[i]);
        }
    }

    public readonly void WriteBoolean(int row, bool value) => Set(row, value, MsgPackColumnType.Boolean);

    public readonly void WriteString(int row, scoped ReadOnlySpan<byte> value)
    {
        Assert.True(state.CurrentType is MsgPackColumnType.String or MsgPackColumnType.Tag);
        var recorded = Row(row);
        recorded.Values.Add(state.CurrentColumn!, Encoding.UTF8.GetString(value));
        if (state.CurrentType == MsgPackColumnType.Tag)
        {
            recorded.Tags.Add(state.CurrentColumn!);
        }
    }

    private readonly MsgPackColumnType Decide((string, string) key, MsgPackValueKinds kinds, bool tag)
    {
        if (state.Fixed.TryGetValue(key, out var fixedType))
        {
            return MsgPackColumnTypes.CanStore(kinds, fixedType) ? fixedType : MsgPackColumnType.None;
        }

        return MsgPackColumnTypes.Natural(kinds, tag);
    }

    private readonly RecordedRow Row(int row)
    {
        Assert.True(state.Writing, "a value was written before the validation pass ended");
        return state.Rows[state.Base + row];
    }

    private readonly void Set(int row, object value, MsgPackColumnType expected)
    {
        Assert.Equal(expected, state.CurrentType);
        Row(row).Values.Add(state.CurrentColumn!, value);
    }
}

namespace Arc.Protocol.MessagePack;

/// <summary>
/// Receives what <see cref="MsgPackDecoder.TryDecode{THandler}"/> reads. The decoder makes two passes over the body: a
/// validation pass, in which the handler checks names and types and writes nothing, then — only if the whole body and
/// <see cref="EndValidation"/> passed — a write pass with the same calls plus the values. So a rejected body leaves no
/// trace. Implement it on a struct (or ref struct) so the calls are devirtualised.
/// <para>
/// Every record (one columnar map, or one row map) is delivered as a block of rows: <see cref="BeginRecord"/>, then per
/// column <see cref="Column"/> followed (write pass only) by that column's non-nil values, then (write pass only) one
/// <see cref="WriteTime"/> per row, then <see cref="EndRecord"/>. Rows are numbered from 0 within the record. Spans are
/// valid only during the call.
/// </para>
/// </summary>
public interface IMsgPackHandler
{
    /// <summary>Starts a record of <paramref name="rows"/> rows; returns null, or why the measurement is refused.</summary>
    string? BeginRecord(scoped ReadOnlySpan<byte> measurement, int rows);

    /// <summary>
    /// Starts a column of the current record. In the validation pass <paramref name="values"/> says what the column holds
    /// (never only nils: such columns are not delivered) and the handler returns null, or why the column is refused (a
    /// type conflict, a name rule, a duplicate); <paramref name="type"/> is then the type it would be stored as. In the
    /// write pass <paramref name="values"/> is <see cref="MsgPackValueKinds.None"/>, the handler must not fail, and
    /// <paramref name="type"/> is the type the values are written as (<see cref="MsgPackColumnType.None"/>: skip them);
    /// it must be able to hold what the validation pass saw (<see cref="MsgPackColumnTypes.CanStore"/>).
    /// </summary>
    /// <param name="name">The column name: valid UTF-8 without control characters, not empty, not <c>time</c>.</param>
    /// <param name="values">The kinds of values in the column (validation pass).</param>
    /// <param name="tag">Whether the record names the column a tag.</param>
    /// <param name="offset">Byte offset of the column name, for the handler's own error reports.</param>
    /// <param name="type">The chosen column type.</param>
    string? Column(scoped ReadOnlySpan<byte> name, MsgPackValueKinds values, bool tag, int offset, out MsgPackColumnType type);

    /// <summary>Ends the current record (both passes).</summary>
    void EndRecord();

    /// <summary>
    /// Called once after a successful validation pass, before the write pass: the last chance to refuse the body (e.g.
    /// when claiming new columns in a shared schema fails). Returns null, or the reason and the offset it concerns.
    /// </summary>
    string? EndValidation(out int offset);

    /// <summary>Write pass: the time of a row of the current record, in Unix nanoseconds.</summary>
    void WriteTime(int row, long timestamp);

    /// <summary>Write pass: a value of the current <see cref="MsgPackColumnType.Integer"/> column.</summary>
    void WriteInt64(int row, long value);

    /// <summary>Write pass: a value of the current <see cref="MsgPackColumnType.UInteger"/> column.</summary>
    void WriteUInt64(int row, ulong value);

    /// <summary>Write pass: a value of the current <see cref="MsgPackColumnType.Float"/> column.</summary>
    void WriteDouble(int row, double value);

    /// <summary>
    /// Write pass: consecutive values of the current <see cref="MsgPackColumnType.Float"/> column, for rows
    /// <paramref name="row"/> onwards (as many calls of <see cref="WriteDouble"/>).
    /// </summary>
    void WriteDoubles(int row, scoped ReadOnlySpan<double> values);

    /// <summary>Write pass: a value of the current <see cref="MsgPackColumnType.Boolean"/> column.</summary>
    void WriteBoolean(int row, bool value);

    /// <summary>Write pass: a value (valid UTF-8) of the current string or tag column.</summary>
    void WriteString(int row, scoped ReadOnlySpan<byte> value);
}

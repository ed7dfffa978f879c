using System.Buffers;
using System.Text.Unicode;
using Apache.Arrow;
using Apache.Arrow.Types;
using Arc.Engine.Buffers;
using Arc.Engine.Errors;
using ParquetSharp;
using ParquetSharp.Arrow;

namespace Arc.Engine.Ingest;

internal sealed partial class ImportSession
{
    /// <summary>Rows per Arrow batch read from the file.</summary>
    private const int ParquetBatchRows = 8192;

    private async Task<ImportOutcome> ReadParquetAsync(ImportOptions import, LimitedReadStream source, ImportProgress progress,
        CancellationToken cancellationToken)
    {
        var path = Path.Combine(tempDirectory, $"import-{progress.Id}-{Guid.NewGuid():N}.parquet");
        // Deleted when closed, and the engine empties its temporary directory at startup after a crash.
        await using var spool = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 64 * 1024,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        try
        {
            await source.CopyToAsync(spool, cancellationToken).ConfigureAwait(false);
        }
        catch (PayloadTooLargeException e)
        {
            return Refused(import, e.Message, ErrorReason.TooLarge);
        }

        if (spool.Length == 0)
        {
            return Refused(import, "file is empty");
        }

        await spool.FlushAsync(cancellationToken).ConfigureAwait(false);
        FileReader reader;
        try
        {
            var properties = ArrowReaderProperties.GetDefault();
            properties.BatchSize = ParquetBatchRows;
            reader = new FileReader(path, arrowProperties: properties);
        }
        catch (ParquetException e)
        {
            return Refused(import, $"the file is not a readable Parquet file: {e.Message}");
        }

        using (reader)
        {
            return await ImportParquetAsync(import, reader, source, progress, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<ImportOutcome> ImportParquetAsync(ImportOptions import, FileReader reader, LimitedReadStream source, ImportProgress progress,
        CancellationToken cancellationToken)
    {
        var schema = reader.Schema;
        var header = schema.FieldsList.Select(f => f.Name).ToArray();
        if (ValidateHeader(header, import) is { } invalid)
        {
            return Refused(import, invalid);
        }

        var timeIndex = System.Array.IndexOf(header, import.TimeColumn);
        if (!IsTimeType(schema.FieldsList[timeIndex].DataType))
        {
            return Refused(import, $"time column '{import.TimeColumn}' has type {schema.FieldsList[timeIndex].DataType.Name}: use a timestamp, date, integer or string column");
        }

        var columns = new List<(string Name, ColumnKind Kind, int Field)>();
        for (var i = 0; i < header.Length; i++)
        {
            if (i == timeIndex)
            {
                continue;
            }

            var type = schema.FieldsList[i].DataType;
            var kind = KindOf(type);
            if (kind is null)
            {
                return Refused(import, $"column '{header[i]}' has the Parquet type {type.Name}, which cannot be imported");
            }

            if (import.TagColumns.Contains(header[i]))
            {
                if (kind != ColumnKind.String)
                {
                    return Refused(import, $"tag column '{header[i]}' must be a string column, not {type.Name}");
                }

                kind = ColumnKind.Tag;
            }

            columns.Add((header[i], kind.Value, i));
        }

        var batch = ingest.RentBatch(import.Database);
        var table = new TableWriter(ingest, options, batch, progress);
        try
        {
            if (batch.BeginTable(import.Measurement!, [.. columns.Select(c => (c.Name, c.Kind))]) is { } conflict)
            {
                return Refused(import, conflict);
            }

            using var batches = reader.GetRecordBatchReader();
            var arrays = new IArrowArray[columns.Count];
            long rowNumber = 0;
            while (await batches.ReadNextRecordBatchAsync(cancellationToken).ConfigureAwait(false) is { } records)
            {
                using (records)
                {
                    for (var c = 0; c < arrays.Length; c++)
                    {
                        arrays[c] = records.Column(columns[c].Field);
                    }

                    WriteParquetBatch(table, arrays, columns, records.Column(timeIndex), rowNumber, import.TimeFormat, timeIndex);
                    rowNumber += records.Length;
                }

                await table.CommitIfFullAsync(cancellationToken).ConfigureAwait(false);
            }

            await table.CommitAsync().ConfigureAwait(false);
            return table.Outcome(import, source, null, null, header, timeIndex);
        }
        catch (Exception e) when (table.Failure(e) is { } failure)
        {
            return table.Outcome(import, source, failure.Reason, failure.Message, header, timeIndex);
        }
        catch (ParquetException e)
        {
            return table.Outcome(import, source, ErrorReason.Invalid, $"the Parquet file could not be read: {e.Message}{table.StoredNote()}", header,
                timeIndex);
        }
        finally
        {
            ingest.ReturnBatch(batch);
        }
    }

    /// <summary>
    /// One record batch, column by column: every row's time, then each column's values that need a check (text that must be
    /// UTF-8, decimals and timestamps that must fit), so a row is refused with its first problem in column order and the
    /// refusals are reported in row order; then each run of accepted rows is appended as blocks of the Arrow arrays.
    /// </summary>
    private static void WriteParquetBatch(TableWriter table, IArrowArray[] arrays, List<(string Name, ColumnKind Kind, int Field)> columns,
        IArrowArray timeArray, long firstRow, ImportTimeFormat format, int timeIndex)
    {
        var count = timeArray.Length;
        var times = ArrayPool<long>.Shared.Rent(count);
        var refusals = ArrayPool<(int Column, string Message)?>.Shared.Rent(count);
        try
        {
            for (var row = 0; row < count; row++)
            {
                refusals[row] = TimeOf(timeArray, row, format, out times[row]) is { } timeError ? (timeIndex + 1, timeError) : null;
            }

            for (var c = 0; c < arrays.Length; c++)
            {
                Check(arrays[c], refusals.AsSpan(0, count), columns[c].Field + 1, columns[c].Name);
            }

            // Runs of accepted rows between the refused ones: the whole batch when none was refused.
            var start = 0;
            for (var row = 0; row <= count; row++)
            {
                if (row < count && refusals[row] is null)
                {
                    continue;
                }

                if (row > start)
                {
                    table.AppendRows(arrays, times, start, row - start);
                }

                if (row < count)
                {
                    var (column, message) = refusals[row]!.Value;
                    table.Reject(firstRow + row + 1, column, message);
                }

                start = row + 1;
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(times);
            ArrayPool<(int Column, string Message)?>.Shared.Return(refusals, clearArray: true);
        }
    }

    /// <summary>
    /// Refuses, in <paramref name="refusals"/>, each row not refused yet whose value in <paramref name="array"/> cannot be
    /// stored. Text is checked as one block when it can be: a run of values that is valid UTF-8 as a whole, with no value
    /// starting inside a character, holds only valid values.
    /// </summary>
    private static void Check(IArrowArray array, Span<(int Column, string Message)?> refusals, int column, string name)
    {
        if (array is not (BinaryArray or Decimal128Array or TimestampArray) || array.NullCount == array.Length
            || array is TimestampArray { Data.DataType: TimestampType { Unit: Apache.Arrow.Types.TimeUnit.Nanosecond } }
            || (array is BinaryArray text && WholeUtf8(text)))
        {
            return;
        }

        for (var row = 0; row < refusals.Length; row++)
        {
            if (refusals[row] is null && !array.IsNull(row) && Check(array, row) is { } error)
            {
                refusals[row] = (column, $"column '{name}': {error}");
            }
        }
    }

    /// <summary>Whether every value of <paramref name="text"/> is valid UTF-8, decided on its whole value buffer.</summary>
    private static bool WholeUtf8(BinaryArray text)
    {
        var offsets = text.ValueOffsets;
        var data = text.ValueBuffer.Span;
        if (!Utf8.IsValid(data[offsets[0]..offsets[^1]]))
        {
            return false;
        }

        for (var i = 0; i < text.Length; i++)
        {
            // A value that starts with a continuation byte (10xxxxxx) starts inside a character.
            if (offsets[i + 1] > offsets[i] && (data[offsets[i]] & 0xC0) == 0x80)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Why a value cannot be stored (text that is not UTF-8, a decimal or timestamp out of range), or null.</summary>
    private static string? Check(IArrowArray array, int row)
    {
        try
        {
            switch (array)
            {
                case BinaryArray binary:
                    return Utf8.IsValid(binary.GetBytes(row)) ? null : "the value is not valid UTF-8";
                case Decimal128Array decimals:
                    _ = decimals.GetValue(row);
                    return null;
                case TimestampArray timestamps:
                    _ = Nanoseconds(timestamps, row);
                    return null;
                default:
                    return null;
            }
        }
        catch (OverflowException)
        {
            return "the value is out of range";
        }
    }

    /// <summary>The kind a Parquet (Arrow) type is stored as, or null when it cannot be imported.</summary>
    private static ColumnKind? KindOf(IArrowType type) => type.TypeId switch
    {
        ArrowTypeId.Int8 or ArrowTypeId.Int16 or ArrowTypeId.Int32 or ArrowTypeId.Int64
            or ArrowTypeId.UInt8 or ArrowTypeId.UInt16 or ArrowTypeId.UInt32 or ArrowTypeId.Timestamp => ColumnKind.Integer,
        ArrowTypeId.UInt64 => ColumnKind.UInteger,
        ArrowTypeId.Float or ArrowTypeId.Double or ArrowTypeId.Decimal128 => ColumnKind.Float,
        ArrowTypeId.Boolean => ColumnKind.Boolean,
        ArrowTypeId.String or ArrowTypeId.Binary => ColumnKind.String,
        _ => null,
    };

    private static bool IsTimeType(IArrowType type) => type.TypeId is ArrowTypeId.Timestamp or ArrowTypeId.Date32 or ArrowTypeId.Date64
        or ArrowTypeId.Int32 or ArrowTypeId.Int64 or ArrowTypeId.UInt32 or ArrowTypeId.String;

    /// <summary>The row's time in nanoseconds, or why it has none.</summary>
    private static string? TimeOf(IArrowArray array, int row, ImportTimeFormat format, out long time)
    {
        time = 0;
        if (array.IsNull(row))
        {
            return "the time value is null";
        }

        try
        {
            switch (array)
            {
                case TimestampArray timestamps:
                    time = Nanoseconds(timestamps, row);
                    return null;
                case Date32Array days:
                    time = checked(days.Values[row] * 86_400_000_000_000L);
                    return null;
                case Date64Array milliseconds:
                    time = checked(milliseconds.Values[row] * 1_000_000L);
                    return null;
                case BinaryArray text:
                    return ImportTime.TryParse(text.GetBytes(row), format, out time);
                default:
                    return ImportTime.FromEpoch(Integer(array, row), format, out time) ? null : "the time value is out of range";
            }
        }
        catch (OverflowException)
        {
            return "the time value is out of range";
        }
    }

    private static long Nanoseconds(TimestampArray timestamps, int row)
    {
        var value = timestamps.Values[row];
        return ((TimestampType)timestamps.Data.DataType).Unit switch
        {
            Apache.Arrow.Types.TimeUnit.Second => checked(value * 1_000_000_000L),
            Apache.Arrow.Types.TimeUnit.Millisecond => checked(value * 1_000_000L),
            Apache.Arrow.Types.TimeUnit.Microsecond => checked(value * 1_000L),
            _ => value,
        };
    }

    private static long Integer(IArrowArray array, int row) => array switch
    {
        Int64Array a => a.Values[row],
        Int32Array a => a.Values[row],
        Int16Array a => a.Values[row],
        Int8Array a => a.Values[row],
        UInt64Array a => (long)a.Values[row],
        UInt32Array a => a.Values[row],
        UInt16Array a => a.Values[row],
        UInt8Array a => a.Values[row],
        _ => throw new InvalidOperationException($"not an integer array: {array.Data.DataType.Name}"),
    };
}

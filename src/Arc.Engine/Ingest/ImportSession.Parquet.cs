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
            long rowNumber = 0;
            while (await batches.ReadNextRecordBatchAsync(cancellationToken).ConfigureAwait(false) is { } records)
            {
                using (records)
                {
                    var time = records.Column(timeIndex);
                    for (var row = 0; row < records.Length; row++)
                    {
                        rowNumber++;
                        WriteParquetRow(table, records, columns, time, row, rowNumber, import.TimeFormat, timeIndex);
                        await table.CommitIfFullAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
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

    /// <summary>One row: its time and text values checked first, then every non-null value written in its column's type.</summary>
    private static void WriteParquetRow(TableWriter table, RecordBatch records, List<(string Name, ColumnKind Kind, int Field)> columns,
        IArrowArray timeArray, int row, long rowNumber, ImportTimeFormat format, int timeIndex)
    {
        if (TimeOf(timeArray, row, format, out var time) is { } timeError)
        {
            table.Reject(rowNumber, timeIndex + 1, timeError);
            return;
        }

        for (var c = 0; c < columns.Count; c++)
        {
            var array = records.Column(columns[c].Field);
            if (!array.IsNull(row) && Check(array, row) is { } error)
            {
                table.Reject(rowNumber, columns[c].Field + 1, $"column '{columns[c].Name}': {error}");
                return;
            }
        }

        var batch = table.Batch;
        var target = batch.TableRow;
        for (var c = 0; c < columns.Count; c++)
        {
            var array = records.Column(columns[c].Field);
            if (array.IsNull(row))
            {
                continue;
            }

            var buffer = batch.TableColumn(c);
            switch (array)
            {
                case BinaryArray binary: // strings and binary
                    buffer.SetBytes(target, binary.GetBytes(row));
                    break;
                case BooleanArray booleans:
                    buffer.SetBoolean(target, booleans.GetValue(row) == true);
                    break;
                case DoubleArray doubles:
                    buffer.SetDouble(target, doubles.Values[row]);
                    break;
                case FloatArray floats:
                    buffer.SetDouble(target, floats.Values[row]);
                    break;
                case Decimal128Array decimals:
                    buffer.SetDouble(target, (double)decimals.GetValue(row)!.Value);
                    break;
                case TimestampArray timestamps:
                    buffer.SetInt64(target, Nanoseconds(timestamps, row));
                    break;
                default:
                    buffer.SetInt64(target, Integer(array, row));
                    break;
            }
        }

        table.EndRow(time);
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

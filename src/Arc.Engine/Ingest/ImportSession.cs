using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Unicode;
using Apache.Arrow;
using Arc.Engine.Buffers;
using Arc.Engine.Errors;
using Arc.Engine.Wal;
using Arc.Protocol.LineProtocol;

namespace Arc.Engine.Ingest;

/// <summary>What a bulk import writes and how it reads its file (Arc's query parameters).</summary>
public sealed record ImportOptions
{
    public required string Database { get; init; }

    /// <summary>CSV and Parquet: the measurement written (required). Line protocol: only its points are stored (optional).</summary>
    public string? Measurement { get; init; }

    /// <summary>Line protocol: the unit of the timestamps.</summary>
    public TimestampPrecision Precision { get; init; } = TimestampPrecision.Nanoseconds;

    /// <summary>CSV and Parquet: the column holding the time (<c>time_column</c>, default <c>time</c>); stored as <c>time</c>.</summary>
    public string TimeColumn { get; init; } = "time";

    /// <summary>CSV and Parquet: how integer or text times are read (<c>time_format</c>).</summary>
    public ImportTimeFormat TimeFormat { get; init; }

    /// <summary>CSV: the field delimiter (<c>delimiter</c>, one byte).</summary>
    public byte Delimiter { get; init; } = (byte)',';

    /// <summary>CSV: records skipped before the header (<c>skip_rows</c>).</summary>
    public int SkipRows { get; init; }

    /// <summary>CSV and Parquet: columns stored as tags rather than fields (<c>tag_columns</c>; Arc stores none).</summary>
    public IReadOnlyList<string> TagColumns { get; init; } = [];
}

/// <summary>
/// How a bulk import ended. <see cref="Failure"/> is null when the whole file was read: its rows are then stored but the
/// <see cref="Errors"/> ones. Otherwise the import failed for that reason with <see cref="Message"/>, which says what of it
/// was stored (rows before a failure half-way stay stored, as with a write).
/// </summary>
public sealed class ImportOutcome
{
    public ErrorReason? Failure { get; init; }

    public string? Message { get; init; }

    public required string Database { get; init; }

    /// <summary>The measurements that stored rows (line protocol), or the one written (CSV, Parquet).</summary>
    public IReadOnlyList<string> Measurements { get; init; } = [];

    public long RowsImported { get; init; }

    public long RowsRejected { get; init; }

    /// <summary>Line protocol with a measurement filter: points of other measurements, not stored.</summary>
    public long RowsSkipped { get; init; }

    /// <summary>The first rejected rows: line (CSV: the record's first line; Parquet: the row number), column and why.</summary>
    public IReadOnlyList<WriteError> Errors { get; init; } = [];

    /// <summary>CSV and Parquet: the file's columns, the time column named <c>time</c>.</summary>
    public IReadOnlyList<string> Columns { get; init; } = [];

    /// <summary>The earliest and latest stored time (ns since the epoch), when rows were stored.</summary>
    public long? TimeMin { get; init; }

    public long? TimeMax { get; init; }

    /// <summary>Distinct UTC hours of the stored rows (Arc's <c>partitions_created</c>), counted up to 100,000.</summary>
    public int Partitions { get; init; }

    public long BytesRead { get; init; }
}

/// <summary>
/// Bulk imports (<c>/api/v1/import/{lp,csv,parquet}</c>): the uploaded file is read as a stream and its rows go through
/// the write path in parts of <see cref="IIngestSettings.MaxBufferRows"/> (validation against the schema, the WAL, the
/// buffers, the write budget), so memory does not grow with the file. Line protocol goes through the
/// <see cref="WriteSession"/> itself (gzip or zstd recognised by their first bytes). CSV is parsed record by record
/// (<see cref="CsvRecordReader"/>), its column types inferred from the first rows as Arc infers them. Parquet needs its
/// footer first, so the upload is spooled to a temporary file (bounded by <see cref="WriteLimits.MaxImportBytes"/>,
/// deleted when the import ends) and read batch by batch with ParquetSharp's Arrow reader, keeping its types.
/// </summary>
internal sealed partial class ImportSession(IngestEngine ingest, IIngestSettings options, WriteSession lineProtocol, ImportTracker tracker,
    string tempDirectory)
{
    /// <summary>Rows whose values decide a CSV column's type (Arc looks at the whole file, which a stream cannot).</summary>
    internal const int InferenceRows = 1000;

    /// <summary>Bytes of those rows at most.</summary>
    private const int InferenceBytes = 4 << 20;

    private const int MaxPartitions = 100_000;

    private const string LineLengthSetting = "ingest.max_line_length";

    private WriteLimits Limits => options.Writes;

    public Task<ImportOutcome> LineProtocolAsync(ImportOptions import, Stream file, CancellationToken cancellationToken) =>
        TrackedAsync("lp", import, file, async (source, progress) =>
        {
            var reader = PipeReader.Create(source, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
            var written = await lineProtocol.LineProtocolAsync(new WriteRequest(import.Database, BodyCompression.Detect, null), import.Precision,
                reader, cancellationToken, progress, import.Measurement).ConfigureAwait(false);
            return new ImportOutcome
            {
                Database = import.Database,
                Failure = written.Failure ?? (written.Accepted > 0 ? null : ErrorReason.Invalid),
                Message = written.Failure is not null ? written.Message
                    : source.Position == 0 ? "file is empty"
                    : written.Accepted > 0 ? written.Message
                    : import.Measurement is not null && written.Skipped > 0 ? $"no records found for measurement '{import.Measurement}'"
                    : "no valid line protocol records found in file" + (written.Message is null ? "" : $": {written.Message}"),
                Measurements = written.Measurements,
                RowsImported = written.Accepted,
                RowsRejected = written.Rejected,
                RowsSkipped = written.Skipped,
                Errors = written.Errors,
                BytesRead = source.Position,
            };
        });

    public Task<ImportOutcome> CsvAsync(ImportOptions import, Stream file, CancellationToken cancellationToken) =>
        TrackedAsync("csv", import, file, async (source, progress) =>
        {
            using var records = new CsvRecordReader(source, import.Delimiter, Limits.MaxLineLength, LineLengthSetting);
            return await ReadCsvAsync(import, records, source, progress, cancellationToken).ConfigureAwait(false);
        });

    public Task<ImportOutcome> ParquetAsync(ImportOptions import, Stream file, CancellationToken cancellationToken) =>
        TrackedAsync("parquet", import, file, (source, progress) => ReadParquetAsync(import, source, progress, cancellationToken));

    /// <summary>Runs an import with its progress listed in the stats while it runs and its outcome counted there when it ends.</summary>
    private async Task<ImportOutcome> TrackedAsync(string kind, ImportOptions import, Stream file,
        Func<LimitedReadStream, ImportProgress, Task<ImportOutcome>> run)
    {
        var progress = tracker.Start(kind, import.Database, import.Measurement);
        ImportOutcome outcome = new() { Database = import.Database, Failure = ErrorReason.Invalid, Message = "import did not finish" };
        try
        {
            outcome = await run(Source(file, progress), progress).ConfigureAwait(false);
            return outcome;
        }
        finally
        {
            tracker.Finish(progress, outcome);
        }
    }

    /// <summary>The uploaded file, counted for the progress figure and bounded by <c>import.max_file_size</c>.</summary>
    private LimitedReadStream Source(Stream file, ImportProgress progress)
    {
        var source = new LimitedReadStream(file, Limits.MaxImportBytes, "the file", WriteSession.ImportSetting);
        progress.Attach(source);
        return source;
    }

    private async Task<ImportOutcome> ReadCsvAsync(ImportOptions import, CsvRecordReader records, LimitedReadStream source, ImportProgress progress,
        CancellationToken cancellationToken)
    {
        for (var skipped = 0; skipped <= import.SkipRows; skipped++)
        {
            if (!await records.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return Refused(import, "file is empty");
            }
        }

        var header = new string[records.FieldCount];
        for (var i = 0; i < header.Length; i++)
        {
            var name = records.Field(i);
            if (i == 0 && name.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            {
                name = name[3..];
            }

            header[i] = Encoding.UTF8.GetString(name).Trim();
        }

        if (ValidateHeader(header, import) is { } invalid)
        {
            return Refused(import, invalid);
        }

        var timeIndex = System.Array.IndexOf(header, import.TimeColumn);
        var sample = new List<(long Line, byte[][] Fields, string? Error)>();
        long sampleBytes = 0;
        PayloadTooLargeException? cut = null; // a record too long for the reader: the rows before it are stored
        try
        {
            while (sample.Count < InferenceRows && sampleBytes < InferenceBytes && await records.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var fields = new byte[records.FieldCount][];
                for (var i = 0; i < fields.Length; i++)
                {
                    fields[i] = records.Field(i).ToArray();
                    sampleBytes += fields[i].Length + 16;
                }

                sample.Add((records.Line, fields, records.Error));
            }
        }
        catch (PayloadTooLargeException e)
        {
            cut = e;
        }

        if (sample.Count == 0)
        {
            return cut is null ? Refused(import, "file contains no rows") : Refused(import, cut.Message, ErrorReason.TooLarge);
        }

        var batch = ingest.RentBatch(import.Database);
        var table = new TableWriter(ingest, options, batch, progress);
        try
        {
            var existing = batch.ExistingColumns(import.Measurement!, out var error);
            if (existing is null)
            {
                return Refused(import, error!);
            }

            var columns = InferCsvColumns(header, timeIndex, import, sample, existing);
            if (batch.BeginTable(import.Measurement!, columns.Select(c => (c.Name, c.Kind)).ToArray()) is { } conflict)
            {
                return Refused(import, conflict);
            }

            var row = new CsvRow(columns, timeIndex, header.Length, import.TimeFormat);
            try
            {
                foreach (var (line, fields, malformed) in sample)
                {
                    row.Write(table, line, fields.Length, i => fields[i], malformed);
                    await table.CommitIfFullAsync(cancellationToken).ConfigureAwait(false);
                }

                if (cut is not null)
                {
                    throw cut;
                }

                FieldAccessor recordField = records.Field;
                while (await records.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    row.Write(table, records.Line, records.FieldCount, recordField, records.Error);
                    await table.CommitIfFullAsync(cancellationToken).ConfigureAwait(false);
                }

                await table.CommitAsync().ConfigureAwait(false);
            }
            catch (PayloadTooLargeException e)
            {
                // What was read before the limit is stored, as with a write.
                await table.CommitAsync().ConfigureAwait(false);
                return table.Outcome(import, source, ErrorReason.TooLarge, e.Message + table.StoredNote(), header, timeIndex);
            }

            return table.Outcome(import, source, null, null, header, timeIndex);
        }
        catch (Exception e) when (table.Failure(e) is { } failure)
        {
            return table.Outcome(import, source, failure.Reason, failure.Message, header, timeIndex);
        }
        finally
        {
            ingest.ReturnBatch(batch);
        }
    }

    /// <summary>Arc's header checks, plus the column limit and the tag columns.</summary>
    private string? ValidateHeader(string[] header, ImportOptions import)
    {
        if (header.Length > Limits.MaxImportColumns)
        {
            return $"the file has {header.Length} columns, more than import.max_columns ({Limits.MaxImportColumns})";
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in header)
        {
            if (name.Length == 0)
            {
                return "column name cannot be empty (check for trailing/empty delimiters in the header)";
            }

            if (!seen.Add(name))
            {
                return $"duplicate column name '{name}' in file; column names must be unique";
            }
        }

        if (!seen.Contains(import.TimeColumn))
        {
            return $"time column '{import.TimeColumn}' not found in file; available columns: {string.Join(", ", header)}";
        }

        if (import.TimeColumn != ColumnSet.TimeColumn && seen.Contains(ColumnSet.TimeColumn))
        {
            return $"cannot rename time column '{import.TimeColumn}' to \"time\": a column named \"time\" already exists in the file";
        }

        foreach (var tag in import.TagColumns)
        {
            if (!seen.Contains(tag) || tag == import.TimeColumn)
            {
                return $"tag column '{tag}' is not a column of the file other than the time column";
            }
        }

        return null;
    }

    /// <summary>
    /// Each non-time column's kind: the measurement's when it has the column already, a tag when named in
    /// <c>tag_columns</c>, else Arc's inference over the sample: integer if every value is one, else float, else boolean
    /// (<c>true</c>, <c>false</c>, <c>1</c>, <c>0</c>), else string; a column with no values is a string.
    /// </summary>
    private static CsvColumn[] InferCsvColumns(string[] header, int timeIndex, ImportOptions import,
        List<(long Line, byte[][] Fields, string? Error)> sample, IReadOnlyDictionary<string, ColumnKind> existing)
    {
        var columns = new List<CsvColumn>();
        for (var i = 0; i < header.Length; i++)
        {
            if (i == timeIndex)
            {
                continue;
            }

            ColumnKind kind;
            if (existing.TryGetValue(header[i], out var known))
            {
                kind = known;
            }
            else if (import.TagColumns.Contains(header[i]))
            {
                kind = ColumnKind.Tag;
            }
            else
            {
                bool isInt = true, isFloat = true, isBool = true, any = false;
                foreach (var (_, fields, _) in sample)
                {
                    if (i >= fields.Length || fields[i].Length == 0)
                    {
                        continue;
                    }

                    any = true;
                    var value = fields[i];
                    isInt &= long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);
                    isFloat &= isInt || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
                    isBool &= CsvRow.TryBool(value, out _);
                }

                kind = !any ? ColumnKind.String
                    : isInt ? ColumnKind.Integer
                    : isFloat ? ColumnKind.Float
                    : isBool ? ColumnKind.Boolean
                    : ColumnKind.String;
            }

            columns.Add(new CsvColumn(header[i], kind, i));
        }

        return [.. columns];
    }

    private ImportOutcome Refused(ImportOptions import, string message, ErrorReason reason = ErrorReason.Invalid) => new()
    {
        Database = import.Database,
        Failure = reason,
        Message = message,
    };

    /// <summary>A column of the file and the kind it is stored as; <see cref="Field"/> is its position in a record.</summary>
    internal readonly record struct CsvColumn(string Name, ColumnKind Kind, int Field);

    /// <summary>
    /// Writes CSV records into the table: each is checked whole (its time, every value against its column's kind, UTF-8)
    /// before any of it is written, and rejected with its line and field number otherwise.
    /// </summary>
    private sealed class CsvRow(CsvColumn[] columns, int timeIndex, int headerFields, ImportTimeFormat timeFormat)
    {
        private readonly long[] _values = new long[columns.Length];
        private readonly bool[] _present = new bool[columns.Length];

        public void Write(TableWriter table, long line, int fieldCount, FieldAccessor field, string? malformed)
        {
            if (malformed is not null)
            {
                table.Reject(line, 1, malformed);
                return;
            }

            if (fieldCount > headerFields)
            {
                table.Reject(line, headerFields + 1, $"the record has {fieldCount} fields, the header {headerFields}");
                return;
            }

            if (timeIndex >= fieldCount)
            {
                table.Reject(line, timeIndex + 1, "the record has no time value");
                return;
            }

            if (ImportTime.TryParse(field(timeIndex), timeFormat, out var time) is { } timeError)
            {
                table.Reject(line, timeIndex + 1, timeError);
                return;
            }

            for (var c = 0; c < columns.Length; c++)
            {
                var column = columns[c];
                var value = column.Field < fieldCount ? field(column.Field) : default;
                _present[c] = value.Length > 0 || column.Kind == ColumnKind.String && column.Field < fieldCount;
                if (!_present[c])
                {
                    continue;
                }

                if (Parse(value, column.Kind, out _values[c]) is { } error)
                {
                    table.Reject(line, column.Field + 1, $"column '{column.Name}': {error}");
                    return;
                }
            }

            var batch = table.Batch;
            var row = batch.TableRow;
            for (var c = 0; c < columns.Length; c++)
            {
                if (!_present[c])
                {
                    continue;
                }

                var buffer = batch.TableColumn(c);
                switch (columns[c].Kind)
                {
                    case ColumnKind.Tag or ColumnKind.String:
                        buffer.SetBytes(row, field(columns[c].Field));
                        break;
                    case ColumnKind.Boolean:
                        buffer.SetBoolean(row, _values[c] != 0);
                        break;
                    default:
                        buffer.SetInt64(row, _values[c]);
                        break;
                }
            }

            table.EndRow(time);
        }

        /// <summary>The value's bits (a double's as <see cref="BitConverter.DoubleToInt64Bits"/>), or why it is not of the kind.</summary>
        private static string? Parse(ReadOnlySpan<byte> value, ColumnKind kind, out long bits)
        {
            bits = 0;
            switch (kind)
            {
                case ColumnKind.Integer:
                    return long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out bits)
                        ? null : $"'{ImportTime.Show(value)}' is not an integer";
                case ColumnKind.UInteger:
                    if (ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var unsigned))
                    {
                        bits = (long)unsigned;
                        return null;
                    }

                    return $"'{ImportTime.Show(value)}' is not an unsigned integer";
                case ColumnKind.Float:
                    if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                    {
                        bits = BitConverter.DoubleToInt64Bits(number);
                        return null;
                    }

                    return $"'{ImportTime.Show(value)}' is not a number";
                case ColumnKind.Boolean:
                    if (TryBool(value, out var flag))
                    {
                        bits = flag ? 1 : 0;
                        return null;
                    }

                    return $"'{ImportTime.Show(value)}' is not a boolean";
                default:
                    return Utf8.IsValid(value) ? null : "the value is not valid UTF-8";
            }
        }

        /// <summary>Arc's boolean literals: <c>true</c>, <c>false</c> (any case), <c>1</c>, <c>0</c>.</summary>
        public static bool TryBool(ReadOnlySpan<byte> value, out bool flag)
        {
            flag = value.SequenceEqual("1"u8) || Ascii.EqualsIgnoreCase(value, "true"u8);
            return flag || value.SequenceEqual("0"u8) || Ascii.EqualsIgnoreCase(value, "false"u8);
        }
    }

    private delegate ReadOnlySpan<byte> FieldAccessor(int index);

    /// <summary>
    /// The rows of one import on their way into the engine: commits every <see cref="IIngestSettings.MaxBufferRows"/> rows
    /// once the write budget has room, and keeps the figures of the result (time range, hours, progress).
    /// </summary>
    private sealed class TableWriter(IngestEngine ingest, IIngestSettings options, WriteBatch batch, ImportProgress progress)
    {
        private readonly HashSet<long> _hours = [];
        private long _min = long.MaxValue;
        private long _max = long.MinValue;
        private long _lastHour = long.MinValue;

        public WriteBatch Batch => batch;

        public void Reject(long line, int column, string message) => batch.Reject(line, column, message);

        public void EndRow(long time)
        {
            batch.EndTableRow(time);
            Note(time);
        }

        /// <summary>Appends a run of accepted rows of Arrow arrays (<see cref="WriteBatch.AppendTableRows"/>).</summary>
        public void AppendRows(IArrowArray[] arrays, ReadOnlySpan<long> times, int start, int count)
        {
            batch.AppendTableRows(arrays, times, start, count);
            foreach (var time in times.Slice(start, count))
            {
                Note(time);
            }
        }

        private void Note(long time)
        {
            _min = Math.Min(_min, time);
            _max = Math.Max(_max, time);
            var hour = Math.DivRem(time, 3_600_000_000_000L, out var rest) - (rest < 0 ? 1 : 0);
            if (hour != _lastHour && _hours.Count < MaxPartitions)
            {
                _hours.Add(hour);
                _lastHour = hour;
            }
        }

        public async ValueTask CommitIfFullAsync(CancellationToken cancellationToken)
        {
            if (batch.PendingRows >= options.MaxBufferRows)
            {
                if (!await ingest.WaitForMemoryAsync(options.MaxBufferMemory, options.Writes.MemoryWait, options.Time,
                        cancellationToken).ConfigureAwait(false))
                {
                    throw new ImportOverloadedException();
                }

                await CommitAsync().ConfigureAwait(false);
            }

            progress.SetRows(batch.Accepted, batch.Rejected);
        }

        public async Task CommitAsync()
        {
            await ingest.CommitAsync(batch).ConfigureAwait(false);
            progress.SetRows(batch.Accepted, batch.Rejected);
        }

        /// <summary>What of the import was stored before it failed, for the failure's message.</summary>
        public string StoredNote()
        {
            var stored = batch.Accepted - batch.PendingRows;
            return stored > 0 ? $"; the first {stored} rows were stored before" : "";
        }

        /// <summary>A failure that ends the import half-way, with what of it was stored.</summary>
        public (ErrorReason Reason, string Message)? Failure(Exception e)
        {
            var note = StoredNote();
            return e switch
            {
                WalWriteException or DropInProgressException => (((IHasErrorReason)e).Reason, $"{e.Message}{note}"),
                ImportOverloadedException => (ErrorReason.Busy,
                    $"write buffers are full (ingest.max_memory) and storage is not keeping up; retry later{note}"),
                PayloadTooLargeException => (ErrorReason.TooLarge, $"{e.Message}{note}"),
                _ => null,
            };
        }

        public ImportOutcome Outcome(ImportOptions import, LimitedReadStream source, ErrorReason? failure, string? message,
            string[] header, int timeIndex)
        {
            var imported = batch.Accepted - batch.PendingRows;
            if (failure is null && imported == 0)
            {
                failure = ErrorReason.Invalid;
                message = batch.Rejected > 0 ? $"no rows imported: all {batch.Rejected} rows were rejected" : "file contains no rows";
            }
            else if (failure is null && batch.Rejected > 0)
            {
                var first = batch.Errors[0];
                message = string.Create(CultureInfo.InvariantCulture,
                    $"partial import: {batch.Rejected} of {batch.Rejected + imported} rows rejected; the other {imported} were stored (line {first.Line}, column {first.Column}: {first.Message})");
            }

            return new ImportOutcome
            {
                Database = import.Database,
                Failure = failure,
                Message = message,
                Measurements = imported > 0 ? [import.Measurement!] : [],
                RowsImported = imported,
                RowsRejected = batch.Rejected,
                Errors = [.. batch.Errors],
                Columns = [.. header.Select((name, i) => i == timeIndex ? ColumnSet.TimeColumn : name)],
                TimeMin = imported > 0 ? _min : null,
                TimeMax = imported > 0 ? _max : null,
                Partitions = imported > 0 ? _hours.Count : 0,
                BytesRead = source.Position,
            };
        }
    }

    private sealed class ImportOverloadedException : Exception;
}

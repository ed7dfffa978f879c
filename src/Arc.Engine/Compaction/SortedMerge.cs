using System.Buffers;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Arc.Engine.Buffers;
using Arc.Engine.Storage;
using ReaderProperties = ParquetSharp.ReaderProperties;
using ParquetSharp.Arrow;

namespace Arc.Engine.Compaction;

/// <summary>
/// A merge of files that are each sorted by the same tag columns then time, with no two rows of a file sharing their tags
/// and time (flushes and earlier merges' outputs, <see cref="ParquetFileWriter.SortedMetadataKey"/>), streamed: one record batch of each input and one
/// row group of the output in memory, and no sort, where DuckDB's <c>ORDER BY</c> holds (or spills) every row of the
/// merge. Rows are compared as DuckDB orders them (tag values byte by byte, a null after every value, then time); of rows
/// of several inputs with the same tags and time, the one of the latest input (write order) is kept, as the DuckDB merge
/// keeps the last write. An input found out of that order, or inputs whose columns differ, end the merge with nothing
/// written (<see cref="Run"/> answers null) and the caller merges with DuckDB as before.
/// </summary>
internal static class SortedMerge
{
    /// <summary>
    /// Most columns read at once (inputs × columns): each column of each input holds a read buffer and a decoded page, so
    /// a merge of many wide files (a day of ClickBench's 105 columns in 175 files) is left to DuckDB.
    /// </summary>
    private const int MaxOpenColumns = 2048;

    /// <summary>
    /// Values of all inputs' batches together; a batch holds 1,024 to 16,384 rows. A merge of four narrow inputs (14
    /// columns) reads about 9,400 rows of each, one of sixteen (into series ranges) about 2,300: 4 MB of values either way
    /// (with 16,384 rows of each, a soak's merges of sixteen held 60–75 MB in Arrow's pool).
    /// </summary>
    private const int BatchValues = 1 << 19;

    /// <summary>Whether <paramref name="inputs"/> files of <paramref name="columns"/> columns can be merged as streams.</summary>
    public static bool Fits(int inputs, int columns) => (long)inputs * columns <= MaxOpenColumns;

    /// <summary>
    /// Merges <paramref name="inputs"/> (write order) into <paramref name="outputs"/>, sorted by <paramref name="tags"/> then
    /// time, row groups of <paramref name="rowGroupRows"/>, the schema carrying <paramref name="metadata"/> (stored as the
    /// file's key-value metadata): the first <paramref name="rowsPerOutput"/> rows (a multiple of the row group) to the first
    /// output, the next to the second and so on, the last taking the rest, so each holds a range of series (one may end in
    /// the middle of a series, which the next then starts). Answers the rows written to each output (fewer outputs than given
    /// when the rows ran out first), or null when the inputs cannot be merged this way (no output is left then).
    /// </summary>
    public static List<long>? Run(IReadOnlyList<string> inputs, IReadOnlyList<string> tags, IReadOnlyList<string> outputs, long rowsPerOutput,
        IReadOnlyDictionary<string, string> metadata, ParquetFileWriter writer, int rowGroupRows, CancellationToken cancellationToken)
    {
        var cursors = new List<Cursor>(inputs.Count);
        try
        {
            foreach (var input in inputs)
            {
                cursors.Add(new Cursor(input, cursors.Count));
            }

            if (Columns(cursors[0].Reader.Schema, tags) is not { } columns || !Fits(inputs.Count, columns.Count) || !cursors.TrueForAll(c => c.Map(columns, tags)))
            {
                return null;
            }

            var batchRows = Math.Clamp(BatchValues / (inputs.Count * columns.Count), 1024, 16_384);
            cursors.ForEach(c => c.Open(batchRows));

            // A column every input declares non-nullable (Parquet REQUIRED: flushes and merges write full columns so) holds no
            // null, and is written so too: no definition levels to compute and encode.
            var schema = new Schema.Builder();
            for (var i = 0; i < columns.Count; i++)
            {
                var (name, kind) = columns[i];
                var nullable = kind != ColumnKind.Time && cursors.Exists(c => c.Reader.Schema.FieldsList[c.Columns[i]].IsNullable);
                schema.Field(f => f.Name(name).DataType(ColumnBuffer.ArrowType(kind)).Nullable(nullable));
            }

            foreach (var (key, value) in metadata)
            {
                schema.Metadata(key, value);
            }

            var built = schema.Build();
            var buffers = columns.ConvertAll(c => new ColumnBuffer(c.Name, c.Kind, rowGroupRows));
            try
            {
                var (merged, rows) = writer.Write(outputs, built, rowsPerOutput, write => Merge(cursors, buffers, built, rowGroupRows, write, cancellationToken));
                if (merged >= 0)
                {
                    return rows;
                }

                Delete(outputs);
                return null;
            }
            catch
            {
                Delete(outputs);
                throw;
            }
            finally
            {
                buffers.ForEach(b => b.Dispose());
            }
        }
        finally
        {
            cursors.ForEach(c => c.Dispose());
        }
    }

    private static void Delete(IReadOnlyList<string> outputs)
    {
        foreach (var output in outputs)
        {
            File.Delete(output);
        }
    }

    /// <summary>
    /// The output's columns from the first input's schema (each input must hold the same), or null when one has a type
    /// arc-native does not write.
    /// </summary>
    private static List<(string Name, ColumnKind Kind)>? Columns(Schema schema, IReadOnlyList<string> tags)
    {
        var columns = new List<(string, ColumnKind)>(schema.FieldsList.Count);
        foreach (var field in schema.FieldsList)
        {
            ColumnKind? kind = field.DataType switch
            {
                TimestampType { Unit: TimeUnit.Nanosecond } when field.Name == ColumnSet.TimeColumn => ColumnKind.Time,
                StringType => tags.Contains(field.Name) ? ColumnKind.Tag : ColumnKind.String,
                DoubleType => ColumnKind.Float,
                Int64Type => ColumnKind.Integer,
                UInt64Type => ColumnKind.UInteger,
                BooleanType => ColumnKind.Boolean,
                _ => null,
            };
            if (kind is null)
            {
                return null;
            }

            columns.Add((field.Name, kind.Value));
        }

        return columns.Exists(c => c.Item2 == ColumnKind.Time) && tags.All(t => columns.Exists(c => c.Item1 == t && c.Item2 == ColumnKind.Tag))
            ? columns
            : null;
    }

    /// <summary>The merge proper: the rows written, or -1 when an input turned out not to be in order.</summary>
    private static long Merge(List<Cursor> cursors, List<ColumnBuffer> buffers, Schema schema, int rowGroupRows, Action<RecordBatch> write,
        CancellationToken cancellationToken)
    {
        long written = 0;
        var active = new List<Cursor>(cursors.Count);
        foreach (var cursor in cursors)
        {
            if (!cursor.Load())
            {
                return -1;
            }

            if (cursor.Batch is not null)
            {
                active.Add(cursor);
            }
        }

        var equal = new List<Cursor>(cursors.Count);
        while (active.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var least = active[0];
            foreach (var cursor in active)
            {
                if (Compare(cursor.Keys, cursor.Row, least.Keys, least.Row) < 0)
                {
                    least = cursor;
                }
            }

            // The rows equal to the least (the same point in several inputs) and the least of the greater ones (where the
            // least's run ends).
            equal.Clear();
            Cursor? next = null;
            foreach (var cursor in active)
            {
                var order = Compare(cursor.Keys, cursor.Row, least.Keys, least.Row);
                if (order == 0)
                {
                    equal.Add(cursor);
                }
                else if (next is null || Compare(cursor.Keys, cursor.Row, next.Keys, next.Row) < 0)
                {
                    next = cursor;
                }
            }

            if (equal.Count > 1)
            {
                // The last write wins: the row of the latest input.
                var latest = equal[0];
                foreach (var cursor in equal)
                {
                    latest = cursor.Position > latest.Position ? cursor : latest;
                }

                written += Emit(latest, 1, buffers, schema, rowGroupRows, write);
                foreach (var cursor in equal)
                {
                    if (!cursor.Advance(1))
                    {
                        return -1;
                    }
                }
            }
            else
            {
                // A run of the least input's rows below the next input's row, each checked to follow the one before it.
                var end = least.Row + 1;
                var length = least.Batch!.Length;
                while (end < length)
                {
                    if (Compare(least.Keys, end - 1, least.Keys, end) >= 0)
                    {
                        return -1;
                    }

                    if (next is not null && Compare(least.Keys, end, next.Keys, next.Row) >= 0)
                    {
                        break;
                    }

                    end++;
                }

                var count = end - least.Row;
                written += Emit(least, count, buffers, schema, rowGroupRows, write);
                if (!least.Advance(count))
                {
                    return -1;
                }
            }

            active.RemoveAll(c => c.Batch is null);
        }

        if (buffers[0].Length > 0)
        {
            Flush(buffers, schema, write);
        }

        return written;
    }

    /// <summary>Appends <paramref name="count"/> rows of the cursor's batch from its current row, writing each full row group.</summary>
    private static int Emit(Cursor cursor, int count, List<ColumnBuffer> buffers, Schema schema, int rowGroupRows, Action<RecordBatch> write)
    {
        var batch = cursor.Batch!;
        var (start, left) = (cursor.Row, count);
        while (left > 0)
        {
            var take = Math.Min(left, rowGroupRows - buffers[0].Length);
            for (var i = 0; i < buffers.Count; i++)
            {
                buffers[i].AppendArrow(batch.Column(cursor.Columns[i]), start, take);
            }

            (start, left) = (start + take, left - take);
            if (buffers[0].Length == rowGroupRows)
            {
                Flush(buffers, schema, write);
            }
        }

        return count;
    }

    private static void Flush(List<ColumnBuffer> buffers, Schema schema, Action<RecordBatch> write)
    {
        using (var batch = new RecordBatch(schema, buffers.ConvertAll(b => b.ToArrow()), buffers[0].Length))
        {
            write(batch);
        }

        buffers.ForEach(b => b.Reset());
    }

    /// <summary>
    /// The sort key of a batch's rows: its tag columns in sort order, then time, as pointers into the batch's buffers
    /// (pinned until <see cref="Dispose"/>, which comes with the batch's). Comparing through Apache.Arrow's accessors
    /// (<c>StringArray.GetBytes</c> rebuilding the offsets span on every call) was a fifth of a soak's CPU in level merges.
    /// </summary>
    private sealed unsafe class Keys : IDisposable
    {
        private readonly List<MemoryHandle> _pins = [];
        private readonly long* _times;
        private bool _disposed;

        public Keys(StringArray[] tags, TimestampArray time)
        {
            Tags = new TagColumn[tags.Length];
            for (var t = 0; t < tags.Length; t++)
            {
                var column = tags[t];
                Tags[t] = new TagColumn(
                    (int*)Pin(column.ValueOffsetsBuffer) + column.Offset,
                    (byte*)Pin(column.ValueBuffer),
                    column.NullBitmapBuffer.IsEmpty ? null : (byte*)Pin(column.NullBitmapBuffer),
                    column.Offset);
            }

            _times = (long*)Pin(time.ValueBuffer) + time.Offset;
        }

        public TagColumn[] Tags { get; }

        public long Time(int row) => _times[row];

        private void* Pin(ArrowBuffer buffer)
        {
            var handle = buffer.Memory.Pin();
            _pins.Add(handle);
            return handle.Pointer;
        }

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                _pins.ForEach(pin => pin.Dispose());
            }
        }
    }

    /// <summary>One tag column of a batch: offsets (already at the array's offset), UTF-8 bytes, validity bits or null.</summary>
    private readonly unsafe struct TagColumn(int* offsets, byte* data, byte* validity, int bitOffset)
    {
        public bool IsNull(int row) => validity != null && (validity[(bitOffset + row) >> 3] & (1 << ((bitOffset + row) & 7))) == 0;

        public ReadOnlySpan<byte> Value(int row) => new(data + offsets[row], offsets[row + 1] - offsets[row]);
    }

    /// <summary>Row <paramref name="i"/> of <paramref name="a"/> against row <paramref name="j"/> of <paramref name="b"/>, in DuckDB's <c>ORDER BY</c>.</summary>
    private static int Compare(Keys a, int i, Keys b, int j)
    {
        var (left, right) = (a.Tags, b.Tags);
        for (var t = 0; t < left.Length; t++)
        {
            var (xNull, yNull) = (left[t].IsNull(i), right[t].IsNull(j));
            if (xNull || yNull)
            {
                if (xNull != yNull)
                {
                    return xNull ? 1 : -1; // NULLS LAST
                }

                continue;
            }

            var order = left[t].Value(i).SequenceCompareTo(right[t].Value(j));
            if (order != 0)
            {
                return order;
            }
        }

        return a.Time(i).CompareTo(b.Time(j));
    }

    /// <summary>One input: its reader, its current batch and row, where each output column is in its batches.</summary>
    private sealed class Cursor : IDisposable
    {
        private readonly string _path;
        private IArrowArrayStream? _stream;
        private int[] _tags = [];
        private int _time;

        /// <summary>Reads the footer (the schema) only.</summary>
        public Cursor(string path, int position)
        {
            (_path, Position) = (path, position);
            Reader = new FileReader(path);
        }

        /// <summary>The input's place in write order.</summary>
        public int Position { get; }

        public FileReader Reader { get; private set; }

        /// <summary>The batch column of each output column.</summary>
        public int[] Columns { get; private set; } = [];

        /// <summary>The current batch; null once the input is read to its end.</summary>
        public RecordBatch? Batch { get; private set; }

        public int Row { get; private set; }

        /// <summary>The current batch's sort key; replaced and disposed with the batch.</summary>
        public Keys Keys { get; private set; } = null!;

        /// <summary>
        /// Opens the rows for reading, <paramref name="batchRows"/> a batch, through a buffered stream of 16 KB per column (not
        /// whole column chunks at once; a merge into series ranges holds one per column of each of its sixteen inputs) and
        /// without reading a row group ahead.
        /// </summary>
        public void Open(int batchRows)
        {
            using var properties = ReaderProperties.GetDefaultReaderProperties();
            properties.EnableBufferedStream();
            properties.BufferSize = 1 << 14;
            using var arrowProperties = ArrowReaderProperties.GetDefault();
            arrowProperties.BatchSize = batchRows;
            arrowProperties.PreBuffer = false;
            Reader.Dispose();
            Reader = new FileReader(_path, properties, arrowProperties);
            _stream = Reader.GetRecordBatchReader();
        }

        /// <summary>Finds the output's columns in this input; false when it does not hold exactly those, of the same types.</summary>
        public bool Map(List<(string Name, ColumnKind Kind)> columns, IReadOnlyList<string> tags)
        {
            var fields = Reader.Schema.FieldsList.ToList();
            if (fields.Count != columns.Count || Columns(Reader.Schema, tags) is not { } own)
            {
                return false;
            }

            Columns = new int[columns.Count];
            for (var i = 0; i < columns.Count; i++)
            {
                var index = fields.FindIndex(f => f.Name == columns[i].Name);
                if (index < 0 || own[index].Kind != columns[i].Kind)
                {
                    return false;
                }

                Columns[i] = index;
            }

            _tags = tags.Select(t => fields.FindIndex(f => f.Name == t)).ToArray();
            _time = fields.FindIndex(f => f.Name == ColumnSet.TimeColumn);
            return true;
        }

        /// <summary>Moves <paramref name="count"/> rows on (within the batch); false when the input is out of order there.</summary>
        public bool Advance(int count)
        {
            Row += count;
            if (Row < Batch!.Length)
            {
                return count > 1 || Compare(Keys, Row - 1, Keys, Row) < 0;
            }

            return Load();
        }

        /// <summary>
        /// Reads the next non-empty batch (none at the end: <see cref="Batch"/> null); false when its first row does not follow
        /// the last row of the batch before.
        /// </summary>
        public bool Load()
        {
            var (previous, previousKeys) = (Batch, Keys);
            try
            {
                do
                {
                    var task = _stream!.ReadNextRecordBatchAsync();
                    Batch = task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();
                }
                while (Batch is { Length: 0 } empty && Discard(empty));

                Row = 0;
                if (Batch is null)
                {
                    Keys = null!;
                    return true;
                }

                Keys = new Keys(System.Array.ConvertAll(_tags, i => (StringArray)Batch.Column(i)), (TimestampArray)Batch.Column(_time));
                return previous is null || Compare(previousKeys, previous.Length - 1, Keys, 0) < 0;
            }
            finally
            {
                previousKeys?.Dispose();
                previous?.Dispose();
            }
        }

        private static bool Discard(RecordBatch batch)
        {
            batch.Dispose();
            return true;
        }

        public void Dispose()
        {
            Keys?.Dispose();
            Batch?.Dispose();
            _stream?.Dispose();
            Reader.Dispose();
        }
    }
}

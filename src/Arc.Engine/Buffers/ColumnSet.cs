using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow;

namespace Arc.Engine.Buffers;

/// <summary>
/// The buffered rows of one measurement: a time column plus one column per tag and field, all the same length.
/// Columns are found by UTF-8 name; <see cref="Resolve"/> remembers the column order of the previous line so a stream of
/// same-shaped lines (the Telegraf case) maps each key with one byte comparison. Not thread-safe, except that readers on
/// other threads may share its rows (<see cref="Share"/>) while the writer appends: the arrays they read are neither
/// written below the rows they took nor returned to the pool (by growth or <see cref="Dispose"/>) until they let go.
/// </summary>
internal sealed class ColumnSet : IDisposable
{
    public const string TimeColumn = "time";

    private readonly List<ColumnBuffer> _columns = [];
    private readonly Dictionary<string, int> _byName = new(Utf8NameComparer.Instance);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<byte>> _byUtf8;
    private readonly List<byte[]> _retired = [];
    private int[] _shape = new int[16];
    private int _shares;
    private int _disposeRequested;
    private int _disposed;

    public ColumnSet(string database, string measurement)
    {
        Database = database;
        Measurement = measurement;
        MeasurementUtf8 = Encoding.UTF8.GetBytes(measurement);
        _byUtf8 = _byName.GetAlternateLookup<ReadOnlySpan<byte>>();
        AddColumn(TimeColumn, ColumnKind.Time);
        MinTime = long.MaxValue;
        MaxTime = long.MinValue;
    }

    public string Database { get; }

    public string Measurement { get; }

    public byte[] MeasurementUtf8 { get; }

    /// <summary>The measurement's shared schema, consulted when a batch meets a column for the first time.</summary>
    public MeasurementSchema? Schema { get; init; }

    public int RowCount { get; private set; }

    public long MinTime { get; private set; }

    public long MaxTime { get; private set; }

    /// <summary>The write-ahead-log commits these rows came from (0 without a WAL); contiguous for a measurement's buffer.</summary>
    public long FirstLsn { get; private set; }

    public long LastLsn { get; private set; }

    /// <summary>Records that rows of commit <paramref name="lsn"/> were appended (commits arrive in LSN order).</summary>
    public void NoteLsn(long lsn)
    {
        if (FirstLsn == 0)
        {
            FirstLsn = lsn;
        }

        LastLsn = lsn;
    }

    /// <summary>Whether the rows are in non-decreasing time order (the usual case), so a flush need not sort them.</summary>
    public bool IsSortedByTime { get; private set; } = true;

    /// <summary>When the first buffered row arrived (Environment.TickCount64), for age-based flushing.</summary>
    public long FirstRowTicks { get; private set; }

    public IReadOnlyList<ColumnBuffer> Columns => _columns;

    /// <summary>The columns without an interface call per access (ingest's per-line path); stale once a column is added.</summary>
    internal ReadOnlySpan<ColumnBuffer> ColumnSpan => CollectionsMarshal.AsSpan(_columns);

    /// <summary>The column each key slot of the last line resolved to (<see cref="Resolve"/>'s guesses); entries may be stale.</summary>
    internal ReadOnlySpan<int> Shape => _shape;

    public ColumnBuffer Time => _columns[0];

    public long ByteSize
    {
        get
        {
            long size = 0;
            foreach (var column in _columns)
            {
                size += column.ByteSize;
            }

            return size;
        }
    }

    public int Find(ReadOnlySpan<byte> name) => _byUtf8.TryGetValue(name, out var index) ? index : -1;

    public int Find(string name) => _byName.TryGetValue(name, out var index) ? index : -1;

    /// <summary>
    /// The column for the <paramref name="slot"/>-th key of the current line, or -1 when the set has no column of that name.
    /// </summary>
    public int Resolve(int slot, ReadOnlySpan<byte> name)
    {
        if ((uint)slot < (uint)_shape.Length)
        {
            var guess = _shape[slot];
            if ((uint)guess < (uint)_columns.Count && _columns[guess].NameUtf8.AsSpan().SequenceEqual(name))
            {
                return guess;
            }
        }

        var index = Find(name);
        if (index >= 0)
        {
            Remember(slot, index);
        }

        return index;
    }

    /// <summary>Adds a column (padded with nulls to the current row count) and returns its index.</summary>
    public int AddColumn(string name, ColumnKind kind, int slot = -1, int capacity = 0)
    {
        var column = new ColumnBuffer(name, kind, Math.Max(Math.Max(RowCount, capacity), 64), this);
        column.PadTo(RowCount);
        _columns.Add(column);
        var index = _columns.Count - 1;
        _byName.Add(name, index);
        if (slot >= 0)
        {
            Remember(slot, index);
        }

        return index;
    }

    /// <summary>Completes the row being written: every column the row did not set becomes null.</summary>
    public void EndRow(long time)
    {
        var rows = RowCount + 1;
        foreach (var column in CollectionsMarshal.AsSpan(_columns))
        {
            column.PadTo(rows);
        }

        if (RowCount == 0)
        {
            FirstRowTicks = Environment.TickCount64;
        }

        IsSortedByTime &= time >= MaxTime;
        RowCount = rows;
        MinTime = Math.Min(MinTime, time);
        MaxTime = Math.Max(MaxTime, time);
    }

    /// <summary>
    /// Completes <paramref name="rows"/> rows whose columns were filled directly (WAL replay, MessagePack records): pads columns to the new row
    /// count and recomputes the time range and order from the time column.
    /// </summary>
    internal void CompleteRows(int rows)
    {
        var total = RowCount + rows;
        foreach (var column in _columns)
        {
            column.PadTo(total);
        }

        if (RowCount == 0 && rows > 0)
        {
            FirstRowTicks = Environment.TickCount64;
        }

        for (var row = RowCount; row < total; row++)
        {
            var time = Time.GetInt64(row);
            IsSortedByTime &= time >= MaxTime;
            MinTime = Math.Min(MinTime, time);
            MaxTime = Math.Max(MaxTime, time);
        }

        RowCount = total;
    }

    /// <summary>Appends all rows of <paramref name="other"/>; columns this set lacks are added, columns other lacks get nulls.</summary>
    public void AppendFrom(ColumnSet other)
    {
        if (other.RowCount == 0)
        {
            return;
        }

        var rows = RowCount + other.RowCount;
        foreach (var source in other._columns)
        {
            var index = Find(source.Name);
            if (index < 0)
            {
                index = AddColumn(source.Name, source.Kind, capacity: rows);
            }

            var target = _columns[index];
            if (target.Kind != source.Kind)
            {
                throw new InvalidOperationException(
                    $"column '{source.Name}' of {Measurement} is {target.Kind.Describe()} here and {source.Kind.Describe()} in the batch");
            }

            target.AppendFrom(source);
        }

        foreach (var column in _columns)
        {
            column.PadTo(rows);
        }

        if (RowCount == 0)
        {
            FirstRowTicks = Environment.TickCount64;
        }

        IsSortedByTime &= other.IsSortedByTime && other.MinTime >= MaxTime;
        RowCount = rows;
        MinTime = Math.Min(MinTime, other.MinTime);
        MaxTime = Math.Max(MaxTime, other.MaxTime);
    }

    /// <summary>Forgets all rows and columns except time, keeping the time column's memory.</summary>
    public void Reset()
    {
        for (var i = 1; i < _columns.Count; i++)
        {
            _columns[i].Dispose();
        }

        _columns.RemoveRange(1, _columns.Count - 1);
        _byName.Clear();
        _byName.Add(TimeColumn, 0);
        Time.Reset();
        RowCount = 0;
        IsSortedByTime = true;
        MinTime = long.MaxValue;
        MaxTime = long.MinValue;
    }

    /// <summary>
    /// Sorts non-negative <paramref name="keys"/> below 2^<paramref name="bits"/>: least significant digit first, 11 bits a
    /// pass (a pass whose digit is the same for every key is skipped). The flush's keys are distinct, so stability does not
    /// matter; a comparison sort of primitives in the AOT build calls a comparer per comparison, and this does no comparison.
    /// </summary>
    internal static void RadixSort(Span<long> keys, int bits)
    {
        const int DigitBits = 11;
        const int Buckets = 1 << DigitBits;
        if (keys.Length < 2)
        {
            return;
        }

        var scratchArray = System.Buffers.ArrayPool<long>.Shared.Rent(keys.Length);
        Span<int> offsets = stackalloc int[Buckets];
        try
        {
            var source = keys;
            var target = scratchArray.AsSpan(0, keys.Length);
            for (var shift = 0; shift < bits; shift += DigitBits)
            {
                offsets.Clear();
                foreach (var key in source)
                {
                    offsets[(int)((ulong)key >> shift) & (Buckets - 1)]++;
                }

                if (offsets[(int)((ulong)source[0] >> shift) & (Buckets - 1)] == source.Length)
                {
                    continue; // one digit for all
                }

                var sum = 0;
                for (var b = 0; b < Buckets; b++)
                {
                    (offsets[b], sum) = (sum, sum + offsets[b]);
                }

                foreach (var key in source)
                {
                    target[offsets[(int)((ulong)key >> shift) & (Buckets - 1)]++] = key;
                }

                var swap = source;
                source = target;
                target = swap;
            }

            if (source != keys)
            {
                source.CopyTo(keys);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<long>.Shared.Return(scratchArray);
        }
    }

    /// <summary>
    /// A copy of the rows ordered by time; rows with equal times keep their arrival order, so "last write wins" still holds
    /// for whoever reads the file in order.
    /// </summary>
    public ColumnSet SortedByTime()
    {
        var orderArray = System.Buffers.ArrayPool<int>.Shared.Rent(RowCount);
        try
        {
            var order = orderArray.AsSpan(0, RowCount);
            TimeOrder(order);
            return Reordered(order);
        }
        finally
        {
            System.Buffers.ArrayPool<int>.Shared.Return(orderArray);
        }
    }

    /// <summary>
    /// A copy of the rows ordered by series (<see cref="SeriesOrder"/>: hour, tags in column order, time; rows with equal
    /// keys in arrival order), or null when the key does not fit (the caller keeps time order). <paramref name="unique"/>:
    /// no two rows share their tags and time.
    /// </summary>
    public ColumnSet? SortedBySeries(out bool unique)
    {
        var rows = RowCount;
        var timeArray = System.Buffers.ArrayPool<int>.Shared.Rent(rows);
        var orderArray = System.Buffers.ArrayPool<int>.Shared.Rent(rows);
        try
        {
            var timeOrder = timeArray.AsSpan(0, rows);
            var order = orderArray.AsSpan(0, rows);
            TimeOrder(timeOrder);
            return SeriesOrder.TryOrder(this, timeOrder, order, out unique) ? Reordered(order) : null;
        }
        finally
        {
            System.Buffers.ArrayPool<int>.Shared.Return(timeArray);
            System.Buffers.ArrayPool<int>.Shared.Return(orderArray);
        }
    }

    /// <summary>Writes the row numbers in time order to <paramref name="order"/>, rows with equal times in arrival order.</summary>
    private void TimeOrder(Span<int> order)
    {
        var rows = RowCount;
        if (IsSortedByTime)
        {
            for (var row = 0; row < rows; row++)
            {
                order[row] = row; // the usual buffer: arrival order is time order
            }

            return;
        }

        var timesArray = System.Buffers.ArrayPool<long>.Shared.Rent(rows);
        try
        {
            var times = timesArray.AsSpan(0, rows);
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(Time.ValueBytes).CopyTo(times);
            var (min, max) = (MinTime, MaxTime); // kept by every path that completes rows
            var rowBits = 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)rows); // every row number fits in rowBits
            if (unchecked((ulong)max - (ulong)min) < 1UL << (63 - rowBits))
            {
                // The usual flush (a spread of times under 2^(63 - rowBits) ns: hours for a million rows): one key per row,
                // the time's offset above the row number, so one sort orders by time and keeps arrival order within equal
                // times, however many rows share a time (every host's point of one interval).
                for (var row = 0; row < rows; row++)
                {
                    times[row] = unchecked((times[row] - min) << rowBits) | (uint)row;
                }

                var keyBits = 64 - System.Numerics.BitOperations.LeadingZeroCount(unchecked(((ulong)max - (ulong)min) << rowBits) | (uint)rows);
                RadixSort(times, keyBits);
                var mask = (1L << rowBits) - 1;
                for (var i = 0; i < rows; i++)
                {
                    order[i] = (int)(times[i] & mask);
                }
            }
            else
            {
                for (var row = 0; row < rows; row++)
                {
                    order[row] = row;
                }

                // A key sort of primitives (no comparison delegate), then each run of equal times back in arrival order:
                // the key sort is not stable, and sorting a run's row numbers restores it.
                times.Sort(order);
                var start = 0;
                for (var i = 1; i <= rows; i++)
                {
                    if (i == rows || times[i] != times[start])
                    {
                        if (i - start > 1)
                        {
                            order[start..i].Sort();
                        }

                        start = i;
                    }
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<long>.Shared.Return(timesArray);
        }
    }

    /// <summary>A copy of the rows in <paramref name="order"/>, with <see cref="IsSortedByTime"/> as that order has it.</summary>
    private ColumnSet Reordered(ReadOnlySpan<int> order)
    {
        var rows = RowCount;
        var sorted = new ColumnSet(Database, Measurement);
        foreach (var column in _columns)
        {
            var index = column.Kind == ColumnKind.Time ? 0 : sorted.AddColumn(column.Name, column.Kind, capacity: rows);
            sorted._columns[index].AppendRows(column, order);
        }

        sorted.RowCount = rows;
        sorted.MinTime = MinTime;
        sorted.MaxTime = MaxTime;
        sorted.FirstRowTicks = FirstRowTicks;
        var times = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(sorted.Time.ValueBytes);
        for (var i = 1; i < times.Length; i++)
        {
            if (times[i] < times[i - 1])
            {
                sorted.IsSortedByTime = false;
                break;
            }
        }

        return sorted;
    }

    /// <summary>The tag column names, in column order.</summary>
    public List<string> TagNames()
    {
        var tags = new List<string>();
        foreach (var column in _columns)
        {
            if (column.Kind == ColumnKind.Tag)
            {
                tags.Add(column.Name);
            }
        }

        return tags;
    }

    /// <summary>
    /// The rows as one Arrow record batch over the buffers' memory (no copy); valid until the set changes. With
    /// <paramref name="fullColumnsRequired"/>, a column without nulls is declared non-nullable (a Parquet writer then
    /// stores it REQUIRED, without definition levels to compute and encode); otherwise only the time column is.
    /// </summary>
    public RecordBatch ToRecordBatch(IReadOnlyDictionary<string, string>? metadata = null, bool fullColumnsRequired = false)
    {
        var schema = new Schema.Builder();
        var arrays = new List<IArrowArray>(_columns.Count);
        foreach (var column in _columns)
        {
            var nullable = column.Kind != ColumnKind.Time && (!fullColumnsRequired || column.NullCount > 0);
            schema.Field(f => f.Name(column.Name).DataType(ColumnBuffer.ArrowType(column.Kind)).Nullable(nullable));
            arrays.Add(column.ToArrow());
        }

        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
            {
                schema.Metadata(key, value);
            }
        }

        return new RecordBatch(schema.Build(), arrays, RowCount);
    }

    /// <summary>
    /// The rows so far, for a reader on another thread, without copying them: call it where the set's writer cannot write
    /// (under the lock that guards it). Until the returned rows are disposed, no array they read goes back to the pool.
    /// </summary>
    public SharedRows Share()
    {
        var columns = new ColumnSlice[_columns.Count];
        for (var i = 0; i < columns.Length; i++)
        {
            columns[i] = _columns[i].Slice();
        }

        Interlocked.Increment(ref _shares);
        return new SharedRows(this, columns, RowCount, MinTime, MaxTime, IsSortedByTime);
    }

    /// <summary>A reader of <see cref="Share"/> is done: the last one returns the arrays the set outgrew or was disposed with.</summary>
    internal void Unshare()
    {
        if (Interlocked.Decrement(ref _shares) != 0)
        {
            return;
        }

        if (Volatile.Read(ref _disposeRequested) != 0)
        {
            Release();
        }
        else
        {
            ReturnRetiredUnshared();
        }
    }

    /// <summary>An array a column outgrew: back to the pool now, or once the readers sharing it are done.</summary>
    internal void Retire(byte[] array)
    {
        // Under the writer's lock: no reader can start sharing in between, and one ending sees the array in the list.
        if (Volatile.Read(ref _shares) == 0)
        {
            BufferPool.Shared.Return(array);
            return;
        }

        lock (_retired)
        {
            _retired.Add(array);
        }

        ReturnRetiredUnshared(); // in case the last reader left between the check and the add
    }

    /// <summary>Returns the arrays to the pool, at once or when the last reader sharing the rows is done.</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _disposeRequested, 1);
        if (Volatile.Read(ref _shares) == 0)
        {
            Release();
        }
    }

    private void Release()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var column in _columns)
        {
            column.Dispose();
        }

        _columns.Clear();
        _byName.Clear();
        ReturnRetired();
    }

    /// <summary>
    /// Returns the outgrown arrays if no reader shares the rows. The check is under the list's lock: a reader that starts
    /// sharing afterwards holds only current arrays, and an array retired while it reads waits for the lock, so the next
    /// call finds it shared.
    /// </summary>
    private void ReturnRetiredUnshared()
    {
        lock (_retired)
        {
            if (Volatile.Read(ref _shares) == 0)
            {
                ReturnRetired();
            }
        }
    }

    private void ReturnRetired()
    {
        lock (_retired)
        {
            foreach (var array in _retired)
            {
                BufferPool.Shared.Return(array);
            }

            _retired.Clear();
        }
    }

    private void Remember(int slot, int index)
    {
        if (slot >= _shape.Length)
        {
            System.Array.Resize(ref _shape, Math.Max(slot + 1, _shape.Length * 2));
        }

        _shape[slot] = index;
    }
}

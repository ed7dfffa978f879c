using System.Runtime.InteropServices;

namespace Arc.Engine.Buffers;

/// <summary>
/// The first <see cref="Rows"/> rows of a column over the arrays it had when they were taken (<see cref="ColumnBuffer.Slice"/>):
/// read-only, valid while the rows are shared (<see cref="SharedRows"/>), whatever the column's writer does meanwhile.
/// </summary>
internal sealed class ColumnSlice(string name, ColumnKind kind, byte[] validity, byte[] values, byte[] data, int rows, int nullCount)
{
    public string Name { get; } = name;

    public ColumnKind Kind { get; } = kind;

    public int Rows { get; } = rows;

    public int NullCount { get; } = nullCount;

    /// <summary>8 bytes per row (time and numbers), a bitmap (booleans) or int32 offsets (rows + 1, tags and strings).</summary>
    public ReadOnlySpan<byte> ValueBytes => values.AsSpan(0, ColumnBuffer.UsedValueBytes(Kind, Rows));

    public bool IsValid(int row) => (validity[row >> 3] & (1 << (row & 7))) != 0;

    public long GetInt64(int row) => MemoryMarshal.Cast<byte, long>(values.AsSpan())[row];

    public bool GetBoolean(int row) => (values[row >> 3] & (1 << (row & 7))) != 0;

    /// <summary>Tags and strings: where each row's value starts in <see cref="Data"/>, and after the last row where it ends (rows + 1).</summary>
    public ReadOnlySpan<int> Offsets => MemoryMarshal.Cast<byte, int>(values.AsSpan(0, (Rows + 1) * sizeof(int)));

    /// <summary>Tags and strings: the rows' values, one after the other (<see cref="Offsets"/>).</summary>
    public ReadOnlySpan<byte> Data => data.AsSpan(0, Offsets[Rows]);

    public ReadOnlySpan<byte> GetBytes(int row)
    {
        var offsets = MemoryMarshal.Cast<byte, int>(values.AsSpan());
        return data.AsSpan(offsets[row], offsets[row + 1] - offsets[row]);
    }

    /// <summary>
    /// Tags and strings: the first row from <paramref name="row"/> to <paramref name="end"/> (exclusive) whose value is
    /// <paramref name="value"/>, byte for byte (an empty value also finds null rows); <paramref name="end"/> if none. The
    /// values lie one after the other, so a match is a place in the bytes where a row's value starts and that has the
    /// value's length: the bytes are searched for the value (vectorized) and each place found is checked against the
    /// offsets, rather than each row compared.
    /// </summary>
    public int IndexOfValue(ReadOnlySpan<byte> value, int row, int end)
    {
        var offsets = Offsets;
        if (value.IsEmpty)
        {
            for (; row < end; row++)
            {
                if (offsets[row + 1] == offsets[row])
                {
                    return row;
                }
            }

            return end;
        }

        var bytes = Data;
        var limit = offsets[end];
        for (var at = offsets[row]; at < limit;)
        {
            var found = bytes[at..limit].IndexOf(value);
            if (found < 0)
            {
                return end;
            }

            var position = at + found;
            var candidate = LastStartingAtOrBefore(offsets, position, row, end);
            if (offsets[candidate] == position && offsets[candidate + 1] - position == value.Length)
            {
                return candidate;
            }

            at = position + 1;
        }

        return end;
    }

    /// <summary>The last row from <paramref name="low"/> to <paramref name="high"/> (exclusive) whose value starts at or before <paramref name="position"/>.</summary>
    private static int LastStartingAtOrBefore(ReadOnlySpan<int> offsets, int position, int low, int high)
    {
        // Galloping from low (the row at low starts at or before the position; a frequent value is found a few rows on),
        // then, in the bracket found, the first row starting after the position, less one.
        for (var step = 1; low + step < high; step <<= 1)
        {
            if (offsets[low + step] > position)
            {
                high = low + step;
                break;
            }

            low += step;
        }

        while (low < high)
        {
            var middle = (int)((uint)(low + high) >> 1);
            if (offsets[middle] <= position)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low - 1;
    }

    /// <summary>
    /// The first row from <paramref name="start"/> to <paramref name="end"/> (exclusive) whose value is at least
    /// <paramref name="value"/> (<paramref name="end"/> if none), in rows sorted by value (time).
    /// </summary>
    public int LowerBound(long value, int start, int end)
    {
        var longs = MemoryMarshal.Cast<byte, long>(values.AsSpan(0, Rows * 8));
        int low = start, high = end;
        while (low < high)
        {
            var middle = (int)((uint)(low + high) >> 1);
            if (longs[middle] < value)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }
}

/// <summary>
/// The rows one <see cref="ColumnSet"/> held when <see cref="ColumnSet.Share"/> took them, read in place: disposing lets the
/// set return the arrays to the pool (when it outgrew them, or was itself disposed meanwhile).
/// </summary>
internal sealed class SharedRows(ColumnSet owner, ColumnSlice[] columns, int rows, long minTime, long maxTime, bool sorted) : IDisposable
{
    private int _disposed;

    /// <summary>The set's columns in its order; the first is time.</summary>
    public ColumnSlice[] Columns { get; } = columns;

    public int Rows { get; } = rows;

    public long MinTime { get; } = minTime;

    public long MaxTime { get; } = maxTime;

    public bool IsSortedByTime { get; } = sorted;

    public ColumnSlice Time => Columns[0];

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            owner.Unshare();
        }
    }
}

/// <summary>
/// A measurement's rows a query reads from memory: those of flushed files kept in memory (the hot tier, each a range of a
/// sorted set), then the rows not yet visible in Parquet (flushes under way, then the live buffer), all shared in place, not
/// copied, under one set of columns matched by name (a part without a column reads as nulls). The query owns it and
/// disposes it when its scan is done.
/// </summary>
internal sealed class BufferSnapshot : IDisposable
{
    private readonly List<(string Name, ColumnKind Kind)> _columns = [(ColumnSet.TimeColumn, ColumnKind.Time)];
    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal) { [ColumnSet.TimeColumn] = 0 };
    private readonly List<Part> _parts = [];

    /// <summary>The columns, time first, then in the order the parts first have them.</summary>
    public IReadOnlyList<(string Name, ColumnKind Kind)> Columns => _columns;

    public IReadOnlyList<Part> Parts => _parts;

    public long RowCount { get; private set; }

    /// <summary>
    /// Adds the rows of <paramref name="set"/> (shared, see <see cref="ColumnSet.Share"/>; call under the lock that guards
    /// its writes). Throws when a column has another type than the same-named column of an earlier part.
    /// </summary>
    public void Add(ColumnSet set)
    {
        var rows = set.Share();
        Add(set, rows, 0, rows.Rows, rows.MinTime, rows.MaxTime, rows.IsSortedByTime);
    }

    /// <summary>
    /// Adds rows <paramref name="start"/> to <paramref name="end"/> (exclusive) of <paramref name="set"/>, from
    /// <paramref name="minTime"/> to <paramref name="maxTime"/>: a set no one writes any more (a retained flush, sorted by
    /// time or by series as <see cref="ColumnSet.IsSortedByTime"/> says).
    /// </summary>
    public void Add(ColumnSet set, int start, int end, long minTime, long maxTime) =>
        Add(set, set.Share(), start, end, minTime, maxTime, set.IsSortedByTime);

    private void Add(ColumnSet set, SharedRows rows, int start, int end, long minTime, long maxTime, bool sorted)
    {
        var byColumn = new List<int>(rows.Columns.Length);
        try
        {
            foreach (var column in rows.Columns)
            {
                if (_byName.TryGetValue(column.Name, out var index))
                {
                    if (_columns[index].Kind != column.Kind)
                    {
                        throw new InvalidOperationException(
                            $"column '{column.Name}' of {set.Measurement} is {_columns[index].Kind.Describe()} in one buffer and {column.Kind.Describe()} in another");
                    }
                }
                else
                {
                    index = _columns.Count;
                    _columns.Add((column.Name, column.Kind));
                    _byName.Add(column.Name, index);
                }

                byColumn.Add(index);
            }
        }
        catch
        {
            rows.Dispose();
            throw;
        }

        var slices = new ColumnSlice?[_columns.Count];
        for (var i = 0; i < byColumn.Count; i++)
        {
            slices[byColumn[i]] = rows.Columns[i];
        }

        _parts.Add(new Part(rows, slices, start, end, minTime, maxTime, sorted));
        RowCount += end - start;
    }

    public void Dispose()
    {
        foreach (var part in _parts)
        {
            part.Rows.Dispose();
        }
    }

    /// <summary>
    /// One buffer's rows <see cref="Start"/> to <see cref="End"/>, with its slice of each snapshot column (null, or past the
    /// array's end: the buffer lacks it), their time range and whether they are in time order.
    /// </summary>
    internal sealed class Part(SharedRows rows, ColumnSlice?[] slices, int start, int end, long minTime, long maxTime, bool sorted)
    {
        public SharedRows Rows { get; } = rows;

        public int Start { get; } = start;

        public int End { get; } = end;

        public long MinTime { get; } = minTime;

        public long MaxTime { get; } = maxTime;

        public bool IsSortedByTime { get; } = sorted;

        public ColumnSlice? Column(int index) => (uint)index < (uint)slices.Length ? slices[index] : null;
    }
}

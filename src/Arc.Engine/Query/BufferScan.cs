using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>
/// The DuckDB table function <c>arc_buffer(database, measurement)</c>: the rows a measurement holds in memory (accepted,
/// not yet visible in Parquet), so queries read their writes. At bind time it takes the buffers' rows (the flushes under
/// way and the live buffer), shared in place rather than copied (<see cref="BufferSnapshot"/>; taking them and DuckDB's
/// expansion of the Parquet glob happen under one lock, so each row is seen exactly once), then emits them as DuckDB
/// vectors: fixed-width columns are block copies, strings are assigned per value. Projection pushdown is supported, so
/// only the columns a query uses are read, and rows before the statement's time filter are skipped where that is cheap, as
/// are rows whose tag (or string field) differs from what the filter requires (<c>host = 'a'</c>, <c>host IN (…)</c>:
/// <see cref="QueryFilePlan.Matches"/>), so a panel over one host does not pay for emitting every host's buffered rows.
/// </summary>
internal static unsafe class BufferScan
{
    public static void Register(DuckDbConnection connection, IBufferSnapshotSource source, Catalog? catalog = null)
    {
        var function = NativeMethods.TableFunction.DuckDBCreateTableFunction();
        try
        {
            NativeMethods.TableFunction.DuckDBTableFunctionSetName(function, Catalog.BufferFunction);
            using (var varchar = NativeMethods.LogicalType.DuckDBCreateLogicalType(DuckDBType.Varchar))
            {
                NativeMethods.TableFunction.DuckDBTableFunctionAddParameter(function, varchar);
                NativeMethods.TableFunction.DuckDBTableFunctionAddParameter(function, varchar);
            }

            using (var boolean = NativeMethods.LogicalType.DuckDBCreateLogicalType(DuckDBType.Boolean))
            {
                NativeMethods.TableFunction.DuckDBTableFunctionAddNamedParameter(function, Catalog.FileColumnsParameter, boolean);
            }

            NativeMethods.TableFunction.DuckDBTableFunctionSetExtraInfo(function, GCHandle.ToIntPtr(GCHandle.Alloc(new Sources(source, catalog))), &FreeHandle);
            NativeMethods.TableFunction.DuckDBTableFunctionSetBind(function, &Bind);
            NativeMethods.TableFunction.DuckDBTableFunctionSetInit(function, &Init);
            DuckDbExtra.TableFunctionSetLocalInit(function, &LocalInit);
            NativeMethods.TableFunction.DuckDBTableFunctionSetFunction(function, &Scan);
            NativeMethods.TableFunction.DuckDBTableFunctionSupportsProjectionPushdown(function, true);
            if (NativeMethods.TableFunction.DuckDBRegisterTableFunction(connection.Handle, function) != DuckDBState.Success)
            {
                throw new DuckDbException($"could not register the {Catalog.BufferFunction} table function");
            }
        }
        finally
        {
            NativeMethods.TableFunction.DuckDBDestroyTableFunction(ref function);
        }
    }

    internal static DuckDBType TypeOf(ColumnKind kind) => kind switch
    {
        ColumnKind.Time => DuckDBType.TimestampNs,
        ColumnKind.Tag or ColumnKind.String => DuckDBType.Varchar,
        ColumnKind.Float => DuckDBType.Double,
        ColumnKind.Integer => DuckDBType.BigInt,
        ColumnKind.UInteger => DuckDBType.UnsignedBigInt,
        ColumnKind.Boolean => DuckDBType.Boolean,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Bind(IntPtr info)
    {
        BufferSnapshot? snapshot = null;
        try
        {
            var (source, catalog) = (Sources)GCHandle.FromIntPtr(NativeMethods.TableFunction.DuckDBBindGetExtraInfo(info)).Target!;
            string database, measurement;
            using (var value = NativeMethods.TableFunction.DuckDBBindGetParameter(info, 0))
            {
                database = NativeMethods.Value.DuckDBGetVarchar(value);
            }

            using (var value = NativeMethods.TableFunction.DuckDBBindGetParameter(info, 1))
            {
                measurement = NativeMethods.Value.DuckDBGetVarchar(value);
            }

            var scope = QueryFileScope.Current;

            // Only the lower bound is used: a literal's digits past 100 ns are cut, which lowers a bound (safe for a lower
            // one, too low for an upper one); a bound from now() is evaluated in the statement's own transaction
            // (QueryFilePlan.Reevaluate).
            var from = QueryFileScope.RangeOf(database, measurement).Low;
            snapshot = source.Snapshot(database, measurement, from) ?? new BufferSnapshot();
            (List<(string Name, DuckDBType Type)> Columns, int[] Indices)? map =
                FileColumnsFirst(info) ? FileColumnMap(catalog, database, measurement, snapshot) : null;
            var columns = map?.Columns ?? snapshot.Columns.Select(c => (c.Name, TypeOf(c.Kind)));
            foreach (var (name, duckDbType) in columns)
            {
                using var type = NativeMethods.LogicalType.DuckDBCreateLogicalType(duckDbType);
                NativeMethods.TableFunction.DuckDBBindAddResultColumn(info, name, type);
            }

            var matches = scope is null ? [] : Matches(snapshot, scope.MatchesOf(database, measurement)); // none for DESCRIBE: it is not planned
            var scan = new ScanData(snapshot, from, matches) { Map = map?.Indices };
            NativeMethods.TableFunction.DuckDBBindSetCardinality(info, (ulong)scan.Rows, scan.Exact);
            NativeMethods.TableFunction.DuckDBBindSetBindData(info, GCHandle.ToIntPtr(GCHandle.Alloc(scan)), &FreeScan);
            snapshot = null; // DuckDB owns it now, and frees it through FreeScan
        }
        catch (Exception e)
        {
            snapshot?.Dispose();
            NativeMethods.TableFunction.DuckDBBindSetError(info, $"{Catalog.BufferFunction}: {e.Message}");
        }
    }

    /// <summary>Rows a scanning thread takes at a time (<see cref="ScanState.Take"/>); DuckDB gets as many threads as ranges.</summary>
    private const int UnitRows = 16 * 2048;

    /// <summary>The longest string a <c>duckdb_string_t</c> holds inline (no copy to the vector's string heap).</summary>
    private const int InlinedBytes = 12;

    /// <summary>Most required values of a column searched for in its bytes (<see cref="ScanData.Next"/>); a longer list is compared row by row.</summary>
    private const int SearchedValues = 4;

    /// <summary>A column of <see cref="Catalog.MemorySource"/> no row in memory has: nulls of the schema file's type.</summary>
    private const int NullColumn = int.MinValue;

    private static bool FileColumnsFirst(IntPtr info)
    {
        using var value = NativeMethods.TableFunction.DuckDBBindGetNamedParameter(info, Catalog.FileColumnsParameter);
        return !value.IsInvalid && NativeMethods.Value.DuckDBGetBool(value);
    }

    /// <summary>
    /// The columns of <see cref="Catalog.MemorySource"/>: the schema file's, in its order and with its types, then the
    /// snapshot's others, as <c>UNION ALL BY NAME</c> of the files and the snapshot names them (ignoring case); for each,
    /// the snapshot column it reads, or <see cref="NullColumn"/>. The caller checked the types agree (<see cref="FileListFunction"/>), under
    /// the visibility lock no schema file changes under.
    /// </summary>
    private static (List<(string Name, DuckDBType Type)> Columns, int[] Indices) FileColumnMap(Catalog? catalog, string database,
        string measurement, BufferSnapshot snapshot)
    {
        var schema = catalog?.Entry(database, measurement)?.FileSchema
                     ?? throw new InvalidOperationException($"{database}.{measurement} has no schema file to take columns from");
        var columns = new List<(string, DuckDBType)>(schema.Length + snapshot.Columns.Count);
        var indices = new List<int>(schema.Length + snapshot.Columns.Count);
        var taken = new bool[snapshot.Columns.Count];
        foreach (var (name, type) in schema)
        {
            var index = -1;
            for (var i = 0; i < snapshot.Columns.Count; i++)
            {
                if (snapshot.Columns[i].Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    if (TypeOf(snapshot.Columns[i].Kind) != type)
                    {
                        throw new InvalidOperationException(
                            $"column '{name}' of {measurement} is {type} in its files and {snapshot.Columns[i].Kind.Describe()} in memory");
                    }

                    index = i;
                    taken[i] = true;
                    break;
                }
            }

            columns.Add((name, type));
            indices.Add(index < 0 ? NullColumn : index);
        }

        for (var i = 0; i < snapshot.Columns.Count; i++)
        {
            if (!taken[i])
            {
                columns.Add((snapshot.Columns[i].Name, TypeOf(snapshot.Columns[i].Kind)));
                indices.Add(i);
            }
        }

        return (columns, [.. indices]);
    }

    /// <summary>
    /// The statement's column matches (<see cref="QueryFilePlan.Matches"/>) on the snapshot's string columns, values as
    /// UTF-8. A name the snapshot has no string column of is left out: it may name a select-list alias (DuckDB binds a
    /// WHERE name to the table's column first, to an alias only when there is none), so it says nothing about the rows.
    /// </summary>
    private static (int Column, byte[][] Values)[] Matches(BufferSnapshot snapshot, List<ColumnMatch> matches)
    {
        var result = new List<(int, byte[][])>();
        foreach (var match in matches)
        {
            for (var i = 0; i < snapshot.Columns.Count; i++)
            {
                var (name, kind) = snapshot.Columns[i];
                if (kind is ColumnKind.Tag or ColumnKind.String && name.Equals(match.Column, StringComparison.OrdinalIgnoreCase))
                {
                    var values = match.Values.Select(System.Text.Encoding.UTF8.GetBytes).ToArray();
                    Array.Sort(values, static (a, b) => a.AsSpan().SequenceCompareTo(b)); // in byte order: looked up by halving (ScanData)
                    result.Add((i, values));
                }
            }
        }

        return [.. result];
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Init(IntPtr info)
    {
        try
        {
            var count = (int)NativeMethods.TableFunction.DuckDBInitGetColumnCount(info);
            var scan = (ScanData)GCHandle.FromIntPtr(NativeMethods.TableFunction.DuckDBInitGetBindData(info)).Target!;
            var map = scan.Map;
            var state = new ScanState(new int[count]);
            for (var i = 0; i < count; i++)
            {
                var index = NativeMethods.TableFunction.DuckDBInitGetColumnIndex(info, (ulong)i);
                state.Columns[i] = map is null ? (int)index : index < (ulong)map.Length ? map[index] : int.MaxValue; // beyond: a virtual row id
            }

            NativeMethods.TableFunction.DuckDBInitSetInitData(info, GCHandle.ToIntPtr(GCHandle.Alloc(state)), &FreeHandle);
            DuckDbExtra.InitSetMaxThreads(info, (ulong)Math.Max(1, (scan.Rows + UnitRows - 1) / UnitRows));
        }
        catch (Exception e)
        {
            NativeMethods.TableFunction.DuckDBInitSetError(info, $"{Catalog.BufferFunction}: {e.Message}");
        }
    }

    /// <summary>A scanning thread's state: the range of rows it took last (<see cref="ScanState.Take"/>).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void LocalInit(IntPtr info)
    {
        try
        {
            NativeMethods.TableFunction.DuckDBInitSetInitData(info, GCHandle.ToIntPtr(GCHandle.Alloc(new LocalScan())), &FreeHandle);
        }
        catch (Exception e)
        {
            NativeMethods.TableFunction.DuckDBInitSetError(info, $"{Catalog.BufferFunction}: {e.Message}");
        }
    }

    /// <summary>
    /// Emits the next chunk: up to a vector of rows of the range this thread took (<see cref="ScanState.Take"/>: ranges of
    /// <see cref="UnitRows"/> rows go to DuckDB's threads, which scan them side by side), from where the last chunk stopped,
    /// then of the next range it takes. A part whose rows are all
    /// before the statement's earliest time is skipped, one sorted by time starts at its first row at or after it, of an
    /// unsorted part that has earlier rows only the later rows are emitted, and with column matches only rows holding a
    /// required value (DuckDB still applies the whole filter).
    /// </summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Scan(IntPtr info, IntPtr output)
    {
        try
        {
            var scan = (ScanData)GCHandle.FromIntPtr(NativeMethods.TableFunction.DuckDBFunctionGetBindData(info)).Target!;
            var state = (ScanState)GCHandle.FromIntPtr(NativeMethods.TableFunction.DuckDBFunctionGetInitData(info)).Target!;
            var local = (LocalScan)GCHandle.FromIntPtr(DuckDbExtra.FunctionGetLocalInitData(info)).Target!;
            var capacity = (int)NativeMethods.Helpers.DuckDBVectorSize();
            var parts = scan.Snapshot.Parts;
            while (local.Position < local.End || state.Take(scan, local))
            {
                var part = parts[local.Part];
                if (!scan.Start(local.Part).Filtered)
                {
                    var rows = Math.Min(local.End - local.Position, capacity);
                    Emit(output, scan.Snapshot, part, state.Columns, local.Position, rows, []);
                    local.Position += rows;
                    return;
                }

                var selection = local.Selection ??= new int[capacity];
                var count = 0;
                var row = local.Position;
                while (count < capacity && (row = scan.Next(part, row, local)) < local.End)
                {
                    selection[count++] = row++;
                }

                local.Position = row;
                if (count > 0)
                {
                    Emit(output, scan.Snapshot, part, state.Columns, 0, count, selection.AsSpan(0, count));
                    return;
                }
            }

            DuckDbExtra.DataChunkSetSize(output, 0);
        }
        catch (Exception e)
        {
            NativeMethods.TableFunction.DuckDBFunctionSetError(info, $"{Catalog.BufferFunction}: {e.Message}");
        }
    }

    /// <summary>
    /// Fills the projected columns with <paramref name="rows"/> rows of the part: those from <paramref name="start"/> on,
    /// or the ones <paramref name="selection"/> lists.
    /// </summary>
    private static void Emit(IntPtr output, BufferSnapshot snapshot, BufferSnapshot.Part part, int[] columns, int start, int rows,
        ReadOnlySpan<int> selection)
    {
        for (var i = 0; i < columns.Length; i++)
        {
            var column = columns[i];
            // A query that uses no column (count(*)) still gets one projected index that may be a virtual row id.
            if ((uint)column < (uint)snapshot.Columns.Count)
            {
                Fill(DuckDbExtra.DataChunkGetVector(output, (ulong)i), part.Column(column), start, rows, selection);
            }
            else if (column == NullColumn)
            {
                Fill(DuckDbExtra.DataChunkGetVector(output, (ulong)i), null, start, rows, selection);
            }
        }

        DuckDbExtra.DataChunkSetSize(output, (ulong)rows);
    }

    private static void Fill(IntPtr vector, ColumnSlice? column, int start, int rows, ReadOnlySpan<int> selection)
    {
        var data = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(vector);
        if (column is null)
        {
            // This part's buffer has no such column: nulls.
            NativeMethods.Vectors.DuckDBVectorEnsureValidityWritable(vector);
            var all = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);
            new Span<ulong>(all, (rows + 63) >> 6).Clear();
            return;
        }

        var contiguous = selection.IsEmpty;
        if (column.NullCount > 0)
        {
            NativeMethods.Vectors.DuckDBVectorEnsureValidityWritable(vector);
            var validity = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);
            for (var i = 0; i < rows; i++)
            {
                if (!column.IsValid(contiguous ? start + i : selection[i]))
                {
                    validity[i >> 6] &= ~(1UL << (i & 63));
                }
            }
        }

        switch (column.Kind)
        {
            case ColumnKind.Boolean:
                for (var i = 0; i < rows; i++)
                {
                    data[i] = column.GetBoolean(contiguous ? start + i : selection[i]) ? (byte)1 : (byte)0;
                }

                break;
            case ColumnKind.Tag or ColumnKind.String:
                for (var i = 0; i < rows; i++)
                {
                    var row = contiguous ? start + i : selection[i];
                    if (column.IsValid(row))
                    {
                        var value = column.GetBytes(row);
                        if (value.Length <= InlinedBytes)
                        {
                            // duckdb_string_t (duckdb.h) of a short string: its length, then its bytes, zero-padded, in place.
                            var target = data + (i * 16);
                            *(uint*)target = (uint)value.Length;
                            new Span<byte>(target + 4, InlinedBytes).Clear();
                            value.CopyTo(new Span<byte>(target + 4, InlinedBytes));
                        }
                        else
                        {
                            fixed (byte* bytes = value)
                            {
                                NativeMethods.Vectors.DuckDBVectorAssignStringElementLength(vector, (ulong)i, bytes, value.Length);
                            }
                        }
                    }
                }

                break;
            default:
                if (contiguous)
                {
                    column.ValueBytes.Slice(start * 8, rows * 8).CopyTo(new Span<byte>(data, rows * 8));
                }
                else
                {
                    var values = (long*)data;
                    for (var i = 0; i < rows; i++)
                    {
                        values[i] = column.GetInt64(selection[i]);
                    }
                }

                break;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void FreeHandle(IntPtr handle) => GCHandle.FromIntPtr(handle).Free();

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void FreeScan(IntPtr handle)
    {
        var gc = GCHandle.FromIntPtr(handle);
        ((ScanData)gc.Target!).Snapshot.Dispose();
        gc.Free();
    }

    /// <summary>
    /// The bind data: the shared rows, the statement's earliest time, the string values it requires of some columns, and
    /// where each part's wanted rows start.
    /// </summary>
    private sealed class ScanData
    {
        private readonly (int First, bool Filtered)[] _starts;
        private readonly (int Column, byte[][] Values)[] _matches;

        public ScanData(BufferSnapshot snapshot, long from, (int Column, byte[][] Values)[] matches)
        {
            Snapshot = snapshot;
            From = from;
            _matches = matches;
            _starts = new (int, bool)[snapshot.Parts.Count];
            Exact = true;
            for (var i = 0; i < _starts.Length; i++)
            {
                var part = snapshot.Parts[i];
                _starts[i] = part.MinTime >= from ? (part.Start, false)
                    : part.MaxTime < from ? (part.End, false)
                    : part.IsSortedByTime ? (part.Rows.Time.LowerBound(from, part.Start, part.End), false)
                    : (part.Start, true);
                if (matches.Length > 0)
                {
                    // A part without a matched column has nulls there, which equal nothing.
                    _starts[i] = Array.Exists(matches, m => part.Column(m.Column) is null) ? (part.End, false) : (_starts[i].First, true);
                }

                Rows += part.End - _starts[i].First;
                Exact &= !_starts[i].Filtered;
            }
        }

        /// <summary>
        /// The first row from <paramref name="row"/> to the end of <paramref name="local"/>'s range that the scan emits: at or
        /// after the statement's earliest time, with one of the required values in each matched column; the range's end if
        /// none. With a few required values (a panel's host, a short <c>IN</c> list) the first matched column's values are
        /// found by searching its bytes (<see cref="ColumnSlice.IndexOfValue"/>, vectorized) rather than by comparing row after row.
        /// </summary>
        public int Next(BufferSnapshot.Part part, int row, LocalScan local)
        {
            var end = local.End;
            var time = part.MinTime < From ? part.Rows.Time : null; // null: every row of the part is at or after From
            if (_matches.Length == 0 || _matches[0].Values.Length > SearchedValues)
            {
                while (row < end && !Emits(part, row, time))
                {
                    row++;
                }

                return row;
            }

            var (column, values) = _matches[0];
            var slice = part.Column(column)!;
            var hits = local.Hits;
            while (true)
            {
                // The nearest row holding one of the values; each value's next row is searched only once it is passed.
                var next = end;
                for (var i = 0; i < values.Length; i++)
                {
                    if (hits[i] < row)
                    {
                        hits[i] = slice.IndexOfValue(values[i], row, end);
                    }

                    next = Math.Min(next, hits[i]);
                }

                if (next == end)
                {
                    return end;
                }

                if (Emits(part, next, time))
                {
                    return next;
                }

                row = next + 1;
            }
        }

        /// <summary>
        /// Whether the scan emits row <paramref name="row"/> of <paramref name="part"/>: at or after the earliest time (checked
        /// in <paramref name="time"/> unless null), with one of the required values in each matched column.
        /// </summary>
        private bool Emits(BufferSnapshot.Part part, int row, ColumnSlice? time)
        {
            if (time is not null && time.GetInt64(row) < From)
            {
                return false;
            }

            foreach (var (column, values) in _matches)
            {
                var slice = part.Column(column)!;
                if (!slice.IsValid(row) || !Any(values, slice.GetBytes(row)))
                {
                    return false;
                }
            }

            return true;

            // The values are in byte order (sorted where BufferScan.Matches reads them from the filter): an IN list of up to
            // 64 values costs a row about six comparisons.
            static bool Any(byte[][] values, ReadOnlySpan<byte> value)
            {
                int low = 0, high = values.Length;
                while (low < high)
                {
                    var middle = (int)((uint)(low + high) >> 1);
                    var order = value.SequenceCompareTo(values[middle]);
                    if (order == 0)
                    {
                        return true;
                    }

                    (low, high) = order > 0 ? (middle + 1, high) : (low, middle);
                }

                return false;
            }
        }

        public BufferSnapshot Snapshot { get; }

        /// <summary>For <see cref="Catalog.MemorySource"/>: the snapshot column each bound column reads (<see cref="FileColumnMap"/>).</summary>
        public int[]? Map { get; init; }

        public long From { get; }

        /// <summary>The rows the scan emits at most; exactly that many when <see cref="Exact"/>.</summary>
        public long Rows { get; }

        public bool Exact { get; }

        /// <summary>The first row of part <paramref name="part"/> to emit, and whether later rows need the time check.</summary>
        public (int First, bool Filtered) Start(int part) => _starts[part];
    }

    private sealed record Sources(IBufferSnapshotSource Source, Catalog? Catalog);

    /// <summary>
    /// The scan's state shared by its threads: the projected columns, and where the next range of rows to hand out starts.
    /// </summary>
    private sealed class ScanState(int[] columns)
    {
        private readonly Lock _lock = new();
        private int _part;
        private int _position;

        public int[] Columns { get; } = columns;

        /// <summary>
        /// Hands <paramref name="local"/> the next range of up to <see cref="UnitRows"/> rows of a part, from the part's first
        /// wanted row (<see cref="ScanData.Start"/>); false when every part is handed out.
        /// </summary>
        public bool Take(ScanData scan, LocalScan local)
        {
            lock (_lock)
            {
                var parts = scan.Snapshot.Parts;
                while (_part < parts.Count)
                {
                    var start = Math.Max(_position, scan.Start(_part).First);
                    var end = parts[_part].End;
                    if (start >= end)
                    {
                        _part++;
                        _position = 0; // below every part's start
                        continue;
                    }

                    (local.Part, local.Position, local.End) = (_part, start, Math.Min(end, start + UnitRows));
                    local.Hits.AsSpan().Fill(int.MinValue); // nothing found yet in this range
                    _position = local.End;
                    return true;
                }

                return false;
            }
        }
    }

    /// <summary>One thread's range of rows: part, next row, end (exclusive).</summary>
    private sealed class LocalScan
    {
        public int Part { get; set; }

        public int Position { get; set; }

        public int End { get; set; }

        /// <summary>The rows of one chunk that the scan emits (<see cref="ScanData.Next"/>).</summary>
        public int[]? Selection { get; set; }

        /// <summary>For each required value searched for, the row of this range found holding it (<see cref="ScanData.Next"/>).</summary>
        public int[] Hits { get; } = new int[SearchedValues];
    }
}

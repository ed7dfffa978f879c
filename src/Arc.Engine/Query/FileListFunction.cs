using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>
/// What the statement being bound on this thread needs of each measurement: the time range its filter allows (Unix ns,
/// inclusive) and whether it reads rows at all (<c>DESCRIBE</c> does not). Set by the query engine around preparing and
/// starting a statement; <see cref="FileListFunction"/> reads it while DuckDB binds the measurements' views on the same
/// thread. Without a scope (the server's own queries) every file is listed.
/// </summary>
internal sealed class QueryFileScope
{
    [ThreadStatic]
    private static QueryFileScope? _current;

    private readonly Dictionary<(string, string), (long Low, long High)> _bounds = new(MeasurementNames.Comparer);
    private readonly Dictionary<(string, string), (int Listed, int Pruned, int Hot)> _counts = new(MeasurementNames.Comparer);
    private readonly Dictionary<(string, string), List<ColumnMatch>> _matches = new(MeasurementNames.Comparer);

    public static QueryFileScope? Current => _current;

    /// <summary>
    /// The time range the statement being bound on this thread needs of a measurement: all of it without a scope (the
    /// server's own queries) and for DESCRIBE (a schema-only scope is given no bounds).
    /// </summary>
    public static (long Low, long High) RangeOf(string database, string measurement) =>
        _current?.BoundsOf(database, measurement) ?? (long.MinValue, long.MaxValue);

    /// <summary>Only the schema matters (DESCRIBE): no data file is listed.</summary>
    public bool SchemaOnly { get; init; }

    /// <summary>Files listed to DuckDB for this statement (DuckDB may evaluate a view's list more than once while binding).</summary>
    public int Listed => _counts.Values.Sum(c => c.Listed);

    /// <summary>Files left out because their time range is outside the statement's filter.</summary>
    public int Pruned => _counts.Values.Sum(c => c.Pruned);

    /// <summary>Files the statement needs whose rows it reads from memory (the hot tier, through <c>arc_buffer</c>), not opened.</summary>
    public int Hot => _counts.Values.Sum(c => c.Hot);

    public void Counted(string database, string measurement, int listed, int pruned, int hot) =>
        _counts[(database, measurement)] = (listed, pruned, hot);

    public void Bound(string database, string measurement, long low, long high) => _bounds[(database, measurement)] = (low, high);

    /// <summary>The time range the statement needs of each measurement (replacing an earlier one).</summary>
    public void Bound(IEnumerable<MeasurementRange> ranges)
    {
        foreach (var range in ranges)
        {
            Bound(range.Database, range.Measurement, range.Low, range.High);
        }
    }

    /// <summary>The column values the statement requires of a measurement's rows (<see cref="QueryFilePlan.Matches"/>).</summary>
    public void Match(string database, string measurement, List<ColumnMatch> matches) => _matches[(database, measurement)] = matches;

    public List<ColumnMatch> MatchesOf(string database, string measurement) => _matches.GetValueOrDefault((database, measurement), []);

    public (long Low, long High) BoundsOf(string database, string measurement) =>
        _bounds.GetValueOrDefault((database, measurement), (long.MinValue, long.MaxValue));

    /// <summary>Makes this the scope of the current thread until the result is disposed.</summary>
    public Activation Activate()
    {
        var previous = _current;
        _current = this;
        return new Activation(previous);
    }

    public readonly struct Activation(QueryFileScope? previous) : IDisposable
    {
        public void Dispose() => _current = previous;
    }
}

/// <summary>
/// The scalar function <c>arc_files(database, measurement)</c> each measurement's view reads its Parquet files through
/// (<c>read_parquet(arc_files('db', 'm'), union_by_name = true)</c>): the measurement's schema file first (an empty
/// Parquet file with every column, so the view's columns never depend on which files a query needs), then the files of the
/// manifest whose partition meets the time range of the statement being bound (<see cref="QueryFileScope"/>) and whose rows
/// are not kept in memory (those the <c>arc_buffer</c> scan reads, decided under the same lock: <see cref="FileManifest"/>). DuckDB
/// evaluates it while binding, on the thread that prepares, under the catalog's visibility lock. Beside it,
/// <c>arc_union(database, measurement)</c>, the view's <c>union_by_name</c>: false when every file <c>arc_files</c> lists
/// for the statement has all the schema file's columns (DuckDB then maps them by name from the schema file's columns and
/// skips the by-name union), true otherwise. Both are registered after the function allowlist is read, so user SQL cannot
/// call them; their names are the catalog's, which writes the views.
/// </summary>
internal static unsafe class FileListFunction
{
    public static void Register(DuckDbConnection connection, Catalog catalog, IBufferSnapshotSource buffers)
    {
        using var varchar = NativeMethods.LogicalType.DuckDBCreateLogicalType(DuckDBType.Varchar);
        using (var list = NativeMethods.LogicalType.DuckDBCreateListType(varchar))
        {
            Register(connection, catalog, Catalog.FilesFunction, list, &Invoke);
        }

        using (var boolean = NativeMethods.LogicalType.DuckDBCreateLogicalType(DuckDBType.Boolean))
        {
            Register(connection, catalog, Catalog.UnionFunction, boolean, &InvokeUnion);
        }

        Register(connection, new Sources(catalog, buffers), Catalog.SourceFunction, varchar, &InvokeSource);
    }

    private static void Register(DuckDbConnection connection, object state, string name, DuckDBLogicalType returns,
        delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr, void> callback)
    {
        var function = NativeMethods.ScalarFunction.DuckDBCreateScalarFunction();
        try
        {
            NativeMethods.ScalarFunction.DuckDBScalarFunctionSetName(function, name);
            using (var varchar = NativeMethods.LogicalType.DuckDBCreateLogicalType(DuckDBType.Varchar))
            {
                NativeMethods.ScalarFunction.DuckDBScalarFunctionAddParameter(function, varchar);
                NativeMethods.ScalarFunction.DuckDBScalarFunctionAddParameter(function, varchar);
            }

            NativeMethods.ScalarFunction.DuckDBScalarFunctionSetReturnType(function, returns);
            NativeMethods.ScalarFunction.DuckDBScalarFunctionSetExtraInfo(function, GCHandle.ToIntPtr(GCHandle.Alloc(state)), &FreeHandle);
            NativeMethods.ScalarFunction.DuckDBScalarFunctionSetFunction(function, callback);
            if (NativeMethods.ScalarFunction.DuckDBRegisterScalarFunction(connection.Handle, function) != DuckDBState.Success)
            {
                throw new DuckDbException($"could not register the {name} function");
            }
        }
        finally
        {
            NativeMethods.ScalarFunction.DuckDBDestroyScalarFunction(ref function);
        }
    }

    /// <summary>
    /// The data files a statement needs of a measurement under the current scope (none for DESCRIBE): those whose time range
    /// meets the statement's, less those holding a range of series none of whose values the statement's filter allows
    /// (<see cref="ManifestFile.Excludes"/>), less those whose rows are kept in memory (<paramref name="hot"/> counts them;
    /// <c>arc_buffer</c> reads those).
    /// </summary>
    private static List<ManifestFile> Needed(Catalog catalog, string database, string measurement, out int hot)
    {
        hot = 0;
        var scope = QueryFileScope.Current;
        if (scope?.SchemaOnly == true)
        {
            return [];
        }

        var (low, high) = QueryFileScope.RangeOf(database, measurement);
        var files = catalog.Manifest.Overlapping(database, measurement, low, high);
        if (scope?.MatchesOf(database, measurement) is { Count: > 0 } matches)
        {
            files.RemoveAll(f => f.TagRanges is not null && matches.Exists(m => f.Excludes(m.Column, m.Values)));
        }

        hot = files.RemoveAll(f => f.Retained is not null);
        return files;
    }

    /// <summary>The paths one call lists for a measurement under the current scope.</summary>
    internal static List<string> List(Catalog catalog, string database, string measurement)
    {
        var files = Needed(catalog, database, measurement, out var hot);
        var paths = files.ConvertAll(f => f.Path);
        catalog.Manifest.Opened(paths);
        QueryFileScope.Current?.Counted(database, measurement, files.Count, catalog.Manifest.Files(database, measurement).Length - files.Count - hot, hot);
        return [catalog.SchemaFile(database, measurement), .. paths];
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Invoke(IntPtr info, IntPtr input, IntPtr output)
    {
        try
        {
            var (catalog, rows, databases, measurements) = Arguments<Catalog>(info, input);
            var entries = (ulong*)NativeMethods.Vectors.DuckDBVectorGetData(output);
            ulong size = 0;
            for (var row = 0; row < rows; row++)
            {
                var (database, measurement) = Names(databases, measurements, row);
                var paths = database is null || measurement is null ? [] : List(catalog, database, measurement);
                if (NativeMethods.Vectors.DuckDBListVectorReserve(output, size + (ulong)paths.Count) != DuckDBState.Success)
                {
                    throw new InvalidOperationException("could not grow the file list");
                }

                var child = NativeMethods.Vectors.DuckDBListVectorGetChild(output); // after reserving: it may have moved
                for (var i = 0; i < paths.Count; i++)
                {
                    NativeMethods.Vectors.DuckDBVectorAssignStringElement(child, size + (ulong)i, paths[i]);
                }

                entries[row * 2] = size;
                entries[(row * 2) + 1] = (ulong)paths.Count;
                size += (ulong)paths.Count;
                NativeMethods.Vectors.DuckDBListVectorSetSize(output, size);
            }
        }
        catch (Exception e)
        {
            NativeMethods.ScalarFunction.DuckDBScalarFunctionSetError(info, $"{Catalog.FilesFunction}: {e.Message}");
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void InvokeUnion(IntPtr info, IntPtr input, IntPtr output)
    {
        try
        {
            var (catalog, rows, databases, measurements) = Arguments<Catalog>(info, input);
            var results = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(output);
            for (var row = 0; row < rows; row++)
            {
                var (database, measurement) = Names(databases, measurements, row);
                var entry = database is null || measurement is null ? null : catalog.FindMeasurement(database, measurement);
                results[row] = (byte)(entry is null || catalog.UnionNeeded(entry, Needed(catalog, entry.Database, entry.Name, out _)) ? 1 : 0);
            }
        }
        catch (Exception e)
        {
            NativeMethods.ScalarFunction.DuckDBScalarFunctionSetError(info, $"{Catalog.UnionFunction}: {e.Message}");
        }
    }

    /// <summary>
    /// Whether the statement being bound reads rows of the measurement held in memory (<c>arc_buffer</c>): any buffered, being
    /// flushed or kept in memory whose time falls in its range, or a column its files do not have. The upper bound is
    /// widened by 100 ns, what reading a literal's digits can cut (<see cref="QueryFiles"/>); the lower one is used as
    /// <c>arc_buffer</c> uses it.
    /// </summary>
    private static bool ReadsBuffer(IBufferSnapshotSource buffers, Catalog.MeasurementEntry entry)
    {
        var (low, high) = QueryFileScope.RangeOf(entry.Database, entry.Name);
        return buffers.Holds(entry.Database, entry.Name, low, high > long.MaxValue - 100 ? long.MaxValue : high + 100, entry.FileColumns);
    }

    /// <summary>
    /// Whether the statement reads the measurement from memory alone (<see cref="Catalog.MemorySource"/>): it needs none of
    /// its Parquet files (its range holds only rows in memory, or none; DESCRIBE), the schema file's types are plain, and
    /// each column the rows in memory can have is of the type the schema file gives it, so no type is widened as the by-name
    /// union would. The files it leaves out are counted as <see cref="List"/> counts them.
    /// </summary>
    private static bool InMemory(Catalog catalog, Catalog.MeasurementEntry entry)
    {
        if (entry.FileSchema is not { } schema || entry.SchemaStale)
        {
            return false;
        }

        var files = Needed(catalog, entry.Database, entry.Name, out var hot);
        if (files.Count > 0)
        {
            return false;
        }

        var claimed = entry.LoadedSchema;
        foreach (var (name, type) in schema)
        {
            var kind = name.Equals(ColumnSet.TimeColumn, StringComparison.OrdinalIgnoreCase) ? ColumnKind.Time : claimed?.KindOf(name);
            if (kind is { } k && BufferScan.TypeOf(k) != type)
            {
                return false;
            }
        }

        QueryFileScope.Current?.Counted(entry.Database, entry.Name, 0, catalog.Manifest.Files(entry.Database, entry.Name).Length - hot, hot);
        return true;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void InvokeSource(IntPtr info, IntPtr input, IntPtr output)
    {
        try
        {
            var (sources, rows, databases, measurements) = Arguments<Sources>(info, input);
            for (var row = 0; row < rows; row++)
            {
                var (database, measurement) = Names(databases, measurements, row);
                if (database is null || measurement is null)
                {
                    throw new InvalidOperationException("no measurement named");
                }

                // A measurement dropped meanwhile (a flush placing its files races the drop) reads whatever is left.
                var sql = sources.Catalog.Entry(database, measurement) is { } entry
                    ? InMemory(sources.Catalog, entry) ? entry.SourceInMemory : entry.Source(buffered: ReadsBuffer(sources.Buffers, entry))
                    : Catalog.ViewSource(database, measurement, buffered: true);
                NativeMethods.Vectors.DuckDBVectorAssignStringElement(output, (ulong)row, sql);
            }
        }
        catch (Exception e)
        {
            NativeMethods.ScalarFunction.DuckDBScalarFunctionSetError(info, $"{Catalog.SourceFunction}: {e.Message}");
        }
    }

    /// <summary>A call's state (the function's extra info), its row count, and its database and measurement vectors.</summary>
    private static (T State, int Rows, IntPtr Databases, IntPtr Measurements) Arguments<T>(IntPtr info, IntPtr input) =>
        ((T)GCHandle.FromIntPtr(NativeMethods.ScalarFunction.DuckDBScalarFunctionGetExtraInfo(info)).Target!,
            (int)DuckDbExtra.DataChunkGetSize(input), DuckDbExtra.DataChunkGetVector(input, 0), DuckDbExtra.DataChunkGetVector(input, 1));

    private static (string? Database, string? Measurement) Names(IntPtr databases, IntPtr measurements, int row) =>
        (VectorText.Format(databases, DuckDBType.Varchar, row), VectorText.Format(measurements, DuckDBType.Varchar, row));

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void FreeHandle(IntPtr handle) => GCHandle.FromIntPtr(handle).Free();

    private sealed record Sources(Catalog Catalog, IBufferSnapshotSource Buffers);
}

using System.Runtime.InteropServices;

namespace Arc.Engine.DuckDb;

/// <summary>
/// C API entry points that DuckDB.NET.Bindings does not expose (or exposes only with an owning SafeHandle). Kept to the
/// minimum the design needs: registering an Arrow stream as a view (<c>duckdb_arrow_scan</c>), reading a prepared
/// statement's type before it runs (<c>duckdb_prepared_statement_type</c>), the Arrow options of a result built in C#,
/// filling the chunks DuckDB lends to the buffer table function and the file list function, and letting that table
/// function scan on several threads.
/// </summary>
internal static partial class DuckDbExtra
{
    private const string Library = "duckdb";

    /// <summary>DuckDB's statement type codes for the two read-only statement kinds (duckdb.h, duckdb_statement_type).</summary>
    internal const int StatementTypeSelect = 1;
    internal const int StatementTypeExplain = 4;

    [LibraryImport(Library, EntryPoint = "duckdb_arrow_scan", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int ArrowScan(IntPtr connection, string tableName, IntPtr arrowArrayStream);

    // The Arrow options of a result built in C# (DuckDbResultBuilder): its connection's, as DuckDB's own results get them.
    [LibraryImport(Library, EntryPoint = "duckdb_connection_get_arrow_options")]
    internal static partial void ConnectionGetArrowOptions(IntPtr connection, out DuckDB.NET.Native.DuckDBArrowOptions options);

    [LibraryImport(Library, EntryPoint = "duckdb_prepared_statement_type")]
    internal static partial int PreparedStatementType(IntPtr preparedStatement);

    // The bindings take a SafeHandle for data chunks, which would free a chunk DuckDB lends to a table function callback.
    [LibraryImport(Library, EntryPoint = "duckdb_data_chunk_get_vector")]
    internal static partial IntPtr DataChunkGetVector(IntPtr chunk, ulong columnIndex);

    [LibraryImport(Library, EntryPoint = "duckdb_data_chunk_get_size")]
    internal static partial ulong DataChunkGetSize(IntPtr chunk);

    [LibraryImport(Library, EntryPoint = "duckdb_data_chunk_set_size")]
    internal static partial void DataChunkSetSize(IntPtr chunk, ulong size);

    // A table function scanned by several threads at once: a state per thread, and how many threads may scan.
    [LibraryImport(Library, EntryPoint = "duckdb_table_function_set_local_init")]
    internal static unsafe partial void TableFunctionSetLocalInit(IntPtr function, delegate* unmanaged[Cdecl]<IntPtr, void> init);

    [LibraryImport(Library, EntryPoint = "duckdb_init_set_max_threads")]
    internal static partial void InitSetMaxThreads(IntPtr info, ulong threads);

    [LibraryImport(Library, EntryPoint = "duckdb_function_get_local_init_data")]
    internal static partial IntPtr FunctionGetLocalInitData(IntPtr info);
}

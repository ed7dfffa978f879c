using System.Diagnostics;
using DuckDB.NET.Native;

namespace Arc.ClickBench;

/// <summary>
/// Raw DuckDB (the library arc-native embeds: DuckDB.NET.Bindings.Full's libduckdb) over the generated Parquet, set up as
/// ClickBench's duckdb-parquet entry does (create.sql: a view with <c>binary_as_string</c> and <c>make_date(EventDate)</c>, the
/// <c>toDateTime</c> macro), so the official queries run unchanged. One instance per query: the first try is cold (fresh
/// instance, page cache dropped), the next two are hot in the same instance, as the pre-2026 ClickBench run.sh did.
/// </summary>
internal sealed class RawDuckDb : IDisposable
{
    private readonly DuckDBDatabase _database;
    private readonly DuckDBNativeConnection _connection;

    private RawDuckDb(DuckDBDatabase database, DuckDBNativeConnection connection)
    {
        _database = database;
        _connection = connection;
    }

    public static string Version => NativeMethods.Startup.DuckDBLibraryVersion();

    /// <summary>Opens an in-memory instance with the hits view over <paramref name="parquet"/> (a file or a glob).</summary>
    public static RawDuckDb Open(string parquet)
    {
        if (NativeMethods.Startup.DuckDBOpen(":memory:", out var database) != DuckDBState.Success)
        {
            throw new InvalidOperationException("could not open DuckDB");
        }

        if (NativeMethods.Startup.DuckDBConnect(database, out var connection) != DuckDBState.Success)
        {
            throw new InvalidOperationException("could not connect to DuckDB");
        }

        var raw = new RawDuckDb(database, connection);
        raw.Execute($"CREATE VIEW hits AS SELECT * REPLACE (make_date(EventDate) AS EventDate) FROM read_parquet('{parquet.Replace("'", "''", StringComparison.Ordinal)}', binary_as_string=True)");
        raw.Execute("CREATE MACRO toDateTime(t) AS epoch_ms(t * 1000)");
        raw.Execute("SET parquet_metadata_cache=true");
        return raw;
    }

    public void Execute(string sql)
    {
        var state = NativeMethods.Query.DuckDBQuery(_connection, sql, out var result);
        try
        {
            if (state != DuckDBState.Success)
            {
                throw new InvalidOperationException(NativeMethods.Query.DuckDBResultError(ref result) + " in: " + sql);
            }
        }
        finally
        {
            NativeMethods.Query.DuckDBDestroyResult(ref result);
        }
    }

    /// <summary>Runs a query and reads its whole result as text; the time covers both.</summary>
    public (double Seconds, QueryResult Result) Run(string sql)
    {
        var clock = Stopwatch.StartNew();
        var state = NativeMethods.Query.DuckDBQuery(_connection, sql, out var result);
        try
        {
            if (state != DuckDBState.Success)
            {
                throw new InvalidOperationException(NativeMethods.Query.DuckDBResultError(ref result) + " in: " + sql);
            }

            var columnCount = (long)NativeMethods.Query.DuckDBColumnCount(ref result);
            var rowCount = (long)NativeMethods.Query.DuckDBRowCount(ref result);
            var columns = new string[columnCount];
            for (var c = 0; c < columnCount; c++)
            {
                columns[c] = NativeMethods.Query.DuckDBColumnName(ref result, c) ?? "";
            }

            var rows = new List<string?[]>((int)rowCount);
            for (long r = 0; r < rowCount; r++)
            {
                var row = new string?[columnCount];
                for (var c = 0; c < columnCount; c++)
                {
                    var text = NativeMethods.Types.DuckDBValueVarchar(ref result, c, r);
                    row[c] = text == IntPtr.Zero ? null : System.Runtime.InteropServices.Marshal.PtrToStringUTF8(text);
                    if (text != IntPtr.Zero)
                    {
                        NativeMethods.Helpers.DuckDBFree(text);
                    }
                }

                rows.Add(row);
            }

            return (clock.Elapsed.TotalSeconds, new QueryResult(columns, rows));
        }
        finally
        {
            NativeMethods.Query.DuckDBDestroyResult(ref result);
        }
    }

    public void Dispose()
    {
        _connection.Dispose();
        _database.Dispose();
    }
}

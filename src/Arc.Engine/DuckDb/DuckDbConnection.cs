using System.Diagnostics;
using DuckDB.NET.Native;

namespace Arc.Engine.DuckDb;

/// <summary>A DuckDB connection. Not thread-safe: one user at a time (the query side pools them).</summary>
public sealed class DuckDbConnection : IDisposable
{
    private readonly DuckDBNativeConnection _handle;

    internal DuckDbConnection(DuckDBNativeConnection handle) => _handle = handle;

    internal DuckDBNativeConnection Handle => _handle;

    /// <summary>The default schema this connection resolves unqualified names in; cached to skip redundant SETs.</summary>
    internal string? SearchPath { get; set; }

    /// <summary>When the pool handed this connection out (<see cref="Stopwatch"/> ticks), for the execution-time metrics.</summary>
    internal long RentedAt { get; set; }

    /// <summary>Which of the query pool's DuckDB instances this connection belongs to (the pool replaces its instance on a renewal).</summary>
    internal int Generation { get; set; }

    /// <summary>
    /// Whether <see cref="BeginTransaction"/> opened a transaction that is still open. The query engine runs a statement whose
    /// time bounds use DuckDB's clock in one, so the bounds and the statement share <c>now()</c> (the transaction's start);
    /// the pool ends it when it takes the connection back.
    /// </summary>
    internal bool InTransaction { get; private set; }

    /// <summary>
    /// Starts a transaction, rolling back the one this connection still has open (<see cref="EndTransaction"/>): the
    /// statements from here see one <c>now()</c> and one catalog.
    /// </summary>
    internal void BeginTransaction()
    {
        EndTransaction();
        Execute("BEGIN TRANSACTION");
        InTransaction = true;
    }

    /// <summary>
    /// Rolls back the transaction <see cref="BeginTransaction"/> opened, if any (the query side only reads, so nothing is
    /// lost); throws when DuckDB refuses, and the connection's state is then unknown.
    /// </summary>
    internal void EndTransaction()
    {
        if (InTransaction)
        {
            InTransaction = false;
            Execute("ROLLBACK");
        }
    }

    /// <summary>Runs statements whose result is not needed.</summary>
    public void Execute(string sql)
    {
        var state = NativeMethods.Query.DuckDBQuery(_handle, sql, out var result);
        try
        {
            if (state != DuckDBState.Success)
            {
                throw DuckDbQueryResult.Error(ref result);
            }
        }
        finally
        {
            NativeMethods.Query.DuckDBDestroyResult(ref result);
        }
    }

    /// <summary>Runs a query and returns its whole (small) result as rows of strings; for catalog and test use.</summary>
    public List<string?[]> QueryStrings(string sql)
    {
        using var result = DuckDbQueryResult.Run(this, sql);
        var rows = new List<string?[]>();
        while (result.FetchChunk() is { } chunk)
        {
            using (chunk)
            {
                var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
                var columns = result.ColumnCount;
                for (var r = 0; r < size; r++)
                {
                    rows.Add(new string?[columns]);
                }

                for (var c = 0; c < columns; c++)
                {
                    var vector = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, c);
                    for (var r = 0; r < size; r++)
                    {
                        rows[^(size - r)][c] = VectorText.Format(vector, result.GetColumnTypeId(c), r);
                    }
                }
            }
        }

        return rows;
    }

    /// <summary>
    /// Registers an Arrow C stream as a view named <paramref name="viewName"/>. DuckDB takes ownership of the stream on its
    /// first scan, so the view can be read once.
    /// </summary>
    internal unsafe void RegisterArrowStream(string viewName, Apache.Arrow.C.CArrowArrayStream* arrowArrayStream)
    {
        if (DuckDbExtra.ArrowScan(_handle.DangerousGetHandle(), viewName, (IntPtr)arrowArrayStream) != 0)
        {
            throw new DuckDbException($"could not register Arrow stream '{viewName}'");
        }
    }

    /// <summary>Asks DuckDB to stop the statement running on this connection (from any thread).</summary>
    public void Interrupt() => NativeMethods.Startup.DuckDBInterrupt(_handle);

    public void Dispose() => _handle.Dispose();
}

/// <summary>Reads single values out of DuckDB vectors as text (slow path: catalog queries and tests, not query output).</summary>
internal static unsafe class VectorText
{
    public static string? Format(IntPtr vector, DuckDBType type, int row)
    {
        var validity = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);
        if (validity != null && (validity[row >> 6] & (1UL << (row & 63))) == 0)
        {
            return null;
        }

        var data = NativeMethods.Vectors.DuckDBVectorGetData(vector);
        return type switch
        {
            DuckDBType.Boolean => ((byte*)data)[row] != 0 ? "true" : "false",
            DuckDBType.TinyInt => ((sbyte*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.SmallInt => ((short*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.Integer => ((int*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.BigInt => ((long*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.UnsignedTinyInt => ((byte*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.UnsignedSmallInt => ((ushort*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.UnsignedInteger => ((uint*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.UnsignedBigInt => ((ulong*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.Float => ((float*)data)[row].ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.Double => ((double*)data)[row].ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            DuckDBType.Varchar => DuckDbStrings.Read((byte*)data + (row * 16)),
            DuckDBType.TimestampNs or DuckDBType.Timestamp or DuckDBType.TimestampTz or DuckDBType.TimestampMs
                or DuckDBType.TimestampS => ((long*)data)[row].ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new NotSupportedException($"VectorText does not format DuckDB type {type}"),
        };
    }
}

/// <summary>duckdb_string_t: 16 bytes; length (uint32), then up to 12 inlined bytes, or a 4-byte prefix and a pointer.</summary>
internal static unsafe class DuckDbStrings
{
    public static ReadOnlySpan<byte> Span(byte* stringT)
    {
        var length = *(uint*)stringT;
        return length <= 12
            ? new ReadOnlySpan<byte>(stringT + 4, (int)length)
            : new ReadOnlySpan<byte>(*(byte**)(stringT + 8), (int)length);
    }

    public static string Read(byte* stringT) => System.Text.Encoding.UTF8.GetString(Span(stringT));
}

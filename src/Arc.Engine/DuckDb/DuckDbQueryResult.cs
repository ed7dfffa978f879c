using DuckDB.NET.Native;

namespace Arc.Engine.DuckDb;

/// <summary>
/// A streaming query result: chunks are produced by DuckDB as they are fetched. Or a result built in memory
/// (<see cref="DuckDbResultBuilder"/>), whose chunks were made before the first fetch.
/// </summary>
public sealed partial class DuckDbQueryResult : IDisposable
{
    private DuckDBResult _result;
    private readonly DuckDBType[] _typeIds;
    private readonly DuckDBLogicalType[] _types;
    private readonly string[] _names;
    private readonly Queue<DuckDBDataChunk>? _built;
    private readonly DuckDbConnection? _builtOn;
    private bool _disposed;

    /// <summary>A built result: it owns <paramref name="types"/> and <paramref name="chunks"/>.</summary>
    internal DuckDbQueryResult(string[] names, DuckDBType[] typeIds, DuckDBLogicalType[] types, Queue<DuckDBDataChunk> chunks,
        DuckDbConnection connection)
    {
        _names = names;
        _typeIds = typeIds;
        _types = types;
        _built = chunks;
        _builtOn = connection;
    }

    private DuckDbQueryResult(DuckDBResult result)
    {
        _result = result;
        var count = (int)NativeMethods.Query.DuckDBColumnCount(ref _result);
        _typeIds = new DuckDBType[count];
        _types = new DuckDBLogicalType[count];
        _names = new string[count];
        for (var i = 0; i < count; i++)
        {
            _names[i] = NativeMethods.Query.DuckDBColumnName(ref _result, i);
            _types[i] = NativeMethods.Query.DuckDBColumnLogicalType(ref _result, i);
            _typeIds[i] = NativeMethods.LogicalType.DuckDBGetTypeId(_types[i]);
        }
    }

    public int ColumnCount => _names.Length;

    public string GetColumnName(int index) => _names[index];

    public DuckDBType GetColumnTypeId(int index) => _typeIds[index];

    public DuckDBLogicalType GetColumnType(int index) => _types[index];

    /// <summary>Runs <paramref name="sql"/> as a plain (non-prepared) query.</summary>
    public static DuckDbQueryResult Run(DuckDbConnection connection, string sql)
    {
        var state = NativeMethods.Query.DuckDBQuery(connection.Handle, sql, out var result);
        if (state != DuckDBState.Success)
        {
            var error = Error(ref result);
            NativeMethods.Query.DuckDBDestroyResult(ref result);
            throw error;
        }

        return new DuckDbQueryResult(result);
    }

    /// <summary>Executes a prepared statement, streaming its result.</summary>
    internal static DuckDbQueryResult ExecuteStreaming(DuckDBPreparedStatement statement)
    {
        var state = NativeMethods.PreparedStatements.DuckDBExecutePreparedStreaming(statement, out var result);
        if (state != DuckDBState.Success)
        {
            var error = Error(ref result);
            NativeMethods.Query.DuckDBDestroyResult(ref result);
            throw error;
        }

        return new DuckDbQueryResult(result);
    }

    /// <summary>The next chunk, or null at the end. Throws if the query failed while producing it.</summary>
    public DuckDBDataChunk? FetchChunk()
    {
        if (_built is not null)
        {
            return _built.TryDequeue(out var next) ? next : null;
        }

        while (true)
        {
            var chunk = NativeMethods.Query.DuckDBFetchChunk(_result);
            if (!chunk.IsInvalid && NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk) > 0)
            {
                return chunk;
            }

            var exhausted = chunk.IsInvalid;
            chunk.Dispose();
            if (exhausted)
            {
                return string.IsNullOrEmpty(NativeMethods.Query.DuckDBResultError(ref _result)) ? null : throw Error(ref _result);
            }
        }
    }

    /// <summary>The failure a result reports: DuckDB's message and its error class.</summary>
    internal static DuckDbException Error(ref DuckDBResult result) =>
        new(NativeMethods.Query.DuckDBResultError(ref result) ?? "query failed", NativeMethods.Query.DuckDBResultErrorType(ref result));

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var type in _types)
        {
            type.Dispose();
        }

        if (_built is null)
        {
            NativeMethods.Query.DuckDBDestroyResult(ref _result);
            return;
        }

        while (_built.TryDequeue(out var chunk))
        {
            chunk.Dispose();
        }
    }
}

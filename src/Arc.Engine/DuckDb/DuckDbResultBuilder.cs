using System.Text;
using DuckDB.NET.Native;

namespace Arc.Engine.DuckDb;

/// <summary>
/// A small result the server knows without running a statement (the catalog's listings, a plan with its paths hidden),
/// built in memory as DuckDB data chunks of VARCHAR, BIGINT and DOUBLE columns. <see cref="Build"/> hands them to a
/// <see cref="DuckDbQueryResult"/>, so they flow through the same result writers (JSON, CSV, MessagePack, Arrow) as a
/// query's rows, with nothing parsed, bound or scheduled by DuckDB. Rows are added with <see cref="AddRow"/>, then each
/// column's value set; a column left unset in a row is null.
/// </summary>
internal sealed unsafe class DuckDbResultBuilder : IDisposable
{
    private static readonly int ChunkRows = (int)NativeMethods.Helpers.DuckDBVectorSize();

    private readonly string[] _names;
    private readonly DuckDBType[] _typeIds;
    private readonly DuckDBLogicalType[] _types;
    private readonly Queue<DuckDBDataChunk> _chunks = new();
    private readonly bool[] _set;
    private DuckDBDataChunk? _current;
    private int _rows;
    private bool _built;

    /// <summary>The rows added so far.</summary>
    public long RowCount { get; private set; }

    public DuckDbResultBuilder(params ReadOnlySpan<(string Name, DuckDBType Type)> columns)
    {
        _names = new string[columns.Length];
        _typeIds = new DuckDBType[columns.Length];
        _types = new DuckDBLogicalType[columns.Length];
        _set = new bool[columns.Length];
        for (var i = 0; i < columns.Length; i++)
        {
            if (columns[i].Type is not (DuckDBType.Varchar or DuckDBType.BigInt or DuckDBType.Double))
            {
                throw new ArgumentException($"column '{columns[i].Name}': only VARCHAR, BIGINT and DOUBLE columns can be built", nameof(columns));
            }

            _names[i] = columns[i].Name;
            _typeIds[i] = columns[i].Type;
            _types[i] = NativeMethods.LogicalType.DuckDBCreateLogicalType(columns[i].Type);
        }
    }

    /// <summary>Starts a row (its columns null until set).</summary>
    public void AddRow()
    {
        EndRow();
        if (_current is null || _rows == ChunkRows)
        {
            Seal();
            var handles = new IntPtr[_types.Length];
            for (var i = 0; i < handles.Length; i++)
            {
                handles[i] = _types[i].DangerousGetHandle();
            }

            _current = NativeMethods.DataChunks.DuckDBCreateDataChunk(handles, (ulong)handles.Length);
        }

        _rows++;
        RowCount++;
    }

    public void Set(int column, string? value)
    {
        Check(column, DuckDBType.Varchar);
        if (value is null)
        {
            return;
        }

        var length = Encoding.UTF8.GetByteCount(value);
        Span<byte> small = stackalloc byte[256];
        var bytes = length <= small.Length ? small[..length] : new byte[length];
        Encoding.UTF8.GetBytes(value, bytes);
        fixed (byte* pointer = bytes)
        {
            NativeMethods.Vectors.DuckDBVectorAssignStringElementLength(Vector(column), (ulong)(_rows - 1), pointer, length);
        }

        _set[column] = true;
    }

    public void Set(int column, long value)
    {
        Check(column, DuckDBType.BigInt);
        ((long*)NativeMethods.Vectors.DuckDBVectorGetData(Vector(column)))[_rows - 1] = value;
        _set[column] = true;
    }

    public void Set(int column, double value)
    {
        Check(column, DuckDBType.Double);
        ((double*)NativeMethods.Vectors.DuckDBVectorGetData(Vector(column)))[_rows - 1] = value;
        _set[column] = true;
    }

    /// <summary>
    /// The result, owning the chunks and column types from here (the builder is spent). <paramref name="connection"/>
    /// gives the Arrow options DuckDB would use for a result of its own.
    /// </summary>
    public DuckDbQueryResult Build(DuckDbConnection connection)
    {
        EndRow();
        Seal();
        _built = true;
        return new DuckDbQueryResult(_names, _typeIds, _types, _chunks, connection);
    }

    private void Check(int column, DuckDBType type)
    {
        if (_current is null || _typeIds[column] != type)
        {
            throw new InvalidOperationException(_current is null ? "no row was added" : $"column '{_names[column]}' is {_typeIds[column]}, not {type}");
        }
    }

    private IntPtr Vector(int column) => NativeMethods.DataChunks.DuckDBDataChunkGetVector(_current!, column);

    /// <summary>Marks the columns the current row did not set as null.</summary>
    private void EndRow()
    {
        if (_current is null)
        {
            return;
        }

        for (var column = 0; column < _set.Length; column++)
        {
            if (!_set[column])
            {
                var vector = Vector(column);
                NativeMethods.Vectors.DuckDBVectorEnsureValidityWritable(vector);
                var row = _rows - 1;
                NativeMethods.Vectors.DuckDBVectorGetValidity(vector)[row >> 6] &= ~(1UL << (row & 63));
            }

            _set[column] = false;
        }
    }

    private void Seal()
    {
        if (_current is not null)
        {
            NativeMethods.DataChunks.DuckDBDataChunkSetSize(_current, (ulong)_rows);
            _chunks.Enqueue(_current);
            _current = null;
            _rows = 0;
        }
    }

    public void Dispose()
    {
        if (_built)
        {
            return;
        }

        _built = true;
        _current?.Dispose();
        while (_chunks.TryDequeue(out var chunk))
        {
            chunk.Dispose();
        }

        foreach (var type in _types)
        {
            type.Dispose();
        }
    }
}

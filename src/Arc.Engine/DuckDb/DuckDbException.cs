using DuckDB.NET.Native;

namespace Arc.Engine.DuckDb;

/// <summary>An error reported by DuckDB; <see cref="Exception.Message"/> is DuckDB's own message.</summary>
public sealed class DuckDbException(string message, DuckDBErrorType errorType = DuckDBErrorType.Invalid) : Exception(message)
{
    /// <summary>DuckDB's error class when it reported one (<c>duckdb_result_error_type</c>), else <see cref="DuckDBErrorType.Invalid"/>.</summary>
    public DuckDBErrorType ErrorType { get; } = errorType;
}

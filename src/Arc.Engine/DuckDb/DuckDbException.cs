using Arc.Engine.Errors;
using DuckDB.NET.Native;

namespace Arc.Engine.DuckDb;

/// <summary>
/// An error reported by DuckDB; <see cref="Exception.Message"/> is DuckDB's own message. Reaching a client, it is about
/// the client's statement (syntax, binding, a failing expression, the time limit): <see cref="ErrorReason.Invalid"/>.
/// </summary>
public sealed class DuckDbException(string message, DuckDBErrorType errorType = DuckDBErrorType.Invalid) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.Invalid;

    /// <summary>DuckDB's error class when it reported one (<c>duckdb_result_error_type</c>), else <see cref="DuckDBErrorType.Invalid"/>.</summary>
    public DuckDBErrorType ErrorType { get; } = errorType;
}

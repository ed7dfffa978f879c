namespace Arc.Engine.Errors;

/// <summary>
/// Why the engine refused a request or could not serve it. Every exception the engine lets reach a client carries one
/// (<see cref="IHasErrorReason"/>); the host maps each reason to one HTTP status in a single table
/// (<c>Arc.Native.Http.ErrorResponses</c>), so an engine error means the same status on every route.
/// </summary>
public enum ErrorReason
{
    /// <summary>The request is wrong: bad SQL, a statement that may not run, a type DuckDB cannot send.</summary>
    Invalid,

    /// <summary>The token may not do this (a database outside its scope, the catalog without admin).</summary>
    Forbidden,

    /// <summary>What the request names does not exist (a measurement).</summary>
    NotFound,

    /// <summary>What the request would create exists already (a database).</summary>
    Conflict,

    /// <summary>A size the client controls is over its limit.</summary>
    TooLarge,

    /// <summary>A dependency is down for now (object storage): try again later.</summary>
    Unavailable,

    /// <summary>The server is at capacity (the query queue): try again shortly.</summary>
    Busy,

    /// <summary>The server could not make the data durable (the write-ahead log failed): nothing of the request was stored.</summary>
    StorageFailed,
}

/// <summary>An exception that says why, for the host's status table.</summary>
public interface IHasErrorReason
{
    ErrorReason Reason { get; }
}

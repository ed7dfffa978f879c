namespace Arc.Engine.Errors;

/// <summary>A write into a database or measurement while it is being dropped: retry once the drop finished (503).</summary>
public sealed class DropInProgressException(string message) : IOException(message), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.Busy;
}

/// <summary>A database operation refused or impossible for the reason given (bad name, not found, ...).</summary>
public sealed class DatabaseOperationException(ErrorReason reason, string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason { get; } = reason;
}

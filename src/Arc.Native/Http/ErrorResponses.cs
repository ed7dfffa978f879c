using Arc.Engine.Errors;

namespace Arc.Native.Http;

/// <summary>
/// The one table from the engine's <see cref="ErrorReason"/> to an HTTP status: every route answers an engine error the
/// same way, as <c>{"success":false,"error":"..."}</c> with the engine's message.
/// </summary>
internal static class ErrorResponses
{
    /// <summary>The status of each reason, and the <c>Retry-After</c> seconds it carries (0: none).</summary>
    public static (int Status, int RetryAfterSeconds) Of(ErrorReason reason) => reason switch
    {
        ErrorReason.Invalid => (StatusCodes.Status400BadRequest, 0),
        ErrorReason.Forbidden => (StatusCodes.Status403Forbidden, 0),
        ErrorReason.NotFound => (StatusCodes.Status404NotFound, 0),
        ErrorReason.Conflict => (StatusCodes.Status409Conflict, 0),
        ErrorReason.TooLarge => (StatusCodes.Status413PayloadTooLarge, 0),
        ErrorReason.Unavailable => (StatusCodes.Status503ServiceUnavailable, 5),
        ErrorReason.Busy => (StatusCodes.Status503ServiceUnavailable, 1),
        ErrorReason.StorageFailed => (StatusCodes.Status507InsufficientStorage, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "a reason without a status"),
    };

    /// <summary>Whether <paramref name="e"/> is an error the engine reports to clients (and why).</summary>
    public static bool IsReported(Exception e, out ErrorReason reason)
    {
        if (e is IHasErrorReason reasoned)
        {
            reason = reasoned.Reason;
            return true;
        }

        reason = default;
        return false;
    }

    /// <summary>Answers <paramref name="e"/>'s reason with its status (and <c>Retry-After</c>) and its message, or
    /// <paramref name="message"/> when the route adds to it (what of the request was stored).</summary>
    public static Task WriteAsync(HttpContext context, Exception e, string? message = null) =>
        WriteAsync(context, ((IHasErrorReason)e).Reason, message ?? e.Message);

    /// <summary>Answers a failed outcome of the engine: its reason's status (and <c>Retry-After</c>) with its message.</summary>
    public static Task WriteAsync(HttpContext context, ErrorReason reason, string message)
    {
        var (status, retryAfter) = Of(reason);
        if (retryAfter > 0)
        {
            context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return WriteEndpoints.Error(context, status, message);
    }
}

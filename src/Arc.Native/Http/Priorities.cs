using Arc.Engine.Auth;
using Arc.Engine.Query;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>Query priorities on the wire: <c>x-arc-query-priority</c> or the body's <c>"priority"</c>.</summary>
internal static class Priorities
{
    public const string Header = "x-arc-query-priority";

    public static string Name(QueryPriority priority) => priority switch
    {
        QueryPriority.Low => "low",
        QueryPriority.High => "high",
        QueryPriority.Critical => "critical",
        _ => "normal",
    };

    public static bool TryParse(string text, out QueryPriority priority)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "low":
                priority = QueryPriority.Low;
                return true;
            case "" or "normal":
                priority = QueryPriority.Normal;
                return true;
            case "high":
                priority = QueryPriority.High;
                return true;
            case "critical":
                priority = QueryPriority.Critical;
                return true;
            default:
                priority = QueryPriority.Normal;
                return false;
        }
    }

    /// <summary>
    /// The request's priority: the header, else <paramref name="bodyValue"/>, else normal. Null after writing a 400 (unknown
    /// value) or a 403 (critical is reserved for admin tokens).
    /// </summary>
    public static async Task<QueryPriority?> ResolveAsync(HttpContext context, string? bodyValue = null)
    {
        var text = context.Request.Headers[Header].ToString();
        if (text.Length == 0)
        {
            text = bodyValue ?? "";
        }

        if (!TryParse(text, out var priority))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest,
                $"invalid query priority '{text}': use low, normal, high or critical").ConfigureAwait(false);
            return null;
        }

        if (priority == QueryPriority.Critical && context.Token() is { } token && !token.Has(Permission.Admin))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status403Forbidden,
                $"token '{token.Name}' may not use the critical query priority (admin only)").ConfigureAwait(false);
            return null;
        }

        return priority;
    }
}

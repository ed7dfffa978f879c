using System.Diagnostics;
using Arc.Engine;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// <c>POST /api/v1/query</c>: SQL in, Arc's JSON out, streamed chunk by chunk (gzip/zstd when the client accepts it).
/// Errors found before the first row (syntax, unknown table, refused statement) are a 400 with DuckDB's message; a
/// failure after the response started aborts the connection, so a client never mistakes a truncated result for a
/// complete one. The other outputs are in <see cref="QueryOutputEndpoints"/>; the request handling is shared
/// (<see cref="QueryRequests"/>).
/// </summary>
internal static class QueryEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapPost("/api/v1/query", QueryAsync).Requires(Permission.Read);
        QueryOutputEndpoints.Map(app);
    }

    private static async Task QueryAsync(HttpContext context, ArcEngine engine, ILoggerFactory loggers)
    {
        var start = Stopwatch.GetTimestamp();
        using var cursor = await QueryRequests.OpenAsync(context, engine).ConfigureAwait(false);
        if (cursor is not null)
        {
            await QueryRequests.WriteJsonAsync(context, cursor, start, loggers).ConfigureAwait(false);
        }
    }
}

using System.Diagnostics;
using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Engine.Query;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// <c>POST /api/v1/query</c>: SQL in, Arc's JSON out (gzip/zstd when the client accepts it): from the result cache, or
/// encoded in memory up to <c>query.result_buffer_size</c> and then streamed chunk by chunk (<see cref="QueryExecution"/>).
/// Errors found before the response starts (syntax, unknown table, refused statement, a failure within the buffered part)
/// are a 400 with DuckDB's message; a failure after the response started aborts the connection, so a client never
/// mistakes a truncated result for a complete one. The other outputs are in <see cref="QueryOutputEndpoints"/>; the
/// request handling is shared (<see cref="QueryRequests"/>).
/// </summary>
internal static class QueryEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapPost("/api/v1/query", QueryAsync).Requires(Permission.Read);
        QueryOutputEndpoints.Map(app);
    }

    private static Task QueryAsync(HttpContext context, ArcEngine engine) =>
        QueryExecution.RunAsync(context, engine, QueryOutputFormat.Json, Stopwatch.GetTimestamp());
}

using System.Diagnostics;
using System.Text.Json;
using Arc.Engine;
using Arc.Engine.DuckDb;
using Arc.Engine.Query;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// <c>POST /api/v1/query</c>: SQL in, Arc's JSON out, streamed chunk by chunk. Errors found before the first row (syntax,
/// unknown table, refused statement) are a 400 with DuckDB's message; a failure after the response started aborts the
/// connection, so a client never mistakes a truncated result for a complete one.
/// </summary>
internal static class QueryEndpoints
{
    private const long MaxQueryBodyBytes = 1 << 20;

    public static void Map(WebApplication app)
    {
        app.MapPost("/api/v1/query", QueryAsync).Requires(Permission.Read);
    }

    private static async Task QueryAsync(HttpContext context, ArcEngine engine, ILoggerFactory loggers)
    {
        var start = Stopwatch.GetTimestamp();
        QueryRequest? request;
        try
        {
            var body = new LimitedReadStream(context.Request.Body, MaxQueryBodyBytes, "the query body");
            await using (body.ConfigureAwait(false))
            {
                request = await JsonSerializer.DeserializeAsync(body, ApiJsonContext.Api.QueryRequest, context.RequestAborted)
                    .ConfigureAwait(false);
            }
        }
        catch (JsonException e)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, $"invalid JSON body: {e.Message}").ConfigureAwait(false);
            return;
        }
        catch (PayloadTooLargeException e)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status413PayloadTooLarge, e.Message).ConfigureAwait(false);
            return;
        }

        if (string.IsNullOrWhiteSpace(request?.Sql))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, "the body must be {\"sql\": \"...\"}").ConfigureAwait(false);
            return;
        }

        var database = context.Request.Headers[WriteEndpoints.DatabaseHeader].ToString();
        if (database.Length == 0)
        {
            database = request.Database ?? WriteEndpoints.DefaultDatabase;
        }

        QueryCursor cursor;
        try
        {
            cursor = await engine.Query.OpenAsync(request.Sql, database, context.RequestAborted, context.Token()?.Databases).ConfigureAwait(false);
        }
        catch (QueryForbiddenException e)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status403Forbidden, e.Message).ConfigureAwait(false);
            return;
        }
        catch (Exception e) when (e is DuckDbException or QueryRejectedException)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, e.Message).ConfigureAwait(false);
            return;
        }

        using (cursor)
        {
            try
            {
                cursor.Prefetch();
            }
            catch (DuckDbException e)
            {
                await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, e.Message).ConfigureAwait(false);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json";
            var output = context.Response.BodyWriter;
            try
            {
                await JsonQueryOutput.WriteAsync(cursor, output, async () => await output.FlushAsync(context.RequestAborted).ConfigureAwait(false), start)
                    .ConfigureAwait(false);
            }
            catch (QueryRejectedException e) when (!context.Response.HasStarted)
            {
                await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, e.Message).ConfigureAwait(false);
            }
            catch (DuckDbException e)
            {
                loggers.CreateLogger("Arc.Query").LogWarning("Query failed while streaming its result; aborting the response: {Error}", e.Message);
                context.Abort();
            }
        }
    }
}

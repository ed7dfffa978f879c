using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Arc.Engine.Auth;
using Arc.Engine.ContinuousQueries;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// Continuous queries (<c>/api/v1/continuous_queries</c>): Arc's routes, admin only as in Arc (a query reads a whole
/// database and writes into it). Create, get and update answer <c>{"success": true, "query": {…}}</c> and the list
/// <c>{"success": true, "queries": [...]}</c>, the shapes Arc's Python SDK reads. The engine's errors (bad definition 400,
/// unknown id 404) are answered by the request middleware.
/// </summary>
internal static class ContinuousQueryEndpoints
{
    /// <summary>The largest definition or execute body.</summary>
    private const int MaxBodyBytes = 1 << 20;

    public static void Map(WebApplication app)
    {
        var group = app.MapGroup("/api/v1/continuous_queries").Requires(Permission.Admin);
        group.MapGet("/", (ContinuousQueryManager queries, string? database, string? is_active) =>
        {
            bool? active = is_active switch
            {
                null or "" => null,
                "true" or "1" => true,
                "false" or "0" => false,
                _ => throw new ContinuousQueryValidationException($"is_active must be true or false, got '{is_active}'"),
            };
            var list = queries.List(string.IsNullOrEmpty(database) ? null : database, active);
            return Results.Json(new ContinuousQueryList(list, list.Count), ContinuousQueryJsonContext.Api.ContinuousQueryList);
        });
        group.MapPost("/", async (HttpContext context, ContinuousQueryManager queries) =>
        {
            var request = await ReadAsync(context, ContinuousQueryJsonContext.Api.ContinuousQueryRequest).ConfigureAwait(false);
            var created = await queries.CreateAsync(request, context.RequestAborted).ConfigureAwait(false);
            context.Response.Headers.Location = $"/api/v1/continuous_queries/{created.Id}";
            return Results.Json(new ContinuousQueryEnvelope(created), ContinuousQueryJsonContext.Api.ContinuousQueryEnvelope,
                statusCode: StatusCodes.Status201Created);
        });
        group.MapGet("/{id}", (ContinuousQueryManager queries, string id) =>
            Results.Json(new ContinuousQueryEnvelope(queries.Get(Id(id))), ContinuousQueryJsonContext.Api.ContinuousQueryEnvelope));
        group.MapPut("/{id}", async (HttpContext context, ContinuousQueryManager queries, string id) =>
        {
            var queryId = Id(id);
            var request = await ReadAsync(context, ContinuousQueryJsonContext.Api.ContinuousQueryRequest).ConfigureAwait(false);
            var updated = await queries.UpdateAsync(queryId, request, context.RequestAborted).ConfigureAwait(false);
            return Results.Json(new ContinuousQueryEnvelope(updated), ContinuousQueryJsonContext.Api.ContinuousQueryEnvelope);
        });
        group.MapDelete("/{id}", (ContinuousQueryManager queries, string id) =>
        {
            queries.Delete(Id(id));
            return Results.Json(new ContinuousQueryDeleted("Continuous query deleted successfully"), ContinuousQueryJsonContext.Api.ContinuousQueryDeleted);
        });
        group.MapPost("/{id}/execute", async (HttpContext context, ContinuousQueryManager queries, string id) =>
        {
            var queryId = Id(id);
            var request = context.Request.ContentLength is 0 ? new ExecuteContinuousQueryRequest()
                : await ReadAsync(context, ContinuousQueryJsonContext.Api.ExecuteContinuousQueryRequest).ConfigureAwait(false);
            var result = await queries.ExecuteAsync(queryId, request, context.RequestAborted).ConfigureAwait(false);
            return Results.Json(result, ContinuousQueryJsonContext.Api.ExecuteContinuousQueryResponse);
        });
        group.MapGet("/{id}/executions", (ContinuousQueryManager queries, string id, string? limit) =>
        {
            var count = 50;
            if (!string.IsNullOrEmpty(limit) && (!int.TryParse(limit, out count) || count is < 1 or > 1000))
            {
                throw new ContinuousQueryValidationException($"limit must be an integer from 1 to 1000, got '{limit}'");
            }

            return Results.Json(queries.Executions(Id(id), count), ContinuousQueryJsonContext.Api.ContinuousQueryExecutions);
        });
    }

    private static long Id(string id) => long.TryParse(id, out var value) && value > 0
        ? value
        : throw new ContinuousQueryValidationException($"Invalid query ID '{id}': expected a positive integer");

    /// <summary>Reads a JSON body of at most <see cref="MaxBodyBytes"/>; a missing, oversized or malformed one is a 400 naming why.</summary>
    private static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class
    {
        if (context.Request.ContentLength > MaxBodyBytes)
        {
            throw new ContinuousQueryValidationException($"the body is larger than {MaxBodyBytes} bytes");
        }

        using var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (body.Length + read > MaxBodyBytes)
            {
                throw new ContinuousQueryValidationException($"the body is larger than {MaxBodyBytes} bytes");
            }

            body.Write(buffer, 0, read);
        }

        try
        {
            return JsonSerializer.Deserialize(body.GetBuffer().AsSpan(0, (int)body.Length), type)
                ?? throw new ContinuousQueryValidationException("a JSON object is required");
        }
        catch (JsonException e)
        {
            throw new ContinuousQueryValidationException($"Invalid request body: {e.Message}");
        }
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Arc.Engine.Auth;
using Arc.Engine.Retention;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// Arc's retention API, <c>/api/v1/retention</c>: list, get, create, update, delete policies, run one
/// (<c>POST {id}/execute</c> with <c>dry_run</c>/<c>confirm</c>) and read its runs (<c>GET {id}/executions</c>). Reading
/// needs <c>read</c>, changing policies <c>admin</c>, running one <c>delete</c>; a token scoped to databases sees and
/// touches only their policies. Bad input is the engine's <see cref="RetentionException"/>, answered by the status table.
/// </summary>
internal static class RetentionEndpoints
{
    private const long MaxBodyBytes = 64 * 1024;

    public static void Map(WebApplication app)
    {
        var group = app.MapGroup("/api/v1/retention");
        group.MapGet("", (HttpContext context, RetentionManager retention) =>
        {
            var policies = retention.List().Where(p => context.MayUse(p.Database)).ToList();
            return Results.Json(new RetentionPolicyList(policies, policies.Count), RetentionJsonContext.Api.RetentionPolicyList);
        }).Requires(Permission.Read);

        group.MapPost("", async (HttpContext context, RetentionManager retention) =>
        {
            var (request, error) = await ReadAsync(context, RetentionJsonContext.Api.RetentionPolicyRequest).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            if (request is null)
            {
                return Error(StatusCodes.Status400BadRequest, "a JSON object is required");
            }

            if (request.Database is { } database && !context.MayUse(database))
            {
                return Forbidden(database);
            }

            return Results.Json(retention.Create(request), RetentionJsonContext.Api.RetentionPolicy, statusCode: StatusCodes.Status201Created);
        }).Requires(Permission.Admin);

        group.MapGet("/{id}", IResult (HttpContext context, RetentionManager retention, string id) =>
            Find(context, retention, id, out var policy) ?? Results.Json(policy, RetentionJsonContext.Api.RetentionPolicy)).Requires(Permission.Read);

        group.MapPut("/{id}", async (HttpContext context, RetentionManager retention, string id) =>
        {
            if (Find(context, retention, id, out var policy) is { } refused)
            {
                return refused;
            }

            var (request, error) = await ReadAsync(context, RetentionJsonContext.Api.RetentionPolicyRequest).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            if (request?.Database is { } database && !context.MayUse(database))
            {
                return Forbidden(database);
            }

            return retention.Update(policy!.Id, request ?? new RetentionPolicyRequest()) is { } updated
                ? Results.Json(updated, RetentionJsonContext.Api.RetentionPolicy)
                : NotFound();
        }).Requires(Permission.Admin);

        group.MapDelete("/{id}", IResult (HttpContext context, RetentionManager retention, string id) =>
            Find(context, retention, id, out var policy) ?? (retention.Delete(policy!.Id)
                ? Results.Json(new RetentionDeletedResponse("Retention policy deleted successfully"), RetentionEndpointJsonContext.Api.RetentionDeletedResponse)
                : NotFound())).Requires(Permission.Admin);

        group.MapPost("/{id}/execute", async (HttpContext context, RetentionManager retention, string id) =>
        {
            if (Find(context, retention, id, out var policy) is { } refused)
            {
                return refused;
            }

            var (request, error) = await ReadAsync(context, RetentionJsonContext.Api.ExecuteRetentionRequest).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            var result = await retention.ExecuteAsync(policy!.Id, request ?? new ExecuteRetentionRequest(), context.RequestAborted).ConfigureAwait(false);
            return Results.Json(result, RetentionJsonContext.Api.ExecuteRetentionResponse);
        }).Requires(Permission.Delete);

        group.MapGet("/{id}/executions", IResult (HttpContext context, RetentionManager retention, string id, int? limit) =>
            Find(context, retention, id, out var policy)
            ?? Results.Json(retention.Executions(policy!.Id, limit ?? 50), RetentionJsonContext.Api.RetentionExecutionList)).Requires(Permission.Read);
    }

    /// <summary>The policy <paramref name="id"/> names, or the answer when the id is bad, unknown or outside the token's databases.</summary>
    private static IResult? Find(HttpContext context, RetentionManager retention, string id, out RetentionPolicy? policy)
    {
        policy = null;
        if (!long.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            return Error(StatusCodes.Status400BadRequest, "Invalid policy ID");
        }

        policy = retention.Get(number);
        if (policy is null)
        {
            return NotFound();
        }

        return context.MayUse(policy.Database) ? null : Forbidden(policy.Database);
    }

    /// <summary>The JSON body (null when there is none), or the answer to a body over the limit or not JSON.</summary>
    private static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class
    {
        if (context.Request.ContentLength > MaxBodyBytes)
        {
            return (null, Error(StatusCodes.Status413PayloadTooLarge, $"the body is over {MaxBodyBytes} bytes"));
        }

        using var body = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (body.Length + read > MaxBodyBytes)
            {
                return (null, Error(StatusCodes.Status413PayloadTooLarge, $"the body is over {MaxBodyBytes} bytes"));
            }

            body.Write(buffer, 0, read);
        }

        if (body.Length == 0)
        {
            return (null, null);
        }

        try
        {
            return (JsonSerializer.Deserialize(body.GetBuffer().AsSpan(0, (int)body.Length), type), null);
        }
        catch (JsonException e)
        {
            return (null, Error(StatusCodes.Status400BadRequest, "Invalid request body: " + e.Message));
        }
    }

    private static IResult NotFound() => Error(StatusCodes.Status404NotFound, "Retention policy not found");

    private static IResult Forbidden(string database) => Error(StatusCodes.Status403Forbidden, $"the token may not use database '{database}'");

    private static IResult Error(int status, string message) =>
        Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse, statusCode: status);
}

/// <summary>Arc's answer to a deleted policy.</summary>
internal sealed record RetentionDeletedResponse([property: JsonPropertyName("message")] string Message);

[JsonSerializable(typeof(RetentionDeletedResponse))]
internal sealed partial class RetentionEndpointJsonContext : JsonSerializerContext
{
    public static RetentionEndpointJsonContext Api { get; } = new(new JsonSerializerOptions());
}

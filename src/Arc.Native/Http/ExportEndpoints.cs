using System.Text.Json;
using Arc.Engine.Auth;
using Arc.Engine.Export;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// Export jobs (<c>/api/v1/jobs</c>, also <c>/jobs</c>) and storage connections (<c>/api/v1/connections/storage</c>, also
/// <c>/connections/storage</c>). Admin only: jobs carry target credentials and read any database. Secrets are accepted on
/// create and never returned.
/// </summary>
internal static class ExportEndpoints
{
    public static void Map(WebApplication app)
    {
        foreach (var prefix in new[] { "/api/v1/jobs", "/jobs" })
        {
            var jobs = app.MapGroup(prefix).Requires(Permission.Admin);
            jobs.MapGet("/", (ExportManager exports) => Results.Json(exports.List().ToList(), ExportJsonContext.Api.ListExportJobView));
            jobs.MapPost("/", CreateJobAsync);
            jobs.MapGet("/{id}", (ExportManager exports, string id) => Job(exports.Get(id), id));
            jobs.MapDelete("/{id}", async (ExportManager exports, string id) =>
                await exports.DeleteAsync(id).ConfigureAwait(false) ? Results.NoContent() : NoJob(id));
            jobs.MapPost("/{id}/run", (ExportManager exports, string id) => Job(exports.RunNow(id), id, StatusCodes.Status202Accepted));
            jobs.MapPost("/{id}/pause", (ExportManager exports, string id) => Job(exports.Pause(id), id));
            jobs.MapPost("/{id}/resume", (ExportManager exports, string id) => Job(exports.Resume(id), id));
        }

        foreach (var prefix in new[] { "/api/v1/connections/storage", "/connections/storage" })
        {
            var connections = app.MapGroup(prefix).Requires(Permission.Admin);
            connections.MapGet("/", (ExportManager exports) =>
                Results.Json(exports.ListConnections().ToList(), ExportJsonContext.Api.ListStorageConnectionView));
            connections.MapPost("/", CreateConnectionAsync);
            connections.MapGet("/{name}", (ExportManager exports, string name) => exports.GetConnection(name) is { } connection
                ? Results.Json(connection, ExportJsonContext.Api.StorageConnectionView)
                : NotFound($"no storage connection named '{name}'"));
            connections.MapDelete("/{name}", (ExportManager exports, string name) => exports.JobsUsing(name) is [_, ..] users
                ? Results.Json(new ErrorResponse($"storage connection '{name}' is used by export job(s) {string.Join(", ", users)}; delete them first"),
                    ApiJsonContext.Api.ErrorResponse, statusCode: StatusCodes.Status409Conflict)
                : exports.DeleteConnection(name) ? Results.NoContent() : NotFound($"no storage connection named '{name}'"));
        }
    }

    private static async Task<IResult> CreateJobAsync(HttpContext context, ExportManager exports)
    {
        ExportJobSpec? spec;
        try
        {
            spec = await JsonSerializer.DeserializeAsync(context.Request.Body, ExportJsonContext.Api.ExportJobSpec, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return Bad($"invalid JSON body: {e.Message}");
        }

        if (spec is null)
        {
            return Bad("a JSON object is required");
        }

        // An invalid spec is the engine's ExportValidationException: the request middleware answers it 400.
        var job = await exports.CreateAsync(spec, context.RequestAborted).ConfigureAwait(false);
        context.Response.Headers.Location = $"/api/v1/jobs/{job.Id}";
        return Results.Json(job, ExportJsonContext.Api.ExportJobView, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> CreateConnectionAsync(HttpContext context, ExportManager exports)
    {
        StorageConnectionSpec? spec;
        try
        {
            spec = await JsonSerializer.DeserializeAsync(context.Request.Body, ExportJsonContext.Api.StorageConnectionSpec, context.RequestAborted)
                .ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return Bad($"invalid JSON body: {e.Message}");
        }

        if (spec is null)
        {
            return Bad("a JSON object is required");
        }

        return exports.CreateConnection(spec) is { } created
            ? Results.Json(created, ExportJsonContext.Api.StorageConnectionView, statusCode: StatusCodes.Status201Created)
            : Results.Json(new ErrorResponse($"a storage connection named '{spec.Name}' exists; delete it first"), ApiJsonContext.Api.ErrorResponse,
                statusCode: StatusCodes.Status409Conflict);
    }

    private static IResult Job(ExportJobView? job, string id, int status = StatusCodes.Status200OK) => job is null
        ? NoJob(id)
        : Results.Json(job, ExportJsonContext.Api.ExportJobView, statusCode: status);

    private static IResult NoJob(string id) => NotFound($"no export job with id '{id}'");

    private static IResult NotFound(string message) => Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse,
        statusCode: StatusCodes.Status404NotFound);

    private static IResult Bad(string message) => Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse,
        statusCode: StatusCodes.Status400BadRequest);
}

using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Arc.Engine;
using Arc.Engine.Auth;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>The <c>delete.*</c> settings the delete routes apply (Arc's keys and defaults).</summary>
/// <param name="Enabled"><c>delete.enabled</c>: off by default, as in Arc.</param>
/// <param name="ConfirmationThreshold"><c>delete.confirmation_threshold</c>: a dry run matching more rows needs <c>confirm</c>.</param>
/// <param name="MaxRowsPerDelete"><c>delete.max_rows_per_delete</c>: a delete matching more rows is refused.</param>
internal sealed record DeleteSettings(bool Enabled, long ConfirmationThreshold, long MaxRowsPerDelete);

/// <summary>
/// Arc's row delete: <c>POST /api/v1/delete</c> <c>{database, measurement, where, dry_run, confirm}</c> removes the rows
/// of one measurement matching <c>where</c> by rewriting the files that hold them (<see cref="ArcEngine.DeleteRowsAsync"/>),
/// and <c>GET /api/v1/delete/config</c> reports the settings. Both need the <c>delete</c> permission (and the database in
/// the token's scope). Arc's rules, in Arc's order: deletes enabled; database and measurement given; a <c>where</c> DuckDB
/// accepts as an expression over the measurement's columns; one naming no column (<c>1=1</c>: every row or none) needs
/// <c>confirm</c>; a delete that is not a dry run needs <c>confirm</c>; more than <c>max_rows_per_delete</c> matching rows
/// is refused, and a dry run over <c>confirmation_threshold</c> without <c>confirm</c> is answered 400 with the count.
/// </summary>
internal static class DeleteEndpoints
{
    private const long MaxBodyBytes = 64 * 1024;

    public static void Map(WebApplication app, DeleteSettings settings)
    {
        app.MapPost("/api/v1/delete", async (HttpContext context, ArcEngine engine) =>
        {
            var started = Stopwatch.GetTimestamp();
            if (!settings.Enabled)
            {
                return Error(StatusCodes.Status403Forbidden, "Delete operations are disabled. Set delete.enabled=true in arc.toml to enable.");
            }

            if (context.Request.ContentLength > MaxBodyBytes)
            {
                return Error(StatusCodes.Status413PayloadTooLarge, $"the body is over {MaxBodyBytes} bytes");
            }

            DeleteRequest? request;
            try
            {
                request = await JsonSerializer.DeserializeAsync(context.Request.Body,
                    DeleteJsonContext.Api.DeleteRequest, context.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                return Error(StatusCodes.Status400BadRequest, "Invalid request body: " + e.Message);
            }

            if (string.IsNullOrEmpty(request?.Database))
            {
                return Error(StatusCodes.Status400BadRequest, "database is required");
            }

            if (string.IsNullOrEmpty(request.Measurement))
            {
                return Error(StatusCodes.Status400BadRequest, "measurement is required");
            }

            if (!context.MayUse(request.Database))
            {
                return Error(StatusCodes.Status403Forbidden, $"the token may not use database '{request.Database}'");
            }

            var predicate = await engine.CheckDeletePredicateAsync(request.Where ?? "", context.RequestAborted).ConfigureAwait(false);
            if (predicate.MatchesAll && !request.Confirm)
            {
                return Error(StatusCodes.Status400BadRequest, "Full table delete detected (WHERE 1=1). Set confirm=true to proceed.");
            }

            if (!request.DryRun && !request.Confirm)
            {
                return Error(StatusCodes.Status400BadRequest, "Confirmation required for delete operation. Set confirm=true or use dry_run=true to preview.");
            }

            var result = await engine.DeleteRowsAsync(request.Database, request.Measurement, predicate.Where, request.DryRun, settings.MaxRowsPerDelete,
                context.RequestAborted).ConfigureAwait(false);
            if (result.DryRun && result.DeletedRows > settings.ConfirmationThreshold && !request.Confirm)
            {
                return Error(StatusCodes.Status400BadRequest,
                    $"Delete would affect {result.DeletedRows} rows (threshold: {settings.ConfirmationThreshold}). Set confirm=true to proceed.");
            }

            return Results.Json(new DeleteResponse(true, result.DeletedRows, result.AffectedFiles.Count, result.FilesRewritten + result.FilesRemoved,
                result.FilesRemoved, Stopwatch.GetElapsedTime(started).TotalMilliseconds, result.DryRun, result.AffectedFiles), DeleteJsonContext.Api.DeleteResponse);
        }).Requires(Permission.Delete);

        app.MapGet("/api/v1/delete/config", () => Results.Json(new DeleteConfigResponse(settings.Enabled, settings.ConfirmationThreshold,
            settings.MaxRowsPerDelete, "rewrite-based", new Dictionary<string, string>
            {
                ["writes"] = "zero overhead",
                ["queries"] = "zero overhead",
                ["deletes"] = "expensive (file rewrites)",
            }), DeleteJsonContext.Api.DeleteConfigResponse)).Requires(Permission.Delete);
    }

    private static IResult Error(int status, string message) =>
        Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse, statusCode: status);
}

internal sealed record DeleteRequest(
    [property: JsonPropertyName("database")] string? Database,
    [property: JsonPropertyName("measurement")] string? Measurement,
    [property: JsonPropertyName("where")] string? Where,
    [property: JsonPropertyName("dry_run")] bool DryRun,
    [property: JsonPropertyName("confirm")] bool Confirm);

/// <summary>
/// Arc's answer: <c>rewritten_files</c> counts every file processed (as Arc does, removed ones included); beyond Arc,
/// <c>removed_files</c> says how many of them were removed because every row matched.
/// </summary>
internal sealed record DeleteResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("deleted_count")] long DeletedCount,
    [property: JsonPropertyName("affected_files")] int AffectedFiles,
    [property: JsonPropertyName("rewritten_files")] int RewrittenFiles,
    [property: JsonPropertyName("removed_files")] int RemovedFiles,
    [property: JsonPropertyName("execution_time_ms")] double ExecutionTimeMs,
    [property: JsonPropertyName("dry_run")] bool DryRun,
    [property: JsonPropertyName("files_processed")] IReadOnlyList<string> FilesProcessed);

internal sealed record DeleteConfigResponse(
    [property: JsonPropertyName("enabled")] bool Enabled,
    [property: JsonPropertyName("confirmation_threshold")] long ConfirmationThreshold,
    [property: JsonPropertyName("max_rows_per_delete")] long MaxRowsPerDelete,
    [property: JsonPropertyName("implementation")] string Implementation,
    [property: JsonPropertyName("performance_impact")] Dictionary<string, string> PerformanceImpact);

[JsonSerializable(typeof(DeleteRequest))]
[JsonSerializable(typeof(DeleteResponse))]
[JsonSerializable(typeof(DeleteConfigResponse))]
internal sealed partial class DeleteJsonContext : JsonSerializerContext
{
    public static DeleteJsonContext Api { get; } = new(new JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

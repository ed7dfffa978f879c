using System.Text.Json;
using System.Text.Json.Serialization;
using Arc.Engine;
using Arc.Engine.Auth;
using Arc.Engine.Buffers;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// Arc's databases API: <c>GET/POST /api/v1/databases</c>, <c>GET/DELETE /api/v1/databases/{name}</c>,
/// <c>GET /api/v1/databases/{name}/measurements</c>, and (beyond Arc) <c>GET …/{name}/measurements/{measurement}/columns</c>
/// and <c>DELETE …/{name}/measurements/{measurement}</c>.
/// Listing needs <c>read</c> and shows only the token's databases; creating and dropping need <c>admin</c> (and the
/// database in the token's scope); dropping also needs <c>delete.enabled</c> and <c>?confirm=true</c>, as in Arc.
/// </summary>
internal static class DatabaseEndpoints
{
    private const long MaxBodyBytes = 64 * 1024;

    public static void Map(WebApplication app, bool deleteEnabled)
    {
        var group = app.MapGroup("/api/v1/databases");
        group.MapGet("", (HttpContext context, ArcEngine engine) =>
        {
            var databases = engine.ListDatabases().Where(d => context.MayUse(d.Name)).Select(Info).ToList();
            return Results.Json(new DatabaseListResponse(databases, databases.Count), DatabaseJsonContext.Api.DatabaseListResponse);
        }).Requires(Permission.Read);

        group.MapPost("", async (HttpContext context, ArcEngine engine) =>
        {
            if (context.Request.ContentLength > MaxBodyBytes)
            {
                return Error(StatusCodes.Status413PayloadTooLarge, $"the body is over {MaxBodyBytes} bytes");
            }

            CreateDatabaseRequest? request;
            try
            {
                request = await JsonSerializer.DeserializeAsync(context.Request.Body, DatabaseJsonContext.Api.CreateDatabaseRequest,
                    context.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                return Error(StatusCodes.Status400BadRequest, "Invalid request body: " + e.Message);
            }

            if (string.IsNullOrEmpty(request?.Name))
            {
                return Error(StatusCodes.Status400BadRequest, "Database name is required");
            }

            if (!context.MayUse(request.Name))
            {
                return Forbidden(request.Name);
            }

            var created = engine.CreateDatabase(request.Name);
            return Results.Json(Info(created), DatabaseJsonContext.Api.DatabaseInfo, statusCode: StatusCodes.Status201Created);
        }).Requires(Permission.Admin);

        group.MapGet("/{name}", (HttpContext context, ArcEngine engine, string name) =>
        {
            if (!context.MayUse(name))
            {
                return Forbidden(name);
            }

            return engine.FindDatabase(name) is { } database
                ? Results.Json(Info(database) with { CreatedAt = null }, DatabaseJsonContext.Api.DatabaseInfo)
                : Error(StatusCodes.Status404NotFound, $"Database '{name}' not found");
        }).Requires(Permission.Read);

        group.MapGet("/{name}/measurements", (HttpContext context, ArcEngine engine, string name) =>
        {
            if (!context.MayUse(name))
            {
                return Forbidden(name);
            }

            var measurements = engine.ListMeasurements(name).Select(m => new DatabaseMeasurement(m)).ToList();
            return Results.Json(new MeasurementListResponse(engine.FindDatabase(name)?.Name ?? name, measurements, measurements.Count),
                DatabaseJsonContext.Api.MeasurementListResponse);
        }).Requires(Permission.Read);

        // Beyond Arc: the console's measurement browser shows which columns are tags and which fields, which DESCRIBE
        // cannot tell (a tag and a string field are both VARCHAR).
        group.MapGet("/{name}/measurements/{measurement}/columns", (HttpContext context, ArcEngine engine, string name, string measurement) =>
        {
            if (!context.MayUse(name))
            {
                return Forbidden(name);
            }

            var columns = engine.MeasurementColumns(name, measurement).Select(c => new MeasurementColumn(c.Name, c.Kind.Describe(),
                c.Kind switch { ColumnKind.Time => "time", ColumnKind.Tag => "tag", _ => "field" })).ToList();
            return Results.Json(new MeasurementColumnsResponse(engine.FindDatabase(name)?.Name ?? name, measurement, columns),
                DatabaseJsonContext.Api.MeasurementColumnsResponse);
        }).Requires(Permission.Read);

        group.MapDelete("/{name}", async (HttpContext context, ArcEngine engine, string name, string? confirm) =>
        {
            if (Refused(context, deleteEnabled, name, confirm, "the database") is { } refused)
            {
                return refused;
            }

            var result = await engine.DropDatabaseAsync(name, context.RequestAborted).ConfigureAwait(false);
            return Results.Json(new DropResponse($"Database '{result.Database}' deleted successfully", result.FilesDeleted, result.Measurements),
                DatabaseJsonContext.Api.DropResponse);
        }).Requires(Permission.Admin);

        group.MapDelete("/{name}/measurements/{measurement}", async (HttpContext context, ArcEngine engine, string name, string measurement,
            string? confirm) =>
        {
            if (Refused(context, deleteEnabled, name, confirm, "the measurement") is { } refused)
            {
                return refused;
            }

            var result = await engine.DropMeasurementAsync(name, measurement, context.RequestAborted).ConfigureAwait(false);
            return Results.Json(new DropResponse($"Measurement '{result.Measurement}' of database '{result.Database}' deleted successfully",
                result.FilesDeleted, result.Measurements), DatabaseJsonContext.Api.DropResponse);
        }).Requires(Permission.Admin);
    }

    /// <summary>Arc's checks before a drop, in Arc's order: deletes enabled, then the confirmation; then the token's scope.</summary>
    private static IResult? Refused(HttpContext context, bool deleteEnabled, string name, string? confirm, string what)
    {
        if (!deleteEnabled)
        {
            return Error(StatusCodes.Status403Forbidden, "Delete operations are disabled. Set delete.enabled=true in arc.toml to enable.");
        }

        if (confirm != "true")
        {
            return Error(StatusCodes.Status400BadRequest, $"Confirmation required. Add ?confirm=true to delete {what}.");
        }

        return context.MayUse(name) ? null : Forbidden(name);
    }

    private static DatabaseInfo Info(DatabaseSummary database) => new(database.Name, database.MeasurementCount, database.CreatedAt);

    private static IResult Forbidden(string name) => Error(StatusCodes.Status403Forbidden, $"the token may not use database '{name}'");

    private static IResult Error(int status, string message) =>
        Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse, statusCode: status);
}

internal sealed record CreateDatabaseRequest([property: JsonPropertyName("name")] string? Name);

internal sealed record DatabaseInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("measurement_count")] int MeasurementCount,
    [property: JsonPropertyName("created_at"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? CreatedAt);

internal sealed record DatabaseListResponse(
    [property: JsonPropertyName("databases")] List<DatabaseInfo> Databases,
    [property: JsonPropertyName("count")] int Count);

internal sealed record DatabaseMeasurement([property: JsonPropertyName("name")] string Name);

internal sealed record MeasurementListResponse(
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurements")] List<DatabaseMeasurement> Measurements,
    [property: JsonPropertyName("count")] int Count);

/// <summary>A column of a measurement: its kind (<c>time</c>, <c>tag</c>, <c>float</c>, <c>integer</c>, ...) and role (time, tag or field).</summary>
internal sealed record MeasurementColumn(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("role")] string Role);

internal sealed record MeasurementColumnsResponse(
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string Measurement,
    [property: JsonPropertyName("columns")] List<MeasurementColumn> Columns);

internal sealed record DropResponse(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("files_deleted")] int FilesDeleted,
    [property: JsonPropertyName("measurements")] IReadOnlyList<string> Measurements);

[JsonSerializable(typeof(CreateDatabaseRequest))]
[JsonSerializable(typeof(DatabaseInfo))]
[JsonSerializable(typeof(DatabaseListResponse))]
[JsonSerializable(typeof(MeasurementListResponse))]
[JsonSerializable(typeof(DropResponse))]
[JsonSerializable(typeof(MeasurementColumnsResponse))]
internal sealed partial class DatabaseJsonContext : JsonSerializerContext
{
    public static DatabaseJsonContext Api { get; } = new(new JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// Liveness (<c>/health</c>), readiness (<c>/ready</c>: storage and DuckDB are up and the server is not shutting down), and the
/// InfluxDB handshakes clients make before writing (<c>/ping</c>, and <c>CREATE DATABASE</c> on <c>/query</c>).
/// </summary>
internal static class HealthEndpoints
{
    public static void Map(WebApplication app, ServerState state)
    {
        app.MapGet("/health", () => Results.Json(
            new HealthResponse("ok", ServerInfo.Version, ArcEngine.DuckDbVersion), ApiJsonContext.Api.HealthResponse)).Public();

        app.MapGet("/ready", (ArcEngine engine) => Results.Json(
            new ReadyResponse(state.Ready ? "ready" : "shutting_down", engine.BufferedRows, engine.FlushedRows, engine.FlushFailures,
                engine.ObjectStorage is { } s3 ? new ObjectStorageReady(s3.PendingUploads, s3.PendingBytes, s3.Uploaded, s3.UploadFailures, s3.LastError, s3.CachedBytes) : null),
            ApiJsonContext.Api.ReadyResponse,
            statusCode: state.Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable)).Public();

        app.MapMethods("/ping", ["GET", "HEAD"], (HttpContext context) =>
        {
            context.Response.Headers["X-Influxdb-Version"] = "1.8.10-arc-native";
            context.Response.Headers["X-Influxdb-Build"] = "OSS";
            return Results.NoContent();
        }).Requires(Permission.Read);

        // InfluxDB 1.x clients (Telegraf's influxdb output, python-influxdb) send CREATE DATABASE before writing.
        // Databases here are created by the first write, so that statement succeeds; any other InfluxQL is refused.
        app.MapMethods("/query", ["GET", "POST"], new RequestDelegate(InfluxQueryAsync)).Requires(Permission.Write);
    }

    private static async Task InfluxQueryAsync(HttpContext context)
    {
        var q = context.Request.Query["q"].ToString();
        if (q.Length == 0 && context.Request.HasFormContentType)
        {
            q = (await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false))["q"].ToString();
        }

        var words = q.Split((char[]?)null, 3, StringSplitOptions.RemoveEmptyEntries);
        var result = words.Length >= 3 && words[0].Equals("CREATE", StringComparison.OrdinalIgnoreCase)
                                       && words[1].Equals("DATABASE", StringComparison.OrdinalIgnoreCase)
            ? Results.Json(new InfluxQueryResponse([new InfluxStatementResult(0)]), ApiJsonContext.Api.InfluxQueryResponse)
            : Results.Json(new ErrorResponse("InfluxQL is not supported; send SQL to POST /api/v1/query"),
                ApiJsonContext.Api.ErrorResponse, statusCode: StatusCodes.Status400BadRequest);
        await result.ExecuteAsync(context).ConfigureAwait(false);
    }
}

/// <summary>Whether the server takes traffic: true once the engine is up, false from the first shutdown signal.</summary>
internal sealed class ServerState
{
    public volatile bool Ready;
}

internal static class ServerInfo
{
    public static string Version { get; } =
        typeof(ServerInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}

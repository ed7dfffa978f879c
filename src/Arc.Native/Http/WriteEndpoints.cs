using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Engine.Storage;
using Arc.Native.Auth;
using Microsoft.AspNetCore.Http.Features;
using Arc.Protocol.LineProtocol;

namespace Arc.Native.Http;

/// <summary>
/// Line-protocol writes on the three URL shapes clients use: InfluxDB 1.x (<c>/write?db=</c>), InfluxDB 2.x
/// (<c>/api/v2/write?bucket=</c>) and Arc's own (<c>/api/v1/write/line-protocol</c> with <c>x-arc-database</c>). The host
/// resolves the database, the token's scope, the precision and the declared encoding; the engine reads the request's
/// PipeReader (<see cref="ArcEngine.WriteLineProtocolAsync"/>): valid lines are stored even when others are rejected
/// (InfluxDB's partial-write semantics), and the response lists each rejected line with its position. Past a size limit
/// the answer is 413 and the lines before it stay stored.
/// </summary>
internal static class WriteEndpoints
{
    public const string DatabaseHeader = "x-arc-database";
    public const string DefaultDatabase = "default";

    public static void Map(WebApplication app)
    {
        app.MapPost("/write", (HttpContext context, ArcEngine engine) =>
            WriteAsync(context, engine, Database(context, context.Request.Query["db"].ToString()))).Requires(Permission.Write);
        app.MapPost("/api/v1/write", (HttpContext context, ArcEngine engine) =>
            WriteAsync(context, engine, Database(context, context.Request.Query["db"].ToString()))).Requires(Permission.Write);
        app.MapPost("/api/v2/write", (HttpContext context, ArcEngine engine) =>
        {
            // InfluxDB 1.8's compatibility convention: bucket "db/retention_policy".
            var bucket = context.Request.Query["bucket"].ToString();
            var slash = bucket.IndexOf('/', StringComparison.Ordinal);
            return WriteAsync(context, engine, Database(context, slash >= 0 ? bucket[..slash] : bucket));
        }).Requires(Permission.Write);
        app.MapPost("/api/v1/write/line-protocol", (HttpContext context, ArcEngine engine) =>
        {
            // Arc's own route: the header first, then ?db=.
            var header = context.Request.Headers[DatabaseHeader].ToString();
            return WriteAsync(context, engine, header.Length > 0 ? header : Database(context, context.Request.Query["db"].ToString()));
        }).Requires(Permission.Write);
    }

    /// <summary>
    /// The database a write goes to, as Arc resolves it: the URL's (<c>db</c>, or the bucket on <c>/api/v2/write</c>), else
    /// the <c>x-arc-database</c> header, else <c>default</c>.
    /// </summary>
    internal static string Database(HttpContext context, string fromUrl)
    {
        if (fromUrl.Length > 0)
        {
            return fromUrl;
        }

        var header = context.Request.Headers[DatabaseHeader].ToString();
        return header.Length > 0 ? header : DefaultDatabase;
    }

    private static async Task WriteAsync(HttpContext context, ArcEngine engine, string database)
    {
        if (Names.ValidateDatabase(database) is { } invalid)
        {
            await Error(context, StatusCodes.Status400BadRequest, invalid).ConfigureAwait(false);
            return;
        }

        if (!context.MayUse(database))
        {
            await Error(context, StatusCodes.Status403Forbidden, $"this token may not write to database '{database}'").ConfigureAwait(false);
            return;
        }

        var precisionText = context.Request.Query["precision"].ToString();
        var precision = TimestampPrecision.Nanoseconds;
        if (precisionText.Length > 0 && !TimestampPrecisions.TryParse(precisionText, out precision))
        {
            await Error(context, StatusCodes.Status400BadRequest,
                $"invalid precision '{precisionText}': use ns, us, ms, s, m or h").ConfigureAwait(false);
            return;
        }

        var encoding = context.Request.Headers.ContentEncoding.ToString().Trim().ToLowerInvariant();
        if (encoding is not ("" or "identity" or "gzip" or "x-gzip" or "zstd"))
        {
            await Error(context, StatusCodes.Status415UnsupportedMediaType,
                $"unsupported Content-Encoding '{context.Request.Headers.ContentEncoding}': use gzip, zstd or none").ConfigureAwait(false);
            return;
        }

        // A declared encoding is trusted; without one the body's first bytes tell (as Arc does).
        var compression = encoding switch
        {
            "gzip" or "x-gzip" => BodyCompression.Gzip,
            "zstd" => BodyCompression.Zstd,
            _ => BodyCompression.Detect,
        };
        var outcome = await engine.WriteLineProtocolAsync(Request(context, database, compression), precision, context.Request.BodyReader,
            context.RequestAborted).ConfigureAwait(false);
        context.RequestServices.GetService<IngestStats>()?.LineProtocol.Records(outcome.Accepted, outcome.Rejected);
        if (outcome.Failure is { } reason)
        {
            await ErrorResponses.WriteAsync(context, reason, outcome.Message!).ConfigureAwait(false);
        }
        else if (outcome.Rejected > 0)
        {
            var errors = outcome.Errors.Select(e => new WriteErrorItem(e.Line, e.Column, e.Message)).ToList();
            await Results.Json(new WriteErrorResponse(outcome.Message!, outcome.Accepted, outcome.Rejected, errors), ApiJsonContext.Api.WriteErrorResponse,
                statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(context).ConfigureAwait(false);
        }
        else
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        }
    }

    /// <summary>
    /// The engine's view of a write request. It bounds the body itself (<c>server.max_payload_size</c>, as received), so
    /// Kestrel's limit is lifted for it: the engine then answers a body cut at the limit with what it stored before.
    /// </summary>
    internal static WriteRequest Request(HttpContext context, string database, BodyCompression compression)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        return new WriteRequest(database, compression, context.Request.ContentLength);
    }

    /// <summary>
    /// An error body. Only an unrestricted admin (or a server without authentication) reads the data directory in it; for
    /// any other token it is written <c>&lt;data&gt;</c>, as in EXPLAIN ANALYZE's plans.
    /// </summary>
    internal static Task Error(HttpContext context, int status, string message)
    {
        if (!context.QueryAccess().Unrestricted)
        {
            message = context.RequestServices.GetRequiredService<ArcEngine>().HideDataDirectory(message);
        }

        return Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse, statusCode: status).ExecuteAsync(context);
    }
}

using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Engine.Storage;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// Arc's binary ingest, <c>POST /api/v1/write/msgpack</c> (what Arc clients and Telegraf's <c>outputs.arc</c> send). The
/// engine reads the body (<see cref="ArcEngine.WriteMsgPackAsync"/>): decompressed as it arrives when its first bytes are
/// gzip's or zstd's magic (whatever the headers say), held whole in native memory up to
/// <c>ingest.max_decompressed_size</c> (413 past it, while inflating, so a compression bomb costs at most that), and
/// decoded straight into a write batch. All or nothing: a body with any error is answered 400 with the byte offset and
/// writes nothing; a good one is committed (through the WAL when it is on) and answered 204; like line protocol, 503 when
/// the write buffers are over their memory budget and 507 when the WAL cannot be written.
/// <c>GET /api/v1/write/msgpack/spec</c> describes the format.
/// </summary>
internal static class MsgPackEndpoints
{
    public const string Path = "/api/v1/write/msgpack";

    public static void Map(WebApplication app)
    {
        app.MapPost(Path, static (HttpContext context, ArcEngine engine, IngestStats stats) =>
            WriteAsync(context, engine, stats.MsgPack)).Requires(Permission.Write);
        app.MapGet(Path + "/spec", static () => Results.Text(MsgPackSpec.Json, "application/json")).Requires(Permission.Read);
        app.MapGet(Path + "/stats", static (IngestStats stats) =>
            Results.Json(stats.Snapshot(), IngestJsonContext.Api.IngestStatsResponse)).Requires(Permission.Read);
    }

    private static async Task WriteAsync(HttpContext context, ArcEngine engine, FormatStats stats)
    {
        WriteOutcome? outcome = null;
        try
        {
            var database = WriteEndpoints.Database(context, fromUrl: "");

            if (Names.ValidateDatabase(database) is { } invalid)
            {
                await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, invalid).ConfigureAwait(false);
                return;
            }

            if (!context.MayUse(database))
            {
                await WriteEndpoints.Error(context, StatusCodes.Status403Forbidden, $"this token may not write to database '{database}'")
                    .ConfigureAwait(false);
                return;
            }

            var encoding = context.Request.Headers.ContentEncoding.ToString();
            if (encoding.Length > 0 && !IsKnownEncoding(encoding))
            {
                await WriteEndpoints.Error(context, StatusCodes.Status415UnsupportedMediaType,
                    $"unsupported Content-Encoding '{encoding}': send gzip, zstd or uncompressed MessagePack (detected from the body's first bytes)")
                    .ConfigureAwait(false);
                return;
            }

            outcome = await engine.WriteMsgPackAsync(WriteEndpoints.Request(context, database, BodyCompression.Detect), context.Request.BodyReader)
                .ConfigureAwait(false);
            stats.Records(outcome.Accepted, outcome.Rejected);
            if (outcome is { Failure: { } reason, ErrorOffset: { } offset })
            {
                var (status, _) = ErrorResponses.Of(reason);
                await Results.Json(new MsgPackErrorResponse(outcome.Message!, offset), IngestJsonContext.Api.MsgPackErrorResponse, statusCode: status)
                    .ExecuteAsync(context).ConfigureAwait(false);
            }
            else if (outcome.Failure is { } failure)
            {
                await ErrorResponses.WriteAsync(context, failure, outcome.Message!).ConfigureAwait(false);
            }
            else
            {
                context.Response.StatusCode = StatusCodes.Status204NoContent;
            }
        }
        finally
        {
            stats.Request(outcome?.BodyBytes ?? 0, failed: outcome is not { Failure: null });
        }
    }

    private static bool IsKnownEncoding(string encoding) =>
        encoding.Trim().ToLowerInvariant() is "identity" or "gzip" or "x-gzip" or "zstd" or "none";
}

using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Arc.Engine;
using Arc.Engine.Auth;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// Ingest counters per input format, served by <c>GET /api/v1/write/stats</c> (and Arc's <c>/api/v1/write/msgpack/stats</c>).
/// Line-protocol requests are counted by a small middleware (requests, body bytes from Content-Length, error statuses)
/// plus their accepted/rejected points from the write endpoint; MessagePack requests by their endpoint.
/// </summary>
internal sealed class IngestStats
{
    private static readonly string[] LineProtocolPaths = ["/write", "/api/v1/write", "/api/v2/write", "/api/v1/write/line-protocol"];

    public FormatStats LineProtocol { get; } = new();

    public FormatStats MsgPack { get; } = new();

    public IngestStatsResponse Snapshot() => new(LineProtocol.Snapshot(), MsgPack.Snapshot());

    /// <summary>Counts line-protocol write requests and serves the stats.</summary>
    public static void Map(WebApplication app)
    {
        app.Use(static async (context, next) =>
        {
            var path = context.Request.Path.Value;
            if (!HttpMethods.IsPost(context.Request.Method) || path is null || Array.IndexOf(LineProtocolPaths, path.TrimEnd('/')) < 0)
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            var stats = context.RequestServices.GetRequiredService<IngestStats>().LineProtocol;
            var failed = true;
            try
            {
                await next(context).ConfigureAwait(false);
                failed = context.Response.StatusCode >= 400;
            }
            finally
            {
                stats.Request(context.Request.ContentLength ?? 0, failed);
            }
        });

        app.MapGet("/api/v1/write/stats", static (IngestStats stats) =>
            Results.Json(stats.Snapshot(), IngestJsonContext.Api.IngestStatsResponse)).Requires(Permission.Read);

        // Arc's line-protocol side routes: its counters, a liveness answer, and a flush of every buffer (admin, as in Arc:
        // it writes files for every measurement at once).
        app.MapGet("/api/v1/write/line-protocol/stats", static (IngestStats stats) =>
        {
            var snapshot = stats.LineProtocol.Snapshot();
            return Results.Json(new LineProtocolStatsResponse("success", new LineProtocolStats(snapshot.Requests, snapshot.RecordsAccepted,
                snapshot.RecordsRejected, snapshot.BytesReceived, snapshot.Errors)), IngestJsonContext.Api.LineProtocolStatsResponse);
        }).Requires(Permission.Read);
        app.MapGet("/api/v1/write/line-protocol/health", static () =>
            Results.Json(new LineProtocolHealthResponse("healthy", "line_protocol_writer"), IngestJsonContext.Api.LineProtocolHealthResponse))
            .Requires(Permission.Read);
        app.MapPost("/api/v1/write/line-protocol/flush", static async (ArcEngine engine) =>
        {
            await engine.FlushAsync().ConfigureAwait(false);
            return Results.Json(new LineProtocolHealthResponse("success", null, "All buffers flushed"), IngestJsonContext.Api.LineProtocolHealthResponse);
        }).Requires(Permission.Admin);
    }
}

/// <summary>The counters of one input format (thread-safe).</summary>
internal sealed class FormatStats
{
    private long _requests;
    private long _recordsAccepted;
    private long _recordsRejected;
    private long _bytesReceived;
    private long _errors;

    /// <summary>Counts one finished request of <paramref name="bytes"/> body bytes (as received, compressed or not).</summary>
    public void Request(long bytes, bool failed)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _bytesReceived, bytes);
        if (failed)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    public void Records(long accepted, long rejected)
    {
        Interlocked.Add(ref _recordsAccepted, accepted);
        Interlocked.Add(ref _recordsRejected, rejected);
    }

    public IngestFormatStats Snapshot() => new(
        Interlocked.Read(ref _requests),
        Interlocked.Read(ref _recordsAccepted),
        Interlocked.Read(ref _recordsRejected),
        Interlocked.Read(ref _bytesReceived),
        Interlocked.Read(ref _errors));
}

/// <summary>
/// One format's counters: requests answered, records (points, rows) stored and refused, request body bytes as received,
/// and requests answered with an error status.
/// </summary>
public sealed record IngestFormatStats(
    [property: JsonPropertyName("requests")] long Requests,
    [property: JsonPropertyName("records_accepted")] long RecordsAccepted,
    [property: JsonPropertyName("records_rejected")] long RecordsRejected,
    [property: JsonPropertyName("bytes_received")] long BytesReceived,
    [property: JsonPropertyName("errors")] long Errors);

/// <summary>Body of <c>GET /api/v1/write/stats</c>.</summary>
public sealed record IngestStatsResponse(
    [property: JsonPropertyName("line_protocol")] IngestFormatStats LineProtocol,
    [property: JsonPropertyName("msgpack")] IngestFormatStats MsgPack);

/// <summary>Arc's <c>GET /api/v1/write/line-protocol/stats</c>: <c>{status, stats}</c> (points refused are ours).</summary>
public sealed record LineProtocolStatsResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("stats")] LineProtocolStats Stats);

public sealed record LineProtocolStats(
    [property: JsonPropertyName("total_requests")] long TotalRequests,
    [property: JsonPropertyName("total_records")] long TotalRecords,
    [property: JsonPropertyName("total_records_rejected")] long TotalRecordsRejected,
    [property: JsonPropertyName("total_bytes")] long TotalBytes,
    [property: JsonPropertyName("total_errors")] long TotalErrors);

/// <summary>Arc's answers of the line-protocol health (<c>{status, service}</c>) and flush (<c>{status, message}</c>) routes.</summary>
public sealed record LineProtocolHealthResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("service"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Service,
    [property: JsonPropertyName("message"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Message = null);

/// <summary>A rejected MessagePack body: why, and the byte offset (in the decompressed body) of the offending value.</summary>
public sealed record MsgPackErrorResponse(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("offset")] long Offset)
{
    [JsonPropertyName("success")]
    [JsonPropertyOrder(-1)]
    public bool Success => false;
}

/// <summary>Source-generated JSON for the ingest stats and MessagePack errors (used with explicit type info, AOT-safe).</summary>
[JsonSerializable(typeof(IngestStatsResponse))]
[JsonSerializable(typeof(MsgPackErrorResponse))]
[JsonSerializable(typeof(LineProtocolStatsResponse))]
[JsonSerializable(typeof(LineProtocolHealthResponse))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
internal sealed partial class IngestJsonContext : JsonSerializerContext
{
    /// <summary>Like <see cref="ApiJsonContext.Api"/>: apostrophes and non-ASCII text are not escaped.</summary>
    public static IngestJsonContext Api { get; } = new(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}

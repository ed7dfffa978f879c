using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Engine.Storage;
using Arc.Engine.Wal;
using Arc.Native.Auth;
using Arc.Native.Configuration;
using Arc.Protocol.MessagePack;

namespace Arc.Native.Http;

/// <summary>
/// Arc's binary ingest, <c>POST /api/v1/write/msgpack</c> (what Arc clients and Telegraf's <c>outputs.arc</c> send): the body
/// is decompressed as it arrives when its first bytes are gzip's or zstd's magic (whatever the headers say), read whole
/// into native memory (<see cref="NativeBodyBuffer"/>: released to the operating system after the request) up to
/// <c>ingest.max_decompressed_size</c> (413 past it, while inflating, so a compression bomb costs at most that), and
/// decoded by <see cref="MsgPackDecoder"/> straight into a write batch. All or nothing: a body with any error is answered
/// 400 with the byte offset and writes nothing; a good one is committed (through the WAL when it is on) and answered 204;
/// like line protocol, 503 when the write buffers are over their memory budget and 507 when the WAL cannot be written.
/// <c>GET /api/v1/write/msgpack/spec</c> describes the format.
/// </summary>
internal static class MsgPackEndpoints
{
    public const string Path = "/api/v1/write/msgpack";

    /// <summary>The first buffer for a body without Content-Length (it grows as data arrives).</summary>
    private const int InitialBuffer = 64 * 1024;

    public static void Map(WebApplication app)
    {
        app.MapPost(Path, static (HttpContext context, ArcEngine engine, ArcConfig config, IngestStats stats) =>
            WriteAsync(context, engine, config, stats.MsgPack)).Requires(Permission.Write);
        app.MapGet(Path + "/spec", static () => Results.Text(MsgPackSpec.Json, "application/json")).Requires(Permission.Read);
        app.MapGet(Path + "/stats", static (IngestStats stats) =>
            Results.Json(stats.Snapshot(), IngestJsonContext.Api.IngestStatsResponse)).Requires(Permission.Read);
    }

    private static async Task WriteAsync(HttpContext context, ArcEngine engine, ArcConfig config, FormatStats stats)
    {
        LimitedReadStream? received = null;
        var stored = false;
        try
        {
            var database = context.Request.Headers[WriteEndpoints.DatabaseHeader].ToString();
            if (database.Length == 0)
            {
                database = WriteEndpoints.DefaultDatabase;
            }

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

            if (engine.IsOverMemoryBudget)
            {
                await WriteEndpoints.Overloaded(context, engine).ConfigureAwait(false);
                return;
            }

            var compression = await RequestBodies.DetectAsync(context.Request.BodyReader).ConfigureAwait(false);
            received = new LimitedReadStream(context.Request.Body, config.MaxPayloadBytes, "the body", "server.max_payload_size");
            var limit = Math.Min(config.MaxDecompressedBytes, Array.MaxLength - 1L);
            using var body = new LimitedReadStream(compression == BodyCompression.None ? received : RequestBodies.Decompress(received, compression),
                limit, compression == BodyCompression.None ? "the body" : "the decompressed body", RequestBodies.MaxDecompressedKey);
            var expected = context.Request.ContentLength ?? InitialBuffer;
            using var buffer = new NativeBodyBuffer(compression == BodyCompression.None ? expected + 1 : Math.Max(expected * 4, InitialBuffer),
                (int)limit + 1);
            await ReadWholeAsync(body, buffer).ConfigureAwait(false);

            var options = new MsgPackDecoderOptions
            {
                DefaultTimestamp = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100,
                MaxTagsPerRecord = config.MaxTagsPerLine,
                MaxFieldsPerRecord = config.MaxFieldsPerLine,
            };
            var batch = engine.RentBatch(database);
            try
            {
                if (!Decode(buffer.WrittenSpan, batch, options, out var summary, out var error))
                {
                    stats.Records(0, summary.Rows);
                    await Results.Json(new MsgPackErrorResponse(error.Message, error.Offset), IngestJsonContext.Api.MsgPackErrorResponse,
                            statusCode: error.Kind == MsgPackErrorKind.TooLarge ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest)
                        .ExecuteAsync(context).ConfigureAwait(false);
                    return;
                }

                await engine.CommitAsync(batch).ConfigureAwait(false);
                stats.Records(summary.Rows, 0);
                stored = true;
                context.Response.StatusCode = StatusCodes.Status204NoContent;
            }
            finally
            {
                engine.ReturnBatch(batch);
            }
        }
        catch (PayloadTooLargeException e)
        {
            await ErrorResponses.WriteAsync(context, e).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status413PayloadTooLarge,
                $"the body is larger than server.max_payload_size ({config.MaxPayloadBytes} bytes)").ConfigureAwait(false);
        }
        catch (WalWriteException e)
        {
            await ErrorResponses.WriteAsync(context, e, $"{e.Message}; the records of this request were not stored").ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, $"invalid gzip body: {e.Message}").ConfigureAwait(false);
        }
        catch (Exception e) when (RequestBodies.IsCorruptZstd(e))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, $"invalid zstd body: {e.Message}").ConfigureAwait(false);
        }
        finally
        {
            stats.Request(received?.Position ?? 0, failed: !stored);
            received?.Dispose();
        }
    }

    private static bool Decode(ReadOnlySpan<byte> body, WriteBatch batch, in MsgPackDecoderOptions options,
        out MsgPackSummary summary, out MsgPackError error)
    {
        var handler = new MsgPackBatchHandler(batch);
        return MsgPackDecoder.TryDecode(body, ref handler, options, out summary, out error);
    }

    private static bool IsKnownEncoding(string encoding) =>
        encoding.Trim().ToLowerInvariant() is "identity" or "gzip" or "x-gzip" or "zstd" or "none";

    /// <summary>
    /// Reads <paramref name="body"/> to its end into <paramref name="buffer"/>. The body's <see cref="LimitedReadStream"/>
    /// throws once it passes its limit, which is one byte below the buffer's maximum, so the buffer never fills up. No
    /// cancellation token (see <see cref="RequestBodies.DetectAsync"/>).
    /// </summary>
    private static async Task ReadWholeAsync(Stream body, NativeBodyBuffer buffer)
    {
        while (true)
        {
            var read = await body.ReadAsync(buffer.GetFreeMemory()).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }

            buffer.Advance(read);
        }
    }
}

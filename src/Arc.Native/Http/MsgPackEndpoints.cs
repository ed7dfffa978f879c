using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Engine.Storage;
using Arc.Engine.Wal;
using Arc.Native.Auth;
using Arc.Native.Configuration;
using Arc.Protocol.MessagePack;
using ZstdSharp;

namespace Arc.Native.Http;

/// <summary>
/// Arc's binary ingest, <c>POST /api/v1/write/msgpack</c> (what Arc clients and Telegraf's <c>outputs.arc</c> send): the body
/// is read whole into pooled memory, decompressed when its first bytes are gzip's or zstd's magic (whatever the headers
/// say), capped at <c>ingest.max_decompressed_size</c>, and decoded by <see cref="MsgPackDecoder"/> straight into a write
/// batch. All or nothing: a body with any error is answered 400 with the byte offset and writes nothing; a good one is
/// committed (through the WAL when it is on) and answered 204; like line protocol, 503 when the write buffers are over
/// their memory budget and 507 when the WAL cannot be written. <c>GET /api/v1/write/msgpack/spec</c> describes the format.
/// </summary>
internal static class MsgPackEndpoints
{
    public const string Path = "/api/v1/write/msgpack";

    /// <summary>Largest first buffer for a body (it grows as data arrives), whatever Content-Length claims.</summary>
    private const int MaxInitialBuffer = 64 << 20;

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
        byte[]? raw = null;
        byte[]? inflated = null;
        long received = 0;
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

            int rawLength;
            (raw, rawLength) = await ReadBodyAsync(context.Request.BodyReader, context.Request.ContentLength, context.RequestAborted)
                .ConfigureAwait(false);
            received = rawLength;

            var limit = Math.Min(config.MaxDecompressedBytes, Array.MaxLength - 1L);
            ReadOnlyMemory<byte> body;
            if (rawLength >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
            {
                var hint = rawLength >= 18 ? BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(rawLength - 4)) : 0u;
                using var gzip = new GZipStream(new MemoryStream(raw, 0, rawLength, writable: false), CompressionMode.Decompress);
                (inflated, var length) = Inflate(gzip, limit, hint);
                body = inflated.AsMemory(0, length);
            }
            else if (rawLength >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(raw) == 0xFD2FB528)
            {
                using var zstd = new DecompressionStream(new MemoryStream(raw, 0, rawLength, writable: false));
                (inflated, var length) = Inflate(zstd, limit, (ulong)rawLength * 4);
                body = inflated.AsMemory(0, length);
            }
            else
            {
                if (rawLength > limit)
                {
                    throw new PayloadTooLargeException($"the body is larger than ingest.max_decompressed_size ({limit} bytes)");
                }

                body = raw.AsMemory(0, rawLength);
            }

            var options = new MsgPackDecoderOptions
            {
                DefaultTimestamp = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100,
                MaxTagsPerRecord = config.MaxTagsPerLine,
                MaxFieldsPerRecord = config.MaxFieldsPerLine,
            };
            var batch = engine.RentBatch(database);
            try
            {
                if (!Decode(body, batch, options, out var summary, out var error))
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
            await WriteEndpoints.Error(context, StatusCodes.Status413PayloadTooLarge, e.Message).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status413PayloadTooLarge,
                $"the body is larger than server.max_payload_size ({config.MaxPayloadBytes} bytes)").ConfigureAwait(false);
        }
        catch (WalWriteException e)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status507InsufficientStorage,
                $"{e.Message}; the records of this request were not stored").ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, $"invalid gzip body: {e.Message}").ConfigureAwait(false);
        }
        catch (Exception e) when (e is ZstdException or EndOfStreamException)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, $"invalid zstd body: {e.Message}").ConfigureAwait(false);
        }
        finally
        {
            if (raw is not null)
            {
                ArrayPool<byte>.Shared.Return(raw);
            }

            if (inflated is not null)
            {
                ArrayPool<byte>.Shared.Return(inflated);
            }

            stats.Request(received, failed: !stored);
        }
    }

    private static bool Decode(ReadOnlyMemory<byte> body, WriteBatch batch, in MsgPackDecoderOptions options,
        out MsgPackSummary summary, out MsgPackError error)
    {
        var handler = new MsgPackBatchHandler(batch);
        return MsgPackDecoder.TryDecode(body.Span, ref handler, options, out summary, out error);
    }

    private static bool IsKnownEncoding(string encoding) =>
        encoding.Trim().ToLowerInvariant() is "identity" or "gzip" or "x-gzip" or "zstd" or "none";

    /// <summary>Reads the whole request body into a pooled array (returned to the pool by the caller).</summary>
    private static async Task<(byte[] Buffer, int Length)> ReadBodyAsync(System.IO.Pipelines.PipeReader reader, long? contentLength,
        CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(contentLength ?? 64 * 1024, 1, MaxInitialBuffer));
        var length = 0;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var data = result.Buffer;
                if (length + data.Length > Array.MaxLength)
                {
                    throw new PayloadTooLargeException($"the body is larger than {Array.MaxLength} bytes");
                }

                if (length + data.Length > buffer.Length)
                {
                    buffer = Grow(buffer, length, (int)Math.Min(Math.Max(length + data.Length, buffer.Length * 2L), Array.MaxLength));
                }

                data.CopyTo(buffer.AsSpan(length));
                length += (int)data.Length;
                reader.AdvanceTo(data.End);
                if (result.IsCompleted)
                {
                    return (buffer, length);
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>
    /// Decompresses into a pooled array, failing with 413 once more than <paramref name="limit"/> bytes come out (a
    /// compression bomb stops there). <paramref name="hint"/> is the size the stream claims; it only sizes the first buffer.
    /// </summary>
    private static (byte[] Buffer, int Length) Inflate(Stream decompressed, long limit, ulong hint)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(hint + 1, 4096, (ulong)Math.Min(limit + 1, MaxInitialBuffer)));
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit)
                    {
                        throw new PayloadTooLargeException($"the decompressed body is larger than {limit} bytes");
                    }

                    buffer = Grow(buffer, length, (int)Math.Min(buffer.Length * 2L, limit + 1));
                }

                var read = decompressed.Read(buffer, length, buffer.Length - length);
                if (read == 0)
                {
                    return (buffer, length);
                }

                length += read;
                if (length > limit)
                {
                    throw new PayloadTooLargeException($"the decompressed body is larger than {limit} bytes");
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static byte[] Grow(byte[] buffer, int used, int size)
    {
        var grown = ArrayPool<byte>.Shared.Rent(size);
        buffer.AsSpan(0, used).CopyTo(grown);
        ArrayPool<byte>.Shared.Return(buffer);
        return grown;
    }
}

using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Engine.Storage;
using Arc.Engine.Wal;
using Arc.Native.Auth;
using Arc.Native.Configuration;
using Arc.Protocol.LineProtocol;

namespace Arc.Native.Http;

/// <summary>
/// Line-protocol writes on the three URL shapes clients use: InfluxDB 1.x (<c>/write?db=</c>), InfluxDB 2.x
/// (<c>/api/v2/write?bucket=</c>) and Arc's own (<c>/api/v1/write/line-protocol</c> with <c>x-arc-database</c>). The body is
/// read from the request's PipeReader and parsed as it arrives (gzip or zstd, declared by Content-Encoding or recognised
/// from the first bytes, is decompressed on the way, up to <c>ingest.max_decompressed_size</c>); valid lines are stored
/// even when others are rejected (InfluxDB's partial-write semantics), and the response lists each rejected line with
/// its position. Past a size limit the answer is 413 and the lines before it stay stored.
/// </summary>
internal static class WriteEndpoints
{
    public const string DatabaseHeader = "x-arc-database";
    public const string DefaultDatabase = "default";

    public static void Map(WebApplication app)
    {
        app.MapPost("/write", (HttpContext context, ArcEngine engine, ArcConfig config) =>
            WriteAsync(context, engine, config, context.Request.Query["db"].ToString(), "db")).Requires(Permission.Write);
        app.MapPost("/api/v1/write", (HttpContext context, ArcEngine engine, ArcConfig config) =>
            WriteAsync(context, engine, config, context.Request.Query["db"].ToString(), "db")).Requires(Permission.Write);
        app.MapPost("/api/v2/write", (HttpContext context, ArcEngine engine, ArcConfig config) =>
        {
            // InfluxDB 1.8's compatibility convention: bucket "db/retention_policy".
            var bucket = context.Request.Query["bucket"].ToString();
            var slash = bucket.IndexOf('/', StringComparison.Ordinal);
            return WriteAsync(context, engine, config, slash >= 0 ? bucket[..slash] : bucket, "bucket");
        }).Requires(Permission.Write);
        app.MapPost("/api/v1/write/line-protocol", (HttpContext context, ArcEngine engine, ArcConfig config) =>
        {
            var database = context.Request.Headers[DatabaseHeader].ToString();
            if (database.Length == 0)
            {
                database = context.Request.Query["db"].ToString();
            }

            return WriteAsync(context, engine, config, database.Length == 0 ? DefaultDatabase : database, DatabaseHeader);
        }).Requires(Permission.Write);
    }

    private static async Task WriteAsync(HttpContext context, ArcEngine engine, ArcConfig config, string database, string databaseSource)
    {
        if (database.Length == 0)
        {
            await Error(context, StatusCodes.Status400BadRequest, $"database is required ({databaseSource})").ConfigureAwait(false);
            return;
        }

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

        var options = new LineProtocolOptions
        {
            Precision = precision,
            DefaultTimestamp = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100,
            MaxLineLength = config.MaxLineLength,
            MaxTagsPerLine = config.MaxTagsPerLine,
            MaxFieldsPerLine = config.MaxFieldsPerLine,
        };
        if (engine.IsOverMemoryBudget)
        {
            await Overloaded(context, engine).ConfigureAwait(false);
            return;
        }

        var batch = engine.RentBatch(database);
        try
        {
            // A declared encoding is trusted; without one the body's first bytes tell (as Arc does).
            var compression = encoding switch
            {
                "gzip" or "x-gzip" => BodyCompression.Gzip,
                "zstd" => BodyCompression.Zstd,
                _ => await RequestBodies.DetectAsync(context.Request.BodyReader).ConfigureAwait(false),
            };
            var body = compression == BodyCompression.None
                ? context.Request.BodyReader
                : PipeReader.Create(
                    new LimitedReadStream(RequestBodies.Decompress(context.Request.Body, compression), config.MaxDecompressedBytes,
                        "the decompressed body", RequestBodies.MaxDecompressedKey),
                    new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: false));
            await ReadBodyAsync(body, options, batch, engine, context.RequestAborted).ConfigureAwait(false);
            await engine.CommitAsync(batch).ConfigureAwait(false);
            await Respond(context, batch).ConfigureAwait(false);
        }
        catch (PayloadTooLargeException e)
        {
            await engine.CommitAsync(batch).ConfigureAwait(false);
            await ErrorResponses.WriteAsync(context, e, e.Message + PartialNote(batch)).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await engine.CommitAsync(batch).ConfigureAwait(false);
            await Error(context, StatusCodes.Status413PayloadTooLarge,
                $"the body is larger than server.max_payload_size ({config.MaxPayloadBytes} bytes){PartialNote(batch)}").ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            await engine.CommitAsync(batch).ConfigureAwait(false);
            await Error(context, StatusCodes.Status400BadRequest, $"invalid gzip body: {e.Message}{PartialNote(batch)}").ConfigureAwait(false);
        }
        catch (Exception e) when (RequestBodies.IsCorruptZstd(e))
        {
            await engine.CommitAsync(batch).ConfigureAwait(false);
            await Error(context, StatusCodes.Status400BadRequest, $"invalid zstd body: {e.Message}{PartialNote(batch)}").ConfigureAwait(false);
        }
        catch (WalWriteException e)
        {
            await ErrorResponses.WriteAsync(context, e, $"{e.Message}; the points of this request were not stored{CommittedNote(batch)}")
                .ConfigureAwait(false);
        }
        catch (OverloadedException)
        {
            context.Response.Headers.RetryAfter = "1";
            await Error(context, StatusCodes.Status503ServiceUnavailable,
                $"write buffers are full (ingest.max_memory) and storage is not keeping up; retry later{CommittedNote(batch)}").ConfigureAwait(false);
        }
        finally
        {
            context.RequestServices.GetService<IngestStats>()?.LineProtocol.Records(batch.Accepted, batch.Rejected);
            engine.ReturnBatch(batch);
        }
    }

    /// <summary>503 with Retry-After: buffered rows use up the memory budget because flushing falls behind.</summary>
    internal static Task Overloaded(HttpContext context, ArcEngine engine)
    {
        context.Response.Headers.RetryAfter = "1";
        return Error(context, StatusCodes.Status503ServiceUnavailable,
            $"write buffers are full ({engine.BufferedBytes} bytes buffered, ingest.max_memory is {engine.Options.MaxBufferMemory}) " +
            "and storage is not keeping up; retry later");
    }

    private static async Task ReadBodyAsync(PipeReader body, LineProtocolOptions options, WriteBatch batch, ArcEngine engine,
        CancellationToken cancellationToken)
    {
        var state = new LineProtocolReaderState(options);
        try
        {
            while (true)
            {
                var result = await body.ReadAsync().ConfigureAwait(false); // no token: see RequestBodies.DetectAsync
                state = Parse(result.Buffer, result.IsCompleted, state, batch, out var consumed);
                body.AdvanceTo(consumed, result.Buffer.End);
                if (batch.PendingRows >= engine.Options.MaxBufferRows)
                {
                    // Huge bodies: hand rows over as they come so memory stays bounded, waiting while the budget is used up.
                    await WaitForMemoryAsync(engine, cancellationToken).ConfigureAwait(false);
                    await engine.CommitAsync(batch).ConfigureAwait(false);
                }

                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        finally
        {
            await body.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Waits up to 10 s for flushes to free the write budget; past that the request is refused (503).</summary>
    private static async Task WaitForMemoryAsync(ArcEngine engine, CancellationToken cancellationToken)
    {
        if (!await engine.WaitForMemoryAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false))
        {
            throw new OverloadedException();
        }
    }

    private static LineProtocolReaderState Parse(ReadOnlySequence<byte> buffer, bool isFinal, LineProtocolReaderState state,
        WriteBatch batch, out SequencePosition consumed)
    {
        var reader = new LineProtocolReader(buffer, isFinal, state);
        var handler = new LineProtocolBatchHandler(batch);
        reader.Read(ref handler);
        consumed = reader.Position;
        return reader.CurrentState;
    }

    private static Task Respond(HttpContext context, WriteBatch batch)
    {
        if (batch.Rejected == 0)
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        }

        var summary = batch.Accepted > 0
            ? $"partial write: {batch.Rejected} of {batch.Accepted + batch.Rejected} points rejected; the other {batch.Accepted} were stored"
            : $"no points written: {batch.Rejected} rejected";
        var first = batch.Errors[0];
        summary += string.Create(CultureInfo.InvariantCulture, $" (line {first.Line}, column {first.Column}: {first.Message})");
        var errors = batch.Errors.Select(e => new WriteErrorItem(e.Line, e.Column, e.Message)).ToList();
        return Results.Json(new WriteErrorResponse(summary, batch.Accepted, batch.Rejected, errors), ApiJsonContext.Api.WriteErrorResponse,
            statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(context);
    }

    private static string PartialNote(WriteBatch batch) =>
        batch.Accepted > 0 ? $"; {batch.Accepted} points before that point were stored" : "";

    /// <summary>For failures after part of a large body was already committed.</summary>
    private static string CommittedNote(WriteBatch batch) =>
        batch.Accepted - batch.PendingRows > 0 ? $" (the first {batch.Accepted - batch.PendingRows} points were stored before)" : "";

    private sealed class OverloadedException : Exception;

    internal static Task Error(HttpContext context, int status, string message) =>
        Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse, statusCode: status).ExecuteAsync(context);
}

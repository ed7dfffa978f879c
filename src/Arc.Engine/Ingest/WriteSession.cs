using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using Arc.Engine.Errors;
using Arc.Engine.Wal;
using Arc.Protocol.LineProtocol;
using Arc.Protocol.MessagePack;

namespace Arc.Engine.Ingest;

/// <summary>What one write request may send (the host maps its configuration keys onto these).</summary>
public sealed record WriteLimits
{
    /// <summary>Body bytes as received, compressed or not (<c>server.max_payload_size</c>).</summary>
    public long MaxBodyBytes { get; init; } = 1L << 30;

    /// <summary>
    /// Body bytes after decompression (<c>ingest.max_decompressed_size</c>), 256 MiB: a MessagePack body is held whole after
    /// decompression (all or nothing), so this is what one compression bomb can make the server hold for a moment.
    /// </summary>
    public long MaxDecompressedBytes { get; init; } = 256L << 20;

    /// <summary><c>ingest.max_line_length</c>.</summary>
    public int MaxLineLength { get; init; } = 1 << 20;

    /// <summary><c>ingest.max_tags_per_line</c> (MessagePack: per record).</summary>
    public int MaxTagsPerLine { get; init; } = 256;

    /// <summary><c>ingest.max_fields_per_line</c> (MessagePack: per record).</summary>
    public int MaxFieldsPerLine { get; init; } = 1024;

    /// <summary>How long a large body waits for flushes to free the write budget before it is refused.</summary>
    public TimeSpan MemoryWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// <c>import.max_file_size</c>: the largest file a bulk import takes, as uploaded and (line protocol) decompressed, and the
    /// largest Parquet file spooled to disk. An import is streamed, so this bounds disk and time, not memory.
    /// </summary>
    public long MaxImportBytes { get; init; } = 10L << 30;

    /// <summary><c>import.max_columns</c>: the most columns a CSV header or a Parquet schema may have.</summary>
    public int MaxImportColumns { get; init; } = 1024;
}

/// <summary>One write request: the database it writes to, how its body is compressed, and the length it declared.</summary>
/// <param name="Database">A valid database name (the host checks it and the token's scope).</param>
/// <param name="Compression">As declared by the request, or <see cref="BodyCompression.Detect"/> to recognise it.</param>
/// <param name="DeclaredLength">The body's length if the request states it: a longer one is refused before any is read.</param>
public readonly record struct WriteRequest(string Database, BodyCompression Compression, long? DeclaredLength);

/// <summary>
/// How a write request ended. <see cref="Failure"/> is null when the whole body was read: every point is then stored but
/// the <see cref="Rejected"/> ones (line protocol stores the good points of a body with bad ones). Otherwise the request
/// failed for that reason with <see cref="Message"/>, which says what of it was stored.
/// </summary>
public sealed class WriteOutcome
{
    public ErrorReason? Failure { get; init; }

    /// <summary>Why the request failed, or a summary of the rejected points; null for a clean write.</summary>
    public string? Message { get; init; }

    /// <summary>Points (records) stored.</summary>
    public long Accepted { get; init; }

    /// <summary>Points (records) refused.</summary>
    public long Rejected { get; init; }

    /// <summary>The first rejected line-protocol points with their line and column.</summary>
    public IReadOnlyList<WriteError> Errors { get; init; } = [];

    /// <summary>A MessagePack body's error: the byte offset (in the decompressed body) of the value at fault.</summary>
    public long? ErrorOffset { get; init; }

    /// <summary>Body bytes read as received (compressed or not).</summary>
    public long BodyBytes { get; init; }

    /// <summary>Line protocol: the measurements that stored points.</summary>
    public IReadOnlyList<string> Measurements { get; init; } = [];

    /// <summary>Line protocol with a measurement filter (bulk import): points of other measurements, not stored.</summary>
    public long Skipped { get; init; }
}

/// <summary>
/// A write request from its body to stored rows: the engine reads the body from a <see cref="PipeReader"/> (gzip or zstd,
/// declared or recognised from its first bytes, decompressed on the way up to <see cref="WriteLimits.MaxDecompressedBytes"/>;
/// the body itself bounded by <see cref="WriteLimits.MaxBodyBytes"/>), parses it into a pooled batch, waits on the write
/// budget (<see cref="IIngestSettings.MaxBufferMemory"/>) and commits. Line protocol is parsed as it arrives and handed over
/// in parts for huge bodies; its good points are kept when others are rejected or the body is cut short (InfluxDB's
/// partial writes). MessagePack is all or nothing. Failures come back as a <see cref="WriteOutcome"/> with a reason;
/// only a broken connection ends in an exception.
/// </summary>
/// <remarks>
/// Body reads take no cancellation token: a web server fails them itself when the connection goes, while a read
/// cancelled through a token leaves Kestrel's connection pipe in its reading state (dotnet/aspnetcore#17840).
/// </remarks>
internal sealed class WriteSession(IngestEngine ingest, IIngestSettings options, bool import = false)
{
    /// <summary>The first buffer for a MessagePack body without a declared length (it grows as data arrives).</summary>
    private const int InitialBuffer = 64 * 1024;

    internal const string ImportSetting = "import.max_file_size";

    /// <summary>The setting that bounds the body as received: a bulk import's file has its own.</summary>
    private readonly string _bodySetting = import ? ImportSetting : "server.max_payload_size";

    private readonly string _decompressedSetting = import ? ImportSetting : RequestBodies.MaxDecompressedKey;

    /// <summary>A bulk import's file is bounded, as received and decompressed, by <see cref="WriteLimits.MaxImportBytes"/>.</summary>
    private WriteLimits Limits => import
        ? options.Writes with { MaxBodyBytes = options.Writes.MaxImportBytes, MaxDecompressedBytes = options.Writes.MaxImportBytes }
        : options.Writes;

    private long Now => (options.Time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;

    /// <param name="progress">A bulk import's running figures, updated as the body is parsed.</param>
    /// <param name="onlyMeasurement">A bulk import's filter: points of other measurements are skipped (counted, not stored).</param>
    public async Task<WriteOutcome> LineProtocolAsync(WriteRequest request, TimestampPrecision precision, PipeReader body,
        CancellationToken cancellationToken, ImportProgress? progress = null, string? onlyMeasurement = null)
    {
        if (Refused(request) is { } refused)
        {
            return refused;
        }

        var parsing = new LineProtocolOptions
        {
            Precision = precision,
            DefaultTimestamp = Now,
            MaxLineLength = Limits.MaxLineLength,
            MaxTagsPerLine = Limits.MaxTagsPerLine,
            MaxFieldsPerLine = Limits.MaxFieldsPerLine,
        };
        var batch = ingest.RentBatch(request.Database);
        batch.OnlyMeasurement = onlyMeasurement;
        var received = new BodyCount(_bodySetting);
        var source = ConsumedOnly(body);
        try
        {
            try
            {
                var compression = request.Compression == BodyCompression.Detect
                    ? await RequestBodies.DetectAsync(source).ConfigureAwait(false)
                    : request.Compression;
                var reader = compression == BodyCompression.None
                    ? source
                    : PipeReader.Create(Decompressed(received.Wrap(source.AsStream(leaveOpen: true), Limits.MaxBodyBytes), compression),
                        new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: false));
                await ReadLineProtocolAsync(reader, parsing, batch, compression == BodyCompression.None ? received : null, progress, cancellationToken)
                    .ConfigureAwait(false);
                await ingest.CommitAsync(batch).ConfigureAwait(false);
                return Finished(batch, received.Bytes);
            }
            catch (Exception e) when (BodyError(e) is { } error)
            {
                // What was parsed before the body went wrong is stored, as InfluxDB does.
                await ingest.CommitAsync(batch).ConfigureAwait(false);
                return Failed(batch, error.Reason, error.Message + (batch.Accepted > 0 ? $"; {batch.Accepted} points before that point were stored" : ""),
                    received.Bytes);
            }
        }
        catch (Exception e) when (e is WalWriteException or DropInProgressException)
        {
            return Failed(batch, ((IHasErrorReason)e).Reason, $"{e.Message}; the points of this request were not stored{CommittedNote(batch)}",
                received.Bytes);
        }
        catch (OverloadedException)
        {
            return Failed(batch, ErrorReason.Busy,
                $"write buffers are full (ingest.max_memory) and storage is not keeping up; retry later{CommittedNote(batch)}", received.Bytes);
        }
        finally
        {
            ingest.ReturnBatch(batch);
            await source.CompleteAsync().ConfigureAwait(false);
        }
    }

    public async Task<WriteOutcome> MsgPackAsync(WriteRequest request, PipeReader body)
    {
        if (Refused(request) is { } refused)
        {
            return refused;
        }

        var received = new BodyCount(_bodySetting);
        var source = ConsumedOnly(body);
        try
        {
            // Whatever the headers say, the first bytes tell (as Arc does).
            var compression = await RequestBodies.DetectAsync(source).ConfigureAwait(false);
            var raw = received.Wrap(source.AsStream(leaveOpen: true), Limits.MaxBodyBytes);
            var limit = Math.Min(Limits.MaxDecompressedBytes, Array.MaxLength - 1L);
            using var decompressed = new LimitedReadStream(compression == BodyCompression.None ? raw : RequestBodies.Decompress(raw, compression),
                limit, compression == BodyCompression.None ? "the body" : "the decompressed body", _decompressedSetting);
            var expected = request.DeclaredLength ?? InitialBuffer;
            using var buffer = new NativeBodyBuffer(compression == BodyCompression.None ? expected + 1 : Math.Max(expected * 4, InitialBuffer),
                (int)limit + 1);
            await ReadWholeAsync(decompressed, buffer).ConfigureAwait(false);
            return await DecodeAndCommitAsync(request.Database, buffer, received.Bytes).ConfigureAwait(false);
        }
        catch (Exception e) when (BodyError(e) is { } error)
        {
            return new WriteOutcome { Failure = error.Reason, Message = error.Message, BodyBytes = received.Bytes };
        }
        catch (Exception e) when (e is WalWriteException or DropInProgressException)
        {
            return new WriteOutcome
            {
                Failure = ((IHasErrorReason)e).Reason,
                Message = $"{e.Message}; the records of this request were not stored",
                BodyBytes = received.Bytes,
            };
        }
        finally
        {
            await source.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async Task<WriteOutcome> DecodeAndCommitAsync(string database, NativeBodyBuffer buffer, long bodyBytes)
    {
        var decoding = new MsgPackDecoderOptions
        {
            DefaultTimestamp = Now,
            MaxTagsPerRecord = Limits.MaxTagsPerLine,
            MaxFieldsPerRecord = Limits.MaxFieldsPerLine,
        };
        var batch = ingest.RentBatch(database);
        try
        {
            if (!Decode(buffer.WrittenSpan, batch, decoding, out var summary, out var error))
            {
                return new WriteOutcome
                {
                    Failure = error.Kind == MsgPackErrorKind.TooLarge ? ErrorReason.TooLarge : ErrorReason.Invalid,
                    Message = error.Message,
                    ErrorOffset = error.Offset,
                    Rejected = summary.Rows,
                    BodyBytes = bodyBytes,
                };
            }

            await ingest.CommitAsync(batch).ConfigureAwait(false);
            return new WriteOutcome { Accepted = summary.Rows, BodyBytes = bodyBytes };
        }
        finally
        {
            ingest.ReturnBatch(batch);
        }
    }

    /// <summary>
    /// <paramref name="body"/> read through a stream, so the caller's reader is only ever advanced to what was copied out
    /// of it (consumed and examined alike). The readers here examine more than they consume (a partial last line, the
    /// first bytes of a body shorter than a compression magic), and Kestrel's body reader cannot hand its connection's
    /// pipe back after such a read when the body then ends early: the pipe stays in its reading state and the connection
    /// ends with a "Reading is already in progress" warning (dotnet/aspnetcore#19476). The cost is one copy of each 64 KB.
    /// Completing the returned reader completes <paramref name="body"/>.
    /// </summary>
    private static PipeReader ConsumedOnly(PipeReader body) =>
        PipeReader.Create(body.AsStream(), new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: false));

    /// <summary>A request refused before its body is read: declared too long, or the write budget is used up.</summary>
    private WriteOutcome? Refused(WriteRequest request)
    {
        if (request.DeclaredLength > Limits.MaxBodyBytes)
        {
            return new WriteOutcome { Failure = ErrorReason.TooLarge, Message = TooLarge("the body", Limits.MaxBodyBytes, _bodySetting) };
        }

        return ingest.IsOverMemoryBudget
            ? new WriteOutcome
            {
                Failure = ErrorReason.Busy,
                Message = $"write buffers are full ({ingest.BufferedBytes} bytes buffered, ingest.max_memory is {options.MaxBufferMemory}) " +
                          "and storage is not keeping up; retry later",
            }
            : null;
    }

    private async Task ReadLineProtocolAsync(PipeReader body, LineProtocolOptions parsing, WriteBatch batch, BodyCount? received,
        ImportProgress? progress, CancellationToken cancellationToken)
    {
        var state = new LineProtocolReaderState(parsing);
        long unread = 0;
        try
        {
            while (true)
            {
                var result = await body.ReadAsync().ConfigureAwait(false); // no token: see the remarks
                if (received is not null)
                {
                    received.Add(result.Buffer.Length - unread, Limits.MaxBodyBytes);
                }

                state = Parse(result.Buffer, result.IsCompleted, state, batch, out var consumed);
                unread = result.Buffer.Slice(consumed).Length;
                body.AdvanceTo(consumed, result.Buffer.End);
                progress?.SetRows(batch.Accepted, batch.Rejected);
                if (batch.PendingRows >= options.MaxBufferRows)
                {
                    // Huge bodies: hand rows over as they come so memory stays bounded, waiting while the budget is used up.
                    if (!await ingest.WaitForMemoryAsync(options.MaxBufferMemory, Limits.MemoryWait, options.Time, cancellationToken)
                            .ConfigureAwait(false))
                    {
                        throw new OverloadedException();
                    }

                    await ingest.CommitAsync(batch).ConfigureAwait(false);
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

    private static LineProtocolReaderState Parse(ReadOnlySequence<byte> buffer, bool isFinal, LineProtocolReaderState state,
        WriteBatch batch, out SequencePosition consumed)
    {
        var reader = new LineProtocolReader(buffer, isFinal, state);
        var handler = new LineProtocolBatchHandler(batch);
        reader.Read(ref handler);
        consumed = reader.Position;
        return reader.CurrentState;
    }

    private static bool Decode(ReadOnlySpan<byte> body, WriteBatch batch, in MsgPackDecoderOptions decoding,
        out MsgPackSummary summary, out MsgPackError error)
    {
        var handler = new MsgPackBatchHandler(batch);
        return MsgPackDecoder.TryDecode(body, ref handler, decoding, out summary, out error);
    }

    /// <summary>
    /// Reads <paramref name="body"/> to its end into <paramref name="buffer"/>. The body's <see cref="LimitedReadStream"/>
    /// throws once it passes its limit, which is one byte below the buffer's maximum, so the buffer never fills up.
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

    private Stream Decompressed(Stream compressed, BodyCompression compression) =>
        new LimitedReadStream(RequestBodies.Decompress(compressed, compression), Limits.MaxDecompressedBytes, "the decompressed body",
            _decompressedSetting);

    /// <summary>A body that could not be read to its end: too large, or not valid gzip or zstd.</summary>
    private static (ErrorReason Reason, string Message)? BodyError(Exception e) => e switch
    {
        PayloadTooLargeException => (ErrorReason.TooLarge, e.Message),
        InvalidDataException => (ErrorReason.Invalid, $"invalid gzip body: {e.Message}"),
        _ when RequestBodies.IsCorruptZstd(e) => (ErrorReason.Invalid, $"invalid zstd body: {e.Message}"),
        _ => null,
    };

    private static WriteOutcome Finished(WriteBatch batch, long bodyBytes)
    {
        if (batch.Rejected == 0)
        {
            return new WriteOutcome { Accepted = batch.Accepted, BodyBytes = bodyBytes, Measurements = [.. batch.Measurements], Skipped = batch.Skipped };
        }

        var summary = batch.Accepted > 0
            ? $"partial write: {batch.Rejected} of {batch.Accepted + batch.Rejected} points rejected; the other {batch.Accepted} were stored"
            : $"no points written: {batch.Rejected} rejected";
        var first = batch.Errors[0];
        summary += string.Create(CultureInfo.InvariantCulture, $" (line {first.Line}, column {first.Column}: {first.Message})");
        return new WriteOutcome
        {
            Message = summary,
            Accepted = batch.Accepted,
            Rejected = batch.Rejected,
            Errors = [.. batch.Errors],
            BodyBytes = bodyBytes,
            Measurements = [.. batch.Measurements],
            Skipped = batch.Skipped,
        };
    }

    private static WriteOutcome Failed(WriteBatch batch, ErrorReason reason, string message, long bodyBytes) => new()
    {
        Failure = reason,
        Message = message,
        Accepted = batch.Accepted - batch.PendingRows,
        Rejected = batch.Rejected,
        Errors = [.. batch.Errors],
        BodyBytes = bodyBytes,
        Measurements = [.. batch.Measurements],
        Skipped = batch.Skipped,
    };

    /// <summary>For failures after part of a large body was already committed.</summary>
    private static string CommittedNote(WriteBatch batch) =>
        batch.Accepted - batch.PendingRows > 0 ? $" (the first {batch.Accepted - batch.PendingRows} points were stored before)" : "";

    internal static string TooLarge(string what, long limit, string setting) => $"{what} is larger than {setting} ({limit} bytes)";

    private sealed class OverloadedException : Exception;

    /// <summary>Body bytes received, compressed or not, checked against <see cref="WriteLimits.MaxBodyBytes"/>.</summary>
    private sealed class BodyCount(string setting)
    {
        private LimitedReadStream? _stream;
        private long _bytes;

        public long Bytes => _stream?.Position ?? _bytes;

        public Stream Wrap(Stream body, long limit) => _stream = new LimitedReadStream(body, limit, "the body", setting);

        public void Add(long bytes, long limit)
        {
            _bytes += bytes;
            if (_bytes > limit)
            {
                throw new PayloadTooLargeException(TooLarge("the body", limit, setting));
            }
        }
    }
}

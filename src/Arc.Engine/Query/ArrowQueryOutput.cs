using Apache.Arrow;
using Apache.Arrow.C;
using Apache.Arrow.Compression;
using Apache.Arrow.Ipc;
using Arc.Engine.DuckDb;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>
/// The Arrow IPC stream of a query: each DuckDB chunk is converted by DuckDB itself (<c>duckdb_data_chunk_to_arrow</c>,
/// the C data interface), imported as a record batch over the exported buffers (no copy, no per-value work in C#) and
/// written with Arrow's stream writer, optionally with IPC body compression (zstd or lz4 frame, per buffer).
/// </summary>
public sealed class ArrowQueryOutput : IDisposable
{
    private static readonly CompressionCodecFactory Codecs = new();

    private readonly QueryCursor _cursor;
    private readonly DuckDBArrowOptions _options;

    private ArrowQueryOutput(QueryCursor cursor, DuckDBArrowOptions options, Schema schema)
    {
        _cursor = cursor;
        _options = options;
        Schema = schema;
    }

    public Schema Schema { get; }

    /// <summary>
    /// Reads the result's Arrow schema, before anything is written; throws <see cref="QueryRejectedException"/> when a
    /// column type has no Arrow equivalent.
    /// </summary>
    public static ArrowQueryOutput Create(QueryCursor cursor)
    {
        var options = cursor.Result.ArrowOptions();
        var schema = cursor.Result.ArrowSchema(options, out var error);
        if (schema is null)
        {
            options.Dispose();
            throw new QueryRejectedException($"the result cannot be written as Arrow: {error}");
        }

        return new ArrowQueryOutput(cursor, options, schema);
    }

    /// <summary>
    /// Parses an <c>x-arc-arrow-compression</c> value: empty or <c>none</c> for uncompressed bodies, <c>zstd</c>,
    /// <c>lz4</c> (LZ4 frame, as the IPC format specifies). False for anything else.
    /// </summary>
    public static bool TryParseCompression(string? value, out CompressionCodecType? codec)
    {
        codec = null;
        switch (value?.Trim().ToLowerInvariant())
        {
            case null or "" or "none" or "uncompressed":
                return true;
            case "zstd":
                codec = CompressionCodecType.Zstd;
                return true;
            case "lz4" or "lz4_frame" or "lz4frame":
                codec = CompressionCodecType.Lz4Frame;
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Writes the stream (schema, one record batch per DuckDB chunk, end marker) to <paramref name="output"/>; returns the
    /// row count. A failure while DuckDB produces rows throws <see cref="DuckDbException"/>.
    /// </summary>
    public async ValueTask<long> WriteAsync(Stream output, CompressionCodecType? compression, CancellationToken cancellationToken)
    {
        var options = new IpcOptions
        {
            CompressionCodec = compression,
            CompressionCodecFactory = compression is null ? null : Codecs,
        };
        using var writer = new ArrowStreamWriter(output, Schema, leaveOpen: true, options);
        await writer.WriteStartAsync(cancellationToken).ConfigureAwait(false);
        long rows = 0;
        while (_cursor.Next() is { } chunk)
        {
            RecordBatch batch;
            using (chunk)
            {
                batch = Convert(chunk);
            }

            using (batch)
            {
                rows += batch.Length;
                await writer.WriteRecordBatchAsync(batch, cancellationToken).ConfigureAwait(false);
            }
        }

        await writer.WriteEndAsync(cancellationToken).ConfigureAwait(false);
        return rows;
    }

    /// <summary>One chunk as a record batch; the batch owns DuckDB's exported buffers until it is disposed.</summary>
    private unsafe RecordBatch Convert(DuckDBDataChunk chunk)
    {
        var array = CArrowArray.Create();
        try
        {
            using (var failure = NativeMethods.Arrow.DuckDBDataChunkToArrow(_options, chunk, (IntPtr)array))
            {
                if (!failure.IsInvalid && NativeMethods.ErrorData.DuckDBErrorDataHasError(failure))
                {
                    throw new DuckDbException(NativeMethods.ErrorData.DuckDBErrorDataMessage(failure));
                }
            }

            return CArrowArrayImporter.ImportRecordBatch(array, Schema);
        }
        finally
        {
            CArrowArray.Free(array);
        }
    }

    public void Dispose() => _options.Dispose();
}

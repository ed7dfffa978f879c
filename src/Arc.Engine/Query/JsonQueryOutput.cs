using System.Buffers;
using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Arc.Engine.Query;

/// <summary>
/// Arc's JSON query response, streamed: <c>{"success":true,"columns":[...],"data":[[...],...],"row_count":N,"execution_time_ms":X}</c>.
/// Rows are written chunk by chunk and handed to the transport after each, so results larger than memory stream through.
/// </summary>
public static class JsonQueryOutput
{
    private const int FlushThreshold = 32 * 1024;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    /// <summary>Writes the whole response; <paramref name="flush"/> pushes written bytes to the client. Returns the row count.</summary>
    public static async ValueTask<long> WriteAsync(QueryCursor cursor, IBufferWriter<byte> output, Func<ValueTask> flush, long startTimestamp)
    {
        var formats = cursor.Formats();
        var writer = new Utf8JsonWriter(output, WriterOptions);
        await using (writer.ConfigureAwait(false))
        {
            writer.WriteStartObject();
            writer.WriteBoolean("success"u8, true);
            writer.WriteStartArray("columns"u8);
            for (var i = 0; i < cursor.Result.ColumnCount; i++)
            {
                writer.WriteStringValue(cursor.Result.GetColumnName(i));
            }

            writer.WriteEndArray();
            writer.WriteStartArray("data"u8);
            long rows = 0;
            long flushed = 0;
            while (cursor.Next() is { } chunk)
            {
                using (chunk)
                {
                    rows += JsonResultWriter.WriteRows(writer, chunk, formats);
                }

                // BytesPending alone is not enough: the writer commits to the output whenever the output's buffer (4 KiB
                // segments for Kestrel's body) fills, resetting BytesPending, so count what was written since the last flush.
                if (writer.BytesCommitted + writer.BytesPending - flushed >= FlushThreshold)
                {
                    writer.Flush();
                    await flush().ConfigureAwait(false);
                    flushed = writer.BytesCommitted;
                }
            }

            writer.WriteEndArray();
            writer.WriteNumber("row_count"u8, rows);
            writer.WriteNumber("execution_time_ms"u8, Math.Round(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, 3));
            writer.WriteEndObject();
            writer.Flush();
            await flush().ConfigureAwait(false);
            return rows;
        }
    }
}

using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Arc.Engine.Query;

namespace Arc.Engine.Export.Targets;

/// <summary>
/// Posts each batch as one JSON document to a URL, with the configured headers:
/// <c>{"job_id","database","measurement","batch_id","rows":[{"time":"RFC 3339 ns","time_ns":N,"tag":"…","field":…}]}</c>.
/// Null values are left out of a row; non-finite floats are null. <c>batch_id</c> (also the <c>Idempotency-Key</c> header)
/// is the same when a batch is sent again after a crash, so a receiver can drop the repeat.
/// </summary>
internal sealed class HttpJsonTarget : IExportTarget
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };
    private readonly HttpClient _http;
    private readonly ExportTargetSpec _spec;
    private readonly string _jobId;
    private readonly TimeSpan _timeout;
    private readonly Uri _uri;

    public HttpJsonTarget(HttpClient http, ExportTargetSpec spec, string jobId, TimeSpan timeout)
    {
        _http = http;
        _spec = spec;
        _jobId = jobId;
        _timeout = timeout;
        _uri = new Uri(spec.Url!);
    }

    public Task PrepareAsync(ExportSchema schema, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task WriteAsync(ExportBatch batch, CancellationToken cancellationToken)
    {
        var batchId = BatchId(_jobId, batch);
        var body = Encode(batch, _jobId, batchId);
        await HttpTargets.SendAsync(_http, () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, _uri) { Content = HttpTargets.Content(body, "application/json", _spec.Gzip ?? false) };
            request.Headers.TryAddWithoutValidation("Idempotency-Key", batchId);
            foreach (var (name, value) in _spec.Headers ?? [])
            {
                if (!request.Headers.TryAddWithoutValidation(name, value))
                {
                    request.Content!.Headers.Remove(name);
                    request.Content.Headers.TryAddWithoutValidation(name, value);
                }
            }

            return request;
        }, _timeout, "HTTP JSON post", cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    internal static string BatchId(string jobId, ExportBatch batch)
    {
        var first = batch.Rows[0].Time.ToString(CultureInfo.InvariantCulture);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{jobId}\n{first}\n{batch.FirstKey}\n{batch.Count}"));
        return Convert.ToHexStringLower(hash.AsSpan(0, 16));
    }

    internal static byte[] Encode(ExportBatch batch, string jobId, string batchId)
    {
        var buffer = new ArrayBufferWriter<byte>(batch.Count * 96);
        var columns = batch.Schema.Columns;
        Span<byte> time = stackalloc byte[TemporalFormat.MaxLength];
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("job_id"u8, jobId);
            writer.WriteString("database"u8, batch.Schema.Database);
            writer.WriteString("measurement"u8, batch.Schema.Measurement);
            writer.WriteString("batch_id"u8, batchId);
            writer.WriteStartArray("rows"u8);
            foreach (var row in batch.Rows)
            {
                writer.WriteStartObject();
                writer.WriteString("time"u8, time[..TemporalFormat.FormatNanos(row.Time, time)]);
                writer.WriteNumber("time_ns"u8, row.Time);
                for (var c = 0; c < columns.Count; c++)
                {
                    switch (row.Values[c])
                    {
                        case null:
                            break;
                        case string s:
                            writer.WriteString(columns[c].Name, s);
                            break;
                        case double d when double.IsFinite(d):
                            writer.WriteNumber(columns[c].Name, d);
                            break;
                        case double:
                            writer.WriteNull(columns[c].Name);
                            break;
                        case long l:
                            writer.WriteNumber(columns[c].Name, l);
                            break;
                        case ulong u:
                            writer.WriteNumber(columns[c].Name, u);
                            break;
                        case bool b:
                            writer.WriteBoolean(columns[c].Name, b);
                            break;
                    }
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteNumber("row_count"u8, batch.Count);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}

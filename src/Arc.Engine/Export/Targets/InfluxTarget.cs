using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Arc.Engine.Buffers;
using Arc.Engine.Query;

namespace Arc.Engine.Export.Targets;

/// <summary>
/// InfluxDB targets: line protocol with nanosecond timestamps, gzip by default. 1.x: <c>POST {url}/write?db=&amp;rp=</c>
/// with optional Basic auth; 2.x (also VictoriaMetrics, InfluxDB 3): <c>POST {url}/api/v2/write?org=&amp;bucket=</c> with
/// <c>Authorization: Token</c>. Points with the same series and time overwrite each other there, so re-sending a batch
/// after a crash leaves the same data.
/// </summary>
internal sealed class InfluxTarget : IExportTarget
{
    private readonly HttpClient _http;
    private readonly ExportTargetSpec _spec;
    private readonly bool _v2;
    private readonly string _measurement;
    private readonly TimeSpan _timeout;
    private readonly Uri _uri;

    public InfluxTarget(HttpClient http, ExportTargetSpec spec, bool v2, string measurement, TimeSpan timeout)
    {
        _http = http;
        _spec = spec;
        _v2 = v2;
        _measurement = measurement;
        _timeout = timeout;
        _uri = WriteUri(spec, v2);
    }

    public Task PrepareAsync(ExportSchema schema, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task WriteAsync(ExportBatch batch, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetBytes(LineProtocolEncoder.Encode(_measurement, batch, unsignedSupported: _v2));
        if (body.Length == 0)
        {
            return; // every row of the batch had only null fields: nothing InfluxDB could store
        }

        await HttpTargets.SendAsync(_http, () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, _uri) { Content = HttpTargets.Content(body, "text/plain", _spec.Gzip ?? true) };
            if (_v2 && _spec.Token is { } token)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Token", token);
            }
            else if (!_v2 && _spec.Username is { } user)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                    Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + (_spec.Password ?? ""))));
            }

            return request;
        }, _timeout, _v2 ? "InfluxDB 2.x write" : "InfluxDB 1.x write", cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static Uri WriteUri(ExportTargetSpec spec, bool v2)
    {
        var baseUrl = spec.Url!.TrimEnd('/');
        var query = v2
            ? $"/api/v2/write?org={Uri.EscapeDataString(spec.Org ?? "")}&bucket={Uri.EscapeDataString(spec.Bucket!)}&precision=ns"
            : $"/write?db={Uri.EscapeDataString(spec.Database!)}&precision=ns" +
              (spec.RetentionPolicy is { Length: > 0 } rp ? "&rp=" + Uri.EscapeDataString(rp) : "");
        return new Uri(baseUrl + query);
    }
}

/// <summary>Line protocol for export batches: tags sorted by name, null tags and fields left out, times in nanoseconds.</summary>
internal static class LineProtocolEncoder
{
    public static string Encode(string measurement, ExportBatch batch, bool unsignedSupported)
    {
        var columns = batch.Schema.Columns;
        var text = new StringBuilder(batch.Count * 64);
        var name = Escape(measurement, measurementName: true);
        foreach (var row in batch.Rows)
        {
            var start = text.Length;
            text.Append(name);
            for (var c = 0; c < columns.Count; c++)
            {
                // InfluxDB has no empty tag value: a null or empty tag is a tag the point does not have.
                if (columns[c].Kind == ColumnKind.Tag && row.Values[c] is string { Length: > 0 } tag)
                {
                    text.Append(',').Append(Escape(columns[c].Name, false)).Append('=').Append(Escape(tag, false));
                }
            }

            var fields = 0;
            for (var c = 0; c < columns.Count; c++)
            {
                var column = columns[c];
                if (column.Kind == ColumnKind.Tag || row.Values[c] is not { } value || value is double d && !double.IsFinite(d))
                {
                    continue;
                }

                text.Append(fields++ == 0 ? ' ' : ',').Append(Escape(column.Name, false)).Append('=');
                switch (value)
                {
                    case double number:
                        text.Append(number.ToString("R", CultureInfo.InvariantCulture));
                        break;
                    case long integer:
                        text.Append(integer.ToString(CultureInfo.InvariantCulture)).Append('i');
                        break;
                    case ulong unsigned when unsignedSupported:
                        text.Append(unsigned.ToString(CultureInfo.InvariantCulture)).Append('u');
                        break;
                    case ulong unsigned when unsigned <= long.MaxValue:
                        text.Append(unsigned.ToString(CultureInfo.InvariantCulture)).Append('i'); // InfluxDB 1.x has no unsigned type
                        break;
                    case ulong unsigned:
                        throw new ExportTargetException(
                            $"field '{column.Name}' holds {unsigned}, beyond InfluxDB 1.x's signed 64-bit integers", permanent: true);
                    case bool flag:
                        text.Append(flag ? "true" : "false");
                        break;
                    case string s:
                        text.Append('"').Append(s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
                        break;
                }
            }

            if (fields == 0)
            {
                text.Length = start; // a point needs at least one field
                continue;
            }

            text.Append(' ').Append(row.Time.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return text.ToString();
    }

    private static string Escape(string value, bool measurementName)
    {
        if (value.AsSpan().IndexOfAny(measurementName ? ", \n" : ",= \n") < 0)
        {
            return value;
        }

        var escaped = new StringBuilder(value.Length + 8);
        foreach (var ch in value)
        {
            if (ch == ',' || ch == ' ' || (ch == '=' && !measurementName))
            {
                escaped.Append('\\');
            }

            escaped.Append(ch == '\n' ? ' ' : ch);
        }

        return escaped.ToString();
    }
}

using System.IO.Compression;
using System.Net;
using Arc.Engine.Query;

namespace Arc.Engine.Export.Targets;

/// <summary>A system export jobs write to. A target is created per run and disposed after it.</summary>
internal interface IExportTarget : IAsyncDisposable
{
    /// <summary>Readies the target for rows of <paramref name="schema"/> (creates or extends a table); called again when it changes.</summary>
    Task PrepareAsync(ExportSchema schema, CancellationToken cancellationToken);

    /// <summary>Writes the batch; returns once the target acknowledged it. Throws <see cref="ExportTargetException"/>.</summary>
    Task WriteAsync(ExportBatch batch, CancellationToken cancellationToken);
}

/// <summary>
/// A target's refusal or failure. <see cref="Permanent"/> ones (4xx, bad credentials, schema conflicts) are not retried
/// and stop the job until it is resumed; the others (5xx, timeouts, connection errors) are retried with backoff.
/// </summary>
public sealed class ExportTargetException(string message, bool permanent, Exception? inner = null) : Exception(message, inner)
{
    public bool Permanent { get; } = permanent;
}

/// <summary>Sending to HTTP targets: per-request timeout, status classification, optional gzip bodies.</summary>
internal static class HttpTargets
{
    public static async Task SendAsync(HttpClient http, Func<HttpRequestMessage> request, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        HttpResponseMessage response;
        try
        {
            using var message = request();
            response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ExportTargetException($"{what}: no answer within {timeout.TotalSeconds:0.###} s", permanent: false);
        }
        catch (HttpRequestException e)
        {
            throw new ExportTargetException($"{what}: {e.Message}", permanent: false, e);
        }

        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            string body;
            try
            {
                body = await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
            {
                body = "";
            }

            var status = (int)response.StatusCode;
            var permanent = status is >= 400 and < 500 && response.StatusCode is not (HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests);
            body = body.Trim();
            throw new ExportTargetException(
                $"{what}: HTTP {status} {response.ReasonPhrase}{(body.Length > 0 ? ": " + (body.Length > 500 ? body[..500] + "…" : body) : "")}",
                permanent);
        }
    }

    public static ByteArrayContent Content(byte[] body, string mediaType, bool gzip)
    {
        if (gzip)
        {
            using var compressed = new MemoryStream();
            using (var zip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            {
                zip.Write(body);
            }

            body = compressed.ToArray();
        }

        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(mediaType) { CharSet = "utf-8" };
        if (gzip)
        {
            content.Headers.ContentEncoding.Add("gzip");
        }

        return content;
    }
}

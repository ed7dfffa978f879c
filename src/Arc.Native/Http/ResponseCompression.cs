using System.IO.Compression;
using System.IO.Pipelines;
using Microsoft.Net.Http.Headers;

namespace Arc.Native.Http;

/// <summary>
/// A query response body, compressed when the client asked for it (<c>Accept-Encoding: gzip</c> or <c>zstd</c>, q-values
/// honoured; zstd wins a tie): the compressor sits between the result writer and Kestrel's body, so a compressed result
/// streams just like a plain one. Headers are set on creation, before the first byte.
/// </summary>
internal sealed class ResponseBody
{
    private readonly Stream? _compressor;

    private ResponseBody(PipeWriter writer, Stream stream, Stream? compressor)
    {
        Writer = writer;
        Stream = stream;
        _compressor = compressor;
    }

    /// <summary>The body as a PipeWriter (for the JSON and CSV writers).</summary>
    public PipeWriter Writer { get; }

    /// <summary>The body as a Stream (for writers that produce whole blocks).</summary>
    public Stream Stream { get; }

    /// <summary>Starts the body: picks the encoding and sets Content-Encoding and Vary.</summary>
    public static ResponseBody Start(HttpContext context)
    {
        var response = context.Response;
        response.Headers.Append(HeaderNames.Vary, HeaderNames.AcceptEncoding);
        Stream? compressor = Negotiate(context.Request.Headers.AcceptEncoding.ToString()) switch
        {
            "zstd" => new ZstdSharp.CompressionStream(response.Body, level: 3, leaveOpen: true),
            "gzip" => new GZipStream(response.Body, CompressionLevel.Fastest, leaveOpen: true),
            _ => null,
        };
        if (compressor is null)
        {
            return new ResponseBody(response.BodyWriter, response.Body, null);
        }

        response.Headers.ContentEncoding = compressor is GZipStream ? "gzip" : "zstd";
        return new ResponseBody(PipeWriter.Create(compressor, new StreamPipeWriterOptions(leaveOpen: true)), compressor, compressor);
    }

    /// <summary>
    /// Flushes the writer (and the compressor's pending block) to the client. Throws <see cref="OperationCanceledException"/>
    /// once the client is gone (Kestrel completes the flush instead of failing it), so the query stops instead of
    /// producing its whole result for nobody.
    /// </summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        var result = await Writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted || result.IsCanceled || cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("the client closed the response", cancellationToken);
        }
    }

    /// <summary>Ends the body: flushes everything and writes the compressor's trailer.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        await Writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (_compressor is not null)
        {
            await Writer.CompleteAsync().ConfigureAwait(false);
            await _compressor.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>"zstd", "gzip" or null (identity) for an Accept-Encoding value.</summary>
    internal static string? Negotiate(string acceptEncoding)
    {
        double gzip = 0, zstd = 0, any = -1;
        foreach (var part in acceptEncoding.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var semicolon = part.IndexOf(';', StringComparison.Ordinal);
            var coding = (semicolon < 0 ? part : part[..semicolon]).Trim();
            var quality = 1.0;
            if (semicolon >= 0)
            {
                var parameter = part[(semicolon + 1)..].Trim();
                if (parameter.StartsWith("q=", StringComparison.OrdinalIgnoreCase)
                    && !double.TryParse(parameter.AsSpan(2), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out quality))
                {
                    quality = 0;
                }
            }

            if (coding.Equals("gzip", StringComparison.OrdinalIgnoreCase) || coding.Equals("x-gzip", StringComparison.OrdinalIgnoreCase))
            {
                gzip = quality;
            }
            else if (coding.Equals("zstd", StringComparison.OrdinalIgnoreCase))
            {
                zstd = quality;
            }
            else if (coding == "*")
            {
                any = quality;
            }
        }

        if (any > 0 && gzip == 0 && !acceptEncoding.Contains("gzip", StringComparison.OrdinalIgnoreCase))
        {
            gzip = any;
        }

        if (zstd > 0 && zstd >= gzip)
        {
            return "zstd";
        }

        return gzip > 0 ? "gzip" : null;
    }
}

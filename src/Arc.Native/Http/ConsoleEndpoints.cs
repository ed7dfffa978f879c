using System.Collections.Frozen;
using System.IO.Compression;
using Arc.Native.Auth;
using Microsoft.Net.Http.Headers;

namespace Arc.Native.Http;

/// <summary>
/// The web console: <c>GET /</c> answers its <c>index.html</c> and <c>GET /console/{file}</c> its scripts and styles, all
/// embedded in the binary (built from <c>web/</c> by <c>web/build.mjs</c>). The page itself is public, as every API call
/// it makes carries the token the user signs in with. Asset names carry a content hash, so they are cached for a year;
/// <c>index.html</c> is revalidated on every load, so a new binary's page names its new assets at once. A strict
/// Content-Security-Policy allows only this server's own scripts, styles and API: no inline code, no outside URL.
/// </summary>
internal static class ConsoleEndpoints
{
    private const string ResourcePrefix = "console/";
    private const string Index = "index.html";

    /// <summary>What the page may load: its own files and API, <c>data:</c> images (its empty favicon), nothing else.</summary>
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, Asset> Assets = Load();

    public static void Map(WebApplication app)
    {
        app.MapGet("/", (HttpContext context) => Serve(context, Index)).Public();
        app.MapGet("/console/{file}", (HttpContext context, string file) => Serve(context, file)).Public();
    }

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Assets.TryGetValue(file, out var asset))
        {
            return Results.Json(new ErrorResponse($"no console file '{file}'"), ApiJsonContext.Api.ErrorResponse,
                statusCode: StatusCodes.Status404NotFound);
        }

        var headers = context.Response.Headers;
        headers.CacheControl = file == Index ? "no-cache" : "public, max-age=31536000, immutable";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.Vary = HeaderNames.AcceptEncoding;
        var encoding = ResponseBody.Negotiate(context.Request.Headers.AcceptEncoding.ToString());
        if (encoding is not null)
        {
            headers.ContentEncoding = encoding;
        }

        return Results.Bytes(asset.Encoded(encoding), asset.ContentType);
    }

    /// <summary>Reads the embedded files (once: the dictionary is static).</summary>
    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(ConsoleEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(name)!;
            var content = new byte[stream.Length];
            stream.ReadExactly(content);
            var file = name[ResourcePrefix.Length..];
            assets[file] = new Asset(content, ContentTypeOf(file));
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentTypeOf(string file) => Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".txt" => "text/plain; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };

    /// <summary>One file: its bytes, and its zstd and gzip forms, each compressed (at the highest level) on first use.</summary>
    private sealed class Asset(byte[] content, string contentType)
    {
        private readonly Lazy<byte[]> _zstd = new(() => new ZstdSharp.Compressor(ZstdSharp.Compressor.MaxCompressionLevel).Wrap(content).ToArray());
        private readonly Lazy<byte[]> _gzip = new(() =>
        {
            using var output = new MemoryStream();
            using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize))
            {
                gzip.Write(content);
            }

            return output.ToArray();
        });

        public string ContentType { get; } = contentType;

        public byte[] Encoded(string? encoding) => encoding switch
        {
            "zstd" => _zstd.Value,
            "gzip" => _gzip.Value,
            _ => content,
        };
    }
}

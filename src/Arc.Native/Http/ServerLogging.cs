using System.Text.Json;
using Arc.Native.Configuration;

namespace Arc.Native.Http;

/// <summary>
/// Console logging: <c>log.format = text</c> (one line per entry) or <c>json</c> (one JSON object per line: Timestamp,
/// EventId, LogLevel, Category, Message, State, Scopes). Scopes are on in both, so every entry written while a request
/// runs carries its <c>RequestId</c>. Nothing here logs a secret: request lines name the route and token id, never the
/// query string, the Authorization header or x-api-key.
/// </summary>
internal static class ServerLogging
{
    public static void Configure(ILoggingBuilder logging, ArcConfig config, RecentLogs recent)
    {
        logging.ClearProviders();
        logging.AddProvider(recent); // what GET /api/v1/logs serves
        if (config.LogFormat == "json")
        {
            logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
                o.JsonWriterOptions = new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.IncludeScopes = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
            });
        }

        logging.SetMinimumLevel(config.LogLevel switch
        {
            "trace" => LogLevel.Trace,
            "debug" => LogLevel.Debug,
            "warn" or "warning" => LogLevel.Warning,
            "error" => LogLevel.Error,
            _ => LogLevel.Information,
        });
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        // The hosting layer opens its own scope with Kestrel's connection-based id as "RequestId"; the request id
        // middleware opens the one clients see (x-request-id), so the hosting scope is turned off to avoid two.
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
    }
}

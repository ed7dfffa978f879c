using System.Text.Json.Serialization;
using Arc.Engine.Auth;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// The last <see cref="Capacity"/> log entries the server wrote (at the configured <c>log.level</c>), kept in memory for
/// Arc's <c>GET /api/v1/logs</c>: admin only (Arc's advisory GHSA-m3qr was this route open to anyone). Entries hold what
/// the console gets, which never includes a secret; a message is cut at <see cref="MaxMessageLength"/> characters.
/// </summary>
internal sealed class RecentLogs(TimeProvider time) : ILoggerProvider
{
    public const int Capacity = 1000;
    private const int MaxMessageLength = 4096;
    private readonly LogEntry?[] _ring = new LogEntry?[Capacity];
    private readonly Lock _lock = new();
    private long _written;

    /// <summary>The engine's clock (<c>EngineOptions.Time</c>), which stamps the entries and places the <c>since_minutes</c> window.</summary>
    public DateTime Now => time.GetUtcNow().UtcDateTime;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    /// <summary>The newest <paramref name="limit"/> entries at <paramref name="level"/> or above since <paramref name="since"/>, newest first.</summary>
    public List<LogEntry> Recent(int limit, LogLevel level, DateTime since)
    {
        var result = new List<LogEntry>();
        lock (_lock)
        {
            for (var i = _written - 1; i >= Math.Max(0, _written - Capacity) && result.Count < limit; i--)
            {
                var entry = _ring[i % Capacity]!;
                if (entry.Time < since)
                {
                    break;
                }

                if (entry.Severity >= level)
                {
                    result.Add(entry);
                }
            }
        }

        return result;
    }

    public static void Map(WebApplication app) =>
        app.MapGet("/api/v1/logs", (RecentLogs logs, int? limit, string? level, int? since_minutes) =>
        {
            // Arc's parameters and bounds: limit 1-1000 (100), since_minutes 1-1440 (60), level error|warn|info|debug.
            var count = limit is >= 1 and <= Capacity ? limit.Value : 100;
            var minutes = since_minutes is >= 1 and <= 1440 ? since_minutes.Value : 60;
            LogLevel? minimum = level?.ToLowerInvariant() switch
            {
                null or "" => LogLevel.Trace,
                "debug" => LogLevel.Debug,
                "info" => LogLevel.Information,
                "warn" or "warning" => LogLevel.Warning,
                "error" => LogLevel.Error,
                _ => null,
            };
            if (minimum is null)
            {
                return Results.Json(new ErrorResponse($"level must be error, warn, info or debug, got '{level}'"), ApiJsonContext.Api.ErrorResponse,
                    statusCode: StatusCodes.Status400BadRequest);
            }

            var now = logs.Now;
            var entries = logs.Recent(count, minimum.Value, now.AddMinutes(-minutes));
            return Results.Json(new LogsResponse(now, entries.Count, count, level ?? "", minutes, entries), LogsJsonContext.Api.LogsResponse);
        }).Requires(Permission.Admin);

    private void Add(LogEntry entry)
    {
        lock (_lock)
        {
            _ring[_written % Capacity] = entry;
            _written++;
        }
    }

    private sealed class Logger(RecentLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            if (exception is not null)
            {
                message += $" ({exception.GetType().Name}: {exception.Message})";
            }

            owner.Add(new LogEntry(owner.Now, logLevel, category,
                message.Length > MaxMessageLength ? message[..MaxMessageLength] + "…" : message));
        }
    }
}

/// <summary>One log entry as <c>GET /api/v1/logs</c> lists it.</summary>
public sealed record LogEntry(
    [property: JsonPropertyName("timestamp")] DateTime Time,
    [property: JsonIgnore] LogLevel Severity,
    [property: JsonPropertyName("category")] string Category,
    [property: JsonPropertyName("message")] string Message)
{
    [JsonPropertyName("level")]
    public string Level => Severity switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "error",
        _ => "fatal",
    };
}

/// <summary>Arc's answer: <c>{timestamp, count, limit, level_filter, since_minutes, logs}</c>, newest first.</summary>
public sealed record LogsResponse(
    [property: JsonPropertyName("timestamp")] DateTime Timestamp,
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("limit")] int Limit,
    [property: JsonPropertyName("level_filter")] string LevelFilter,
    [property: JsonPropertyName("since_minutes")] int SinceMinutes,
    [property: JsonPropertyName("logs")] IReadOnlyList<LogEntry> Logs);

[JsonSerializable(typeof(LogsResponse))]
internal sealed partial class LogsJsonContext : JsonSerializerContext
{
    public static LogsJsonContext Api { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

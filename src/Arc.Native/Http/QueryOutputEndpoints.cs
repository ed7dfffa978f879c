using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Engine.Query;
using Arc.Native.Auth;
using Arc.Native.Configuration;

namespace Arc.Native.Http;

/// <summary>
/// The query outputs besides Arc's JSON: Arrow IPC (<c>/api/v1/query/arrow</c>), columnar msgpack
/// (<c>/api/v1/query/msgpack</c>), CSV (<c>/api/v1/query/stream</c>), the estimate (<c>/api/v1/query/estimate</c>), the
/// measurement browser (<c>GET /api/v1/query/{measurement}</c>) and the measurement list (<c>GET /api/v1/measurements</c>).
/// All POST endpoints take the JSON endpoint's body and database rules (<see cref="QueryRequests"/>).
/// </summary>
internal static class QueryOutputEndpoints
{
    public const string ArrowContentType = "application/vnd.apache.arrow.stream";
    public const string ArrowCompressionHeader = "x-arc-arrow-compression";
    public const string MsgPackContentType = "application/msgpack";
    public const int MaxMeasurementLimit = 1_000_000;

    public static void Map(WebApplication app)
    {
        app.MapPost("/api/v1/query/arrow", ArrowAsync).Requires(Permission.Read);
        app.MapPost("/api/v1/query/msgpack", MsgPackAsync).Requires(Permission.Read);
        app.MapPost("/api/v1/query/stream", CsvAsync).Requires(Permission.Read);
        app.MapPost("/api/v1/query/estimate", EstimateAsync).Requires(Permission.Read);
        app.MapGet("/api/v1/query/{measurement}", MeasurementAsync).Requires(Permission.Read);
        app.MapGet("/api/v1/measurements", MeasurementsAsync).Requires(Permission.Read);
    }

    private static async Task ArrowAsync(HttpContext context, ArcEngine engine, ILoggerFactory loggers)
    {
        var compressionText = context.Request.Headers[ArrowCompressionHeader].ToString();
        if (!ArrowQueryOutput.TryParseCompression(compressionText, out var compression))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest,
                $"invalid {ArrowCompressionHeader} '{compressionText}': use zstd or lz4 (or leave it out)").ConfigureAwait(false);
            return;
        }

        using var cursor = await QueryRequests.OpenAsync(context, engine).ConfigureAwait(false);
        if (cursor is null)
        {
            return;
        }

        using (var output = ArrowQueryOutput.Create(cursor))
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = ArrowContentType;
            if (compression is not null)
            {
                context.Response.Headers[ArrowCompressionHeader] = compressionText.Trim().ToLowerInvariant();
            }

            // The IPC writer issues small writes (message headers, padding); batch them into larger socket writes. Not
            // disposed: its Dispose would flush synchronously, which Kestrel forbids; the success path flushes it.
            var body = new BufferedStream(context.Response.Body, 128 * 1024);
            try
            {
                await output.WriteAsync(body, compression, context.RequestAborted).ConfigureAwait(false);
                await body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception e) when (ErrorResponses.IsReported(e, out _))
            {
                QueryRequests.AbortStreaming(context, loggers, e);
            }
        }
    }

    private static async Task MsgPackAsync(HttpContext context, ArcEngine engine, ArcConfig config)
    {
        var start = Stopwatch.GetTimestamp();
        using var cursor = await QueryRequests.OpenAsync(context, engine).ConfigureAwait(false);
        if (cursor is null)
        {
            return;
        }

        using (var output = MsgPackQueryOutput.Spool(cursor, new MsgPackSpoolOptions
        {
            MemoryBytes = config.MsgPackSpoolMemoryBytes,
            MaxResultBytes = config.MsgPackMaxResultBytes,
            TempDirectory = Path.Combine(engine.Store.TempDirectory, "query"),
        }))
        {
            cursor.Dispose(); // the whole result is spooled: give the connection back before the client downloads it
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = MsgPackContentType;
            var body = ResponseBody.Start(context);
            await output.WriteAsync(body.Stream, start, context.RequestAborted).ConfigureAwait(false);
            await body.CompleteAsync(context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static Task CsvAsync(HttpContext context, ArcEngine engine) =>
        QueryExecution.RunAsync(context, engine, QueryOutputFormat.Csv, Stopwatch.GetTimestamp());

    private static async Task EstimateAsync(HttpContext context, ArcEngine engine)
    {
        var start = Stopwatch.GetTimestamp();
        if (await QueryRequests.ReadAsync(context).ConfigureAwait(false) is not { } request)
        {
            return;
        }

        var estimate = await engine.Query.EstimateAsync(request.Sql, request.Database, context.RequestAborted, context.QueryAccess())
            .ConfigureAwait(false);

        var (level, message) = estimate.EstimatedRows switch
        {
            > 1_000_000 => ("high", "Large query: this may take a while and use significant memory."),
            > 100_000 => ("medium", "Medium query."),
            > 10_000 => ("low", "Should complete quickly."),
            _ => ("none", "Small query."),
        };
        var response = new EstimateResponse
        {
            EstimatedRows = estimate.EstimatedRows,
            WarningLevel = level,
            WarningMessage = $"{estimate.EstimatedRows.ToString("N0", CultureInfo.InvariantCulture)} rows estimated. {message}",
            Files = estimate.Files,
            Bytes = estimate.Bytes,
            Measurements = estimate.Measurements.Select(MeasurementInfo.From).ToList(),
            ExecutionTimeMs = Math.Round(Stopwatch.GetElapsedTime(start).TotalMilliseconds, 3),
        };
        await context.Response.WriteAsJsonAsync(response, QueryOutputJsonContext.Default.EstimateResponse, contentType: null, context.RequestAborted)
            .ConfigureAwait(false);
    }

    private static async Task MeasurementAsync(HttpContext context, ArcEngine engine, string measurement)
    {
        var start = Stopwatch.GetTimestamp();
        var query = context.Request.Query;
        var database = query["database"].ToString();
        if (database.Length == 0)
        {
            database = context.Request.Headers[WriteEndpoints.DatabaseHeader].ToString();
        }

        if (database.Length == 0)
        {
            database = WriteEndpoints.DefaultDatabase;
        }

        if (!TryInteger(query["limit"].ToString(), 100, 0, MaxMeasurementLimit, out var limit))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest,
                $"invalid limit: use an integer from 0 to {MaxMeasurementLimit.ToString(CultureInfo.InvariantCulture)}").ConfigureAwait(false);
            return;
        }

        if (!TryInteger(query["offset"].ToString(), 0, 0, long.MaxValue, out var offset))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, "invalid offset: use a non-negative integer").ConfigureAwait(false);
            return;
        }

        if (!context.MayUse(database))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status403Forbidden, $"this token may not read database '{database}'").ConfigureAwait(false);
            return;
        }

        if (await Priorities.ResolveAsync(context).ConfigureAwait(false) is not { } priority)
        {
            return;
        }

        var orderBy = query["order_by"].ToString();
        var sql = await engine.Query.MeasurementSqlAsync(
            new MeasurementQuery(database, measurement, limit, offset, orderBy.Length == 0 ? "time DESC" : orderBy, query["where"].ToString()),
            context.RequestAborted).ConfigureAwait(false);

        await QueryExecution.RunAsync(context, engine, sql, database, priority, QueryOutputFormat.Json, start).ConfigureAwait(false);
    }

    private static async Task MeasurementsAsync(HttpContext context, ArcEngine engine)
    {
        var start = Stopwatch.GetTimestamp();
        var database = context.Request.Query["database"].ToString();
        var measurements = (await engine.Query.ListMeasurementsAsync(database.Length == 0 ? null : database, context.RequestAborted).ConfigureAwait(false))
            .Where(m => context.MayUse(m.Database)).Select(MeasurementInfo.From).ToList();
        var response = new MeasurementsResponse
        {
            Measurements = measurements,
            Count = measurements.Count,
            ExecutionTimeMs = Math.Round(Stopwatch.GetElapsedTime(start).TotalMilliseconds, 3),
        };
        await context.Response.WriteAsJsonAsync(response, QueryOutputJsonContext.Default.MeasurementsResponse, contentType: null, context.RequestAborted)
            .ConfigureAwait(false);
    }

    private static bool TryInteger(string text, long fallback, long min, long max, out long value)
    {
        if (text.Length == 0)
        {
            value = fallback;
            return true;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
    }
}

/// <summary>
/// What every query endpoint shares: the body (<c>{"sql": ..., "database": ...}</c>, at most 1 MiB), the database
/// (<c>x-arc-database</c>, else the body's, else <c>default</c>), opening the cursor and fetching the first chunk so
/// errors found before the first row are a 400 with DuckDB's message, and aborting the connection on a failure after the
/// response started (a client never mistakes a truncated result for a complete one).
/// </summary>
internal static class QueryRequests
{
    /// <summary>The parsed request (priority from <c>x-arc-query-priority</c> or the body), or null after writing the error response.</summary>
    public static async Task<(string Sql, string Database, QueryPriority Priority)?> ReadAsync(HttpContext context)
    {
        QueryRequest? request;
        try
        {
            // Room for the longest SQL the engine accepts, escaped as JSON (up to 6 bytes a character), and the other fields; the
            // engine then checks the SQL's own length (query.max_sql_length) with its own message.
            var maxSql = context.RequestServices.GetRequiredService<ArcConfig>().Engine.MaxSqlLength;
            var body = new LimitedReadStream(context.Request.Body, (6L * maxSql) + 65_536, "the query body (query.max_sql_length)");
            await using (body.ConfigureAwait(false))
            {
                // No cancellation token for a body read: see WriteSession.
                request = await JsonSerializer.DeserializeAsync(body, ApiJsonContext.Api.QueryRequest).ConfigureAwait(false);
            }
        }
        catch (JsonException e)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, $"invalid JSON body: {e.Message}").ConfigureAwait(false);
            return null;
        }

        if (string.IsNullOrWhiteSpace(request?.Sql))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, "the body must be {\"sql\": \"...\"}").ConfigureAwait(false);
            return null;
        }

        var database = context.Request.Headers[WriteEndpoints.DatabaseHeader].ToString();
        if (database.Length == 0)
        {
            database = request.Database ?? WriteEndpoints.DefaultDatabase;
        }

        return await Priorities.ResolveAsync(context, request.Priority).ConfigureAwait(false) is { } priority
            ? (request.Sql, database, priority)
            : null;
    }

    /// <summary>
    /// Reads the request and opens its query with the first chunk fetched; null after writing the error response for a bad
    /// request. The engine's errors propagate: the request middleware answers them with their status (<see cref="ErrorResponses"/>).
    /// </summary>
    public static async Task<QueryCursor?> OpenAsync(HttpContext context, ArcEngine engine)
    {
        if (await ReadAsync(context).ConfigureAwait(false) is not { } request)
        {
            return null;
        }

        return await engine.Query.OpenFetchedAsync(request.Sql, request.Database, context.RequestAborted, context.QueryAccess(), request.Priority)
            .ConfigureAwait(false);
    }

    /// <summary>A failure after the response started: log it and abort the connection.</summary>
    public static void AbortStreaming(HttpContext context, ILoggerFactory loggers, Exception e)
    {
        loggers.CreateLogger("Arc.Query").LogWarning("Query failed while streaming its result; aborting the response: {Error}", e.Message);
        context.Abort();
    }
}

/// <summary>Response of <c>POST /api/v1/query/estimate</c> (Arc's fields plus what would be scanned).</summary>
public sealed record EstimateResponse
{
    [JsonPropertyName("success")]
    public bool Success => true;

    [JsonPropertyName("estimated_rows")]
    public long EstimatedRows { get; init; }

    [JsonPropertyName("warning_level")]
    public string WarningLevel { get; init; } = "";

    [JsonPropertyName("warning_message")]
    public string WarningMessage { get; init; } = "";

    /// <summary>Parquet files of the referenced measurements (an upper bound: DuckDB may skip row groups by statistics).</summary>
    [JsonPropertyName("files")]
    public long Files { get; init; }

    [JsonPropertyName("bytes")]
    public long Bytes { get; init; }

    [JsonPropertyName("measurements")]
    public IReadOnlyList<MeasurementInfo> Measurements { get; init; } = [];

    [JsonPropertyName("execution_time_ms")]
    public double ExecutionTimeMs { get; init; }
}

/// <summary>A measurement with its files (Arc's <c>MeasurementInfo</c> plus the byte count).</summary>
public sealed record MeasurementInfo
{
    [JsonPropertyName("database")]
    public string Database { get; init; } = "";

    [JsonPropertyName("measurement")]
    public string Measurement { get; init; } = "";

    [JsonPropertyName("file_count")]
    public int FileCount { get; init; }

    [JsonPropertyName("bytes")]
    public long Bytes { get; init; }

    [JsonPropertyName("total_size_mb")]
    public double TotalSizeMb { get; init; }

    [JsonPropertyName("storage_path")]
    public string StoragePath { get; init; } = "";

    public static MeasurementInfo From(MeasurementFiles files) => new()
    {
        Database = files.Database,
        Measurement = files.Measurement,
        FileCount = files.Files,
        Bytes = files.Bytes,
        TotalSizeMb = Math.Round(files.Bytes / (1024.0 * 1024.0), 6),
        StoragePath = files.StoragePath,
    };
}

/// <summary>Response of <c>GET /api/v1/measurements</c>.</summary>
public sealed record MeasurementsResponse
{
    [JsonPropertyName("success")]
    public bool Success => true;

    [JsonPropertyName("measurements")]
    public IReadOnlyList<MeasurementInfo> Measurements { get; init; } = [];

    [JsonPropertyName("count")]
    public int Count { get; init; }

    [JsonPropertyName("execution_time_ms")]
    public double ExecutionTimeMs { get; init; }
}

[JsonSerializable(typeof(EstimateResponse))]
[JsonSerializable(typeof(MeasurementsResponse))]
internal sealed partial class QueryOutputJsonContext : JsonSerializerContext;

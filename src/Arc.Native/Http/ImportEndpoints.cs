using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Arc.Engine;
using Arc.Engine.Auth;
using Arc.Engine.Errors;
using Arc.Engine.Ingest;
using Arc.Engine.Storage;
using Arc.Native.Auth;
using Arc.Protocol.LineProtocol;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Arc.Native.Http;

/// <summary>
/// Arc's bulk imports, which Basekick's <c>tsm2arc</c> migration tool posts to: <c>POST /api/v1/import/{lp,csv,parquet}</c>
/// take the file as the <c>file</c> field of a <c>multipart/form-data</c> body, the database from <c>x-arc-database</c> or
/// <c>?db=</c>, and Arc's query parameters; <c>GET /api/v1/import/stats</c> answers Arc's counters plus the running imports.
/// The host reads the multipart body as a stream and hands the file part to the engine (<see cref="ArcEngine.ImportCsvAsync"/>
/// and its siblings), which never holds the file in memory. Success is Arc's <c>200 {"status":"ok","result":{...}}</c>,
/// extended with the rejected rows and their positions.
/// </summary>
internal static class ImportEndpoints
{
    /// <summary>Form fields other than <c>file</c> that a body may carry (and their size): read and ignored, as Arc does.</summary>
    private const int MaxOtherSections = 16;

    private const int MaxOtherSectionBytes = 64 * 1024;

    public static void Map(WebApplication app)
    {
        var group = app.MapGroup("/api/v1/import");
        group.MapPost("/lp", (HttpContext context, ArcEngine engine) => ImportAsync(context, engine, "lp")).Requires(Permission.Write);
        group.MapPost("/csv", (HttpContext context, ArcEngine engine) => ImportAsync(context, engine, "csv")).Requires(Permission.Write);
        group.MapPost("/parquet", (HttpContext context, ArcEngine engine) => ImportAsync(context, engine, "parquet")).Requires(Permission.Write);
        group.MapGet("/stats", (ArcEngine engine) =>
        {
            var imports = engine.Imports;
            var now = engine.Options.Time.GetUtcNow();
            var running = imports.Running.Select(p => new RunningImport(p.Id, p.Format, p.Database, p.Measurement, p.BytesRead, p.RowsImported,
                p.RowsRejected, p.StartedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
                (long)(now - p.StartedAt).TotalMilliseconds)).ToList();
            return Results.Json(new ImportStatsResponse("success",
                new ImportStats(imports.TotalRequests, imports.TotalRecords, imports.TotalErrors, running)), ImportJsonContext.Api.ImportStatsResponse);
        }).Requires(Permission.Read);
    }

    private static async Task ImportAsync(HttpContext context, ArcEngine engine, string format)
    {
        var started = Stopwatch.GetTimestamp();
        var query = context.Request.Query;
        var database = context.Request.Headers[WriteEndpoints.DatabaseHeader].ToString();
        if (database.Length == 0)
        {
            database = query["db"].ToString();
        }

        var options = Options(context, format, database, out var problem, out var status);
        if (options is null)
        {
            await WriteEndpoints.Error(context, status, problem!).ConfigureAwait(false);
            return;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null; // the engine bounds the file (import.max_file_size)
        }

        var file = await FileSectionAsync(context).ConfigureAwait(false);
        if (file is null)
        {
            return;
        }

        var outcome = format switch
        {
            "lp" => await engine.ImportLineProtocolAsync(options, file, context.RequestAborted).ConfigureAwait(false),
            "csv" => await engine.ImportCsvAsync(options, file, context.RequestAborted).ConfigureAwait(false),
            _ => await engine.ImportParquetAsync(options, file, context.RequestAborted).ConfigureAwait(false),
        };
        var errors = outcome.Errors.Select(e => new WriteErrorItem(e.Line, e.Column, e.Message)).ToList();
        if (outcome.Failure is { } reason)
        {
            if (reason == ErrorReason.Invalid && errors.Count > 0)
            {
                await Results.Json(new WriteErrorResponse(outcome.Message!, outcome.RowsImported, outcome.RowsRejected, errors),
                    ApiJsonContext.Api.WriteErrorResponse, statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            await ErrorResponses.WriteAsync(context, reason, outcome.Message!).ConfigureAwait(false);
            return;
        }

        var duration = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (format == "lp")
        {
            var result = new LineProtocolImportResult(outcome.Database, outcome.Measurements, outcome.RowsImported,
                context.Request.Query["precision"].ToString() is { Length: > 0 } precision ? precision : "ns", duration, outcome.RowsRejected, outcome.RowsSkipped, outcome.Message, errors);
            await Results.Json(new ImportResponse<LineProtocolImportResult>("ok", result), ImportJsonContext.Api.ImportResponseLineProtocolImportResult)
                .ExecuteAsync(context).ConfigureAwait(false);
        }
        else
        {
            var result = new FileImportResult(outcome.Database, options.Measurement!, outcome.RowsImported, outcome.Partitions,
                Rfc3339(outcome.TimeMin), Rfc3339(outcome.TimeMax), outcome.Columns, duration, outcome.RowsRejected, outcome.Message, errors);
            await Results.Json(new ImportResponse<FileImportResult>("ok", result), ImportJsonContext.Api.ImportResponseFileImportResult)
                .ExecuteAsync(context).ConfigureAwait(false);
        }
    }

    /// <summary>The import's options from Arc's query parameters; null with the problem and its status (400, 403).</summary>
    private static ImportOptions? Options(HttpContext context, string format, string database, out string? problem, out int status)
    {
        var query = context.Request.Query;
        problem = null;
        status = StatusCodes.Status400BadRequest;
        var measurement = query["measurement"].ToString();
        var precision = TimestampPrecision.Nanoseconds;
        var timeFormat = ImportTime.ParseFormat(query["time_format"].ToString());
        var delimiter = query["delimiter"].ToString();
        var skipRows = 0;
        var skipText = query["skip_rows"].ToString();
        var precisionText = query["precision"].ToString();
        if (database.Length == 0)
        {
            problem = "database is required (set x-arc-database header or db query param)";
        }
        else if (Names.ValidateDatabase(database) is { } invalid)
        {
            problem = invalid;
        }
        else if (!context.MayUse(database))
        {
            (problem, status) = ($"this token may not write to database '{database}'", StatusCodes.Status403Forbidden);
        }
        else if (measurement.Length == 0 && format != "lp")
        {
            problem = "measurement query parameter is required";
        }
        else if (measurement.Length > 0 && Names.ValidateMeasurement(Encoding.UTF8.GetBytes(measurement)) is { } badMeasurement)
        {
            problem = badMeasurement;
        }
        else if (precisionText.Length > 0 && !TimestampPrecisions.TryParse(precisionText, out precision))
        {
            problem = $"invalid precision '{precisionText}': use ns, us, ms, s, m or h";
        }
        else if (timeFormat is null)
        {
            problem = $"invalid time_format '{query["time_format"]}': use epoch_s, epoch_ms, epoch_us, epoch_ns or leave it empty for auto";
        }
        else if (delimiter.Length > 0 && (delimiter.Length != 1 || delimiter[0] > 127 || delimiter[0] is '"' or '\r' or '\n'))
        {
            problem = $"delimiter must be a single ASCII character other than a quote or a line break, got '{delimiter}'";
        }
        else if (skipText.Length > 0 && (!int.TryParse(skipText, NumberStyles.None, CultureInfo.InvariantCulture, out skipRows) || skipRows > 1_000_000))
        {
            problem = $"skip_rows must be an integer from 0 to 1000000, got '{skipText}'";
        }

        if (problem is not null)
        {
            return null;
        }

        var timeColumn = query["time_column"].ToString();
        return new ImportOptions
        {
            Database = database,
            Measurement = measurement.Length > 0 ? measurement : null,
            Precision = precision,
            TimeColumn = timeColumn.Length > 0 ? timeColumn : "time",
            TimeFormat = timeFormat!.Value,
            Delimiter = delimiter.Length > 0 ? (byte)delimiter[0] : (byte)',',
            SkipRows = skipRows,
            TagColumns = query["tag_columns"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
    }

    /// <summary>
    /// The body of the multipart section named <c>file</c>, read as a stream (other fields are skipped); null once a 400 was
    /// sent because the request is not multipart or has no such field.
    /// </summary>
    private static async Task<Stream?> FileSectionAsync(HttpContext context)
    {
        const string noFile = "no file uploaded: use multipart/form-data with field name 'file'";
        if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var contentType)
            || !contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(contentType.Boundary).Value is not { Length: > 0 and <= 200 } boundary)
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, noFile).ConfigureAwait(false);
            return null;
        }

        var reader = new MultipartReader(boundary, context.Request.Body);
        for (var sections = 0; sections <= MaxOtherSections; sections++)
        {
            var section = await reader.ReadNextSectionAsync(context.RequestAborted).ConfigureAwait(false);
            if (section is null)
            {
                break;
            }

            if (ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                && HeaderUtilities.RemoveQuotes(disposition.Name).Equals("file", StringComparison.Ordinal))
            {
                return section.Body;
            }

            var buffer = new byte[16 * 1024];
            long skipped = 0;
            int read;
            while ((read = await section.Body.ReadAsync(buffer, context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                skipped += read;
                if (skipped > MaxOtherSectionBytes)
                {
                    await WriteEndpoints.Error(context, StatusCodes.Status413PayloadTooLarge,
                        $"a form field other than 'file' is larger than {MaxOtherSectionBytes} bytes").ConfigureAwait(false);
                    return null;
                }
            }
        }

        await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest, noFile).ConfigureAwait(false);
        return null;
    }

    /// <summary>Arc's time range: RFC 3339 in UTC with the fraction's trailing zeros dropped (Go's RFC3339Nano).</summary>
    private static string? Rfc3339(long? nanoseconds)
    {
        if (nanoseconds is not { } ns)
        {
            return null;
        }

        var fraction = ns % 1_000_000_000;
        var seconds = ns / 1_000_000_000 - (fraction < 0 ? 1 : 0);
        fraction = fraction < 0 ? fraction + 1_000_000_000 : fraction;
        var text = DateTime.UnixEpoch.AddSeconds(seconds).ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
        return fraction == 0 ? text + "Z" : text + "." + fraction.ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0') + "Z";
    }
}

/// <summary>Arc's envelope of a finished import.</summary>
public sealed record ImportResponse<T>(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("result")] T Result);

/// <summary>
/// Arc's <c>LPImportResult</c>, plus the rejected lines (the good ones were stored), and the points skipped by a
/// <c>measurement</c> filter.
/// </summary>
public sealed record LineProtocolImportResult(
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurements")] IReadOnlyList<string> Measurements,
    [property: JsonPropertyName("rows_imported")] long RowsImported,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("duration_ms")] long DurationMs,
    [property: JsonPropertyName("rows_rejected")] long RowsRejected,
    [property: JsonPropertyName("rows_skipped")] long RowsSkipped,
    [property: JsonPropertyName("message"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Message,
    [property: JsonPropertyName("errors")] IReadOnlyList<WriteErrorItem> Errors);

/// <summary>Arc's <c>ImportResult</c> of a CSV or Parquet import, plus the rejected rows (the good ones were stored).</summary>
public sealed record FileImportResult(
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string Measurement,
    [property: JsonPropertyName("rows_imported")] long RowsImported,
    [property: JsonPropertyName("partitions_created")] int PartitionsCreated,
    [property: JsonPropertyName("time_range_min"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? TimeRangeMin,
    [property: JsonPropertyName("time_range_max"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? TimeRangeMax,
    [property: JsonPropertyName("columns")] IReadOnlyList<string> Columns,
    [property: JsonPropertyName("duration_ms")] long DurationMs,
    [property: JsonPropertyName("rows_rejected")] long RowsRejected,
    [property: JsonPropertyName("message"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Message,
    [property: JsonPropertyName("errors")] IReadOnlyList<WriteErrorItem> Errors);

/// <summary>Arc's <c>/api/v1/import/stats</c>: <c>{"status":"success","stats":{...}}</c>, plus the imports running now.</summary>
public sealed record ImportStatsResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("stats")] ImportStats Stats);

public sealed record ImportStats(
    [property: JsonPropertyName("total_requests")] long TotalRequests,
    [property: JsonPropertyName("total_records")] long TotalRecords,
    [property: JsonPropertyName("total_errors")] long TotalErrors,
    [property: JsonPropertyName("running")] IReadOnlyList<RunningImport> Running);

/// <summary>An import in progress: the bytes of its file read and the rows imported and rejected so far.</summary>
public sealed record RunningImport(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("format")] string Format,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string? Measurement,
    [property: JsonPropertyName("bytes_read")] long BytesRead,
    [property: JsonPropertyName("rows_imported")] long RowsImported,
    [property: JsonPropertyName("rows_rejected")] long RowsRejected,
    [property: JsonPropertyName("started_at")] string StartedAt,
    [property: JsonPropertyName("elapsed_ms")] long ElapsedMs);

[JsonSerializable(typeof(ImportResponse<LineProtocolImportResult>))]
[JsonSerializable(typeof(ImportResponse<FileImportResult>))]
[JsonSerializable(typeof(ImportStatsResponse))]
internal sealed partial class ImportJsonContext : JsonSerializerContext
{
    public static ImportJsonContext Api { get; } = new(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}

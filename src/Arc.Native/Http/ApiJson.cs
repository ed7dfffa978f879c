using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Arc.Native.Http;

/// <summary>Body of <c>POST /api/v1/query</c>.</summary>
public sealed record QueryRequest
{
    [JsonPropertyName("sql")]
    public string? Sql { get; init; }

    /// <summary>Default database for unqualified names; the <c>x-arc-database</c> header does the same.</summary>
    [JsonPropertyName("database")]
    public string? Database { get; init; }

    /// <summary><c>low</c>, <c>normal</c> (default), <c>high</c> or <c>critical</c> (admin); the <c>x-arc-query-priority</c> header wins.</summary>
    [JsonPropertyName("priority")]
    public string? Priority { get; init; }
}

/// <summary>Arc's error body for queries and everything that is not a write.</summary>
public sealed record ErrorResponse([property: JsonPropertyName("error")] string Error)
{
    [JsonPropertyName("success")]
    [JsonPropertyOrder(-1)]
    public bool Success => false;
}

/// <summary>One rejected record of a write: 1-based line and byte column.</summary>
public sealed record WriteErrorItem(
    [property: JsonPropertyName("line")] long Line,
    [property: JsonPropertyName("column")] int Column,
    [property: JsonPropertyName("message")] string Message);

/// <summary>
/// A write with rejected records: <c>error</c> is the one-line summary InfluxDB clients print; <c>errors</c> lists the first
/// rejections; the accepted points were stored.
/// </summary>
public sealed record WriteErrorResponse(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("accepted")] long Accepted,
    [property: JsonPropertyName("rejected")] long Rejected,
    [property: JsonPropertyName("errors")] IReadOnlyList<WriteErrorItem> Errors);

public sealed record HealthResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("duckdb")] string DuckDb);

public sealed record ReadyResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("buffered_rows")] long BufferedRows,
    [property: JsonPropertyName("flushed_rows")] long FlushedRows,
    [property: JsonPropertyName("flush_failures")] long FlushFailures,
    [property: JsonPropertyName("object_storage")] ObjectStorageReady? ObjectStorage);

/// <summary>Upload backlog and cache use when the backend is object storage.</summary>
public sealed record ObjectStorageReady(
    [property: JsonPropertyName("pending_uploads")] long PendingUploads,
    [property: JsonPropertyName("pending_bytes")] long PendingBytes,
    [property: JsonPropertyName("uploaded")] long Uploaded,
    [property: JsonPropertyName("upload_failures")] long UploadFailures,
    [property: JsonPropertyName("last_error")] string? LastError,
    [property: JsonPropertyName("cached_bytes")] long CachedBytes);

/// <summary>InfluxDB 1.x <c>/query</c> answer for the statements clients send on connect.</summary>
public sealed record InfluxQueryResponse([property: JsonPropertyName("results")] IReadOnlyList<InfluxStatementResult> Results);

public sealed record InfluxStatementResult([property: JsonPropertyName("statement_id")] int StatementId);

[JsonSerializable(typeof(QueryRequest))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(WriteErrorResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ReadyResponse))]
[JsonSerializable(typeof(InfluxQueryResponse))]
// The route parameters' types, for the schemas of /openapi.json (it asks the HTTP JSON options for every type it describes).
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(bool?))]
[JsonSerializable(typeof(int?))]
[JsonSerializable(typeof(long?))]
[JsonSerializable(typeof(double?))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
internal sealed partial class ApiJsonContext : JsonSerializerContext
{
    /// <summary>The context the endpoints use: like <see cref="JsonSerializerContext"/>'s default but without escaping
    /// apostrophes and non-ASCII text, so messages read as written.</summary>
    public static ApiJsonContext Api { get; } = new(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}

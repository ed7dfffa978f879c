using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Arc.Engine.Errors;

namespace Arc.Engine.ContinuousQueries;

/// <summary>
/// A create or update body, as Arc and its Python SDK send it. On update every property left out (null) keeps its
/// stored value: the SDK sends only the properties it changes.
/// </summary>
public sealed record ContinuousQueryRequest
{
    [JsonPropertyName("name")]
    public string? Name { get; init; }

    [JsonPropertyName("description")]
    public string? Description { get; init; }

    [JsonPropertyName("database")]
    public string? Database { get; init; }

    [JsonPropertyName("source_measurement")]
    public string? SourceMeasurement { get; init; }

    [JsonPropertyName("destination_measurement")]
    public string? DestinationMeasurement { get; init; }

    /// <summary>A SELECT with Arc's <c>{start_time}</c> and <c>{end_time}</c> placeholders (each bound as a TIMESTAMPTZ).</summary>
    [JsonPropertyName("query")]
    public string? Query { get; init; }

    /// <summary>The window length: a Go duration (<c>30s</c>, <c>5m</c>, <c>1h</c>, <c>1h30m</c>) or days (<c>1d</c>).</summary>
    [JsonPropertyName("interval")]
    public string? Interval { get; init; }

    /// <summary>Output columns written as tags (the grouping dimensions); with <c>time</c> they identify an output row.</summary>
    [JsonPropertyName("tag_columns")]
    public List<string>? TagColumns { get; init; }

    [JsonPropertyName("retention_days")]
    public int? RetentionDays { get; init; }

    [JsonPropertyName("delete_source_after_days")]
    public int? DeleteSourceAfterDays { get; init; }

    [JsonPropertyName("is_active")]
    public bool? IsActive { get; init; }
}

/// <summary>
/// A continuous query as Arc shows it; beyond Arc, <see cref="LateWindowsPending"/> (windows that received late writes
/// and wait to be recomputed) and <see cref="SourceDeletedBefore"/> (how far <c>delete_source_after_days</c> removed the
/// source).
/// </summary>
public sealed record ContinuousQueryView(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("source_measurement")] string SourceMeasurement,
    [property: JsonPropertyName("destination_measurement")] string DestinationMeasurement,
    [property: JsonPropertyName("query")] string Query,
    [property: JsonPropertyName("interval")] string Interval,
    [property: JsonPropertyName("tag_columns")] IReadOnlyList<string> TagColumns,
    [property: JsonPropertyName("retention_days")] int? RetentionDays,
    [property: JsonPropertyName("delete_source_after_days")] int? DeleteSourceAfterDays,
    [property: JsonPropertyName("is_active")] bool IsActive,
    [property: JsonPropertyName("last_execution_time")] string? LastExecutionTime,
    [property: JsonPropertyName("last_execution_status")] string? LastExecutionStatus,
    [property: JsonPropertyName("last_processed_time")] string? LastProcessedTime,
    [property: JsonPropertyName("last_records_written")] long? LastRecordsWritten,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt,
    [property: JsonPropertyName("late_windows_pending")] int LateWindowsPending,
    [property: JsonPropertyName("source_deleted_before")] string? SourceDeletedBefore);

/// <summary>The body of <c>POST /api/v1/continuous_queries/{id}/execute</c> (RFC 3339 times).</summary>
public sealed record ExecuteContinuousQueryRequest
{
    [JsonPropertyName("start_time")]
    public string? StartTime { get; init; }

    [JsonPropertyName("end_time")]
    public string? EndTime { get; init; }

    [JsonPropertyName("dry_run")]
    public bool DryRun { get; init; }
}

/// <summary>
/// What a run did, as Arc answers it. Beyond Arc, a dry run also carries the rows it would write (<see cref="Rows"/>,
/// each an object of column to value, <c>time</c> in RFC 3339).
/// </summary>
public sealed record ExecuteContinuousQueryResponse(
    [property: JsonPropertyName("query_id")] long QueryId,
    [property: JsonPropertyName("query_name")] string QueryName,
    [property: JsonPropertyName("execution_id")] string ExecutionId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("start_time")] string StartTime,
    [property: JsonPropertyName("end_time")] string EndTime,
    [property: JsonPropertyName("records_read")] long? RecordsRead,
    [property: JsonPropertyName("records_written")] long RecordsWritten,
    [property: JsonPropertyName("execution_time_seconds")] double ExecutionTimeSeconds,
    [property: JsonPropertyName("destination_measurement")] string DestinationMeasurement,
    [property: JsonPropertyName("dry_run")] bool DryRun,
    [property: JsonPropertyName("executed_at")] string ExecutedAt,
    [property: JsonPropertyName("executed_query")][property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ExecutedQuery,
    [property: JsonPropertyName("rows")][property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonArray? Rows);

/// <summary>
/// One run in a continuous query's history; beyond Arc, <see cref="Kind"/> (<c>scheduled</c>, <c>manual</c>,
/// <c>recompute</c>, <c>retention</c>, <c>delete_source</c>) and <see cref="RecordsDeleted"/> (the earlier output rows a
/// recompute replaced, or the rows a removal removed).
/// </summary>
public sealed record ContinuousQueryExecution(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("query_id")] long QueryId,
    [property: JsonPropertyName("execution_id")] string ExecutionId,
    [property: JsonPropertyName("execution_time")] string ExecutionTime,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("start_time")] string StartTime,
    [property: JsonPropertyName("end_time")] string EndTime,
    [property: JsonPropertyName("records_read")] long? RecordsRead,
    [property: JsonPropertyName("records_written")] long RecordsWritten,
    [property: JsonPropertyName("execution_duration_seconds")] double ExecutionDurationSeconds,
    [property: JsonPropertyName("error_message")] string? ErrorMessage,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("records_deleted")] long? RecordsDeleted);

/// <summary>
/// <c>{"success": true, "query": {…}}</c>: the shape the Python SDK reads for create, get and update
/// (<c>data.get("query", data)</c>).
/// </summary>
public sealed record ContinuousQueryEnvelope([property: JsonPropertyName("query")] ContinuousQueryView Query)
{
    [JsonPropertyName("success")]
    [JsonPropertyOrder(-1)]
    public bool Success => true;
}

/// <summary><c>{"success": true, "queries": [...], "count": n}</c>: the list the SDK reads (<c>data.get("queries")</c>).</summary>
public sealed record ContinuousQueryList(
    [property: JsonPropertyName("queries")] IReadOnlyList<ContinuousQueryView> Queries,
    [property: JsonPropertyName("count")] int Count)
{
    [JsonPropertyName("success")]
    [JsonPropertyOrder(-1)]
    public bool Success => true;
}

/// <summary>The history, as Arc answers it.</summary>
public sealed record ContinuousQueryExecutions(
    [property: JsonPropertyName("query_id")] long QueryId,
    [property: JsonPropertyName("executions")] IReadOnlyList<ContinuousQueryExecution> Executions,
    [property: JsonPropertyName("count")] int Count);

/// <summary>A deletion's answer.</summary>
public sealed record ContinuousQueryDeleted([property: JsonPropertyName("message")] string Message)
{
    [JsonPropertyName("success")]
    [JsonPropertyOrder(-1)]
    public bool Success => true;
}

/// <summary>A definition or run the API refuses (400), with the reason.</summary>
public sealed class ContinuousQueryValidationException(string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.Invalid;
}

/// <summary>No continuous query with the id (404).</summary>
public sealed class ContinuousQueryNotFoundException(long id) : Exception($"no continuous query with id {id}"), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.NotFound;
}

[JsonSerializable(typeof(ContinuousQueryRequest))]
[JsonSerializable(typeof(ExecuteContinuousQueryRequest))]
[JsonSerializable(typeof(ExecuteContinuousQueryResponse))]
[JsonSerializable(typeof(ContinuousQueryEnvelope))]
[JsonSerializable(typeof(ContinuousQueryList))]
[JsonSerializable(typeof(ContinuousQueryExecutions))]
[JsonSerializable(typeof(ContinuousQueryDeleted))]
[JsonSerializable(typeof(JsonArray))]
public sealed partial class ContinuousQueryJsonContext : JsonSerializerContext
{
    /// <summary>Like the API's other contexts: apostrophes and non-ASCII text are not escaped.</summary>
    public static ContinuousQueryJsonContext Api { get; } = new(new JsonSerializerOptions
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

using System.Text.Json;
using System.Text.Json.Serialization;
using Arc.Engine.Errors;

namespace Arc.Engine.Retention;

/// <summary>
/// A retention policy as Arc's API shows it (<c>GET /api/v1/retention/{id}</c>): a database, optionally one measurement,
/// and the days rows are kept (<c>retention_days</c>) plus a safety margin (<c>buffer_days</c>). The <c>last_*</c> fields
/// come from its latest recorded run.
/// </summary>
public sealed record RetentionPolicy(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string? Measurement,
    [property: JsonPropertyName("retention_days")] int RetentionDays,
    [property: JsonPropertyName("buffer_days")] int BufferDays,
    [property: JsonPropertyName("is_active")] bool IsActive,
    [property: JsonPropertyName("last_execution_time")] string? LastExecutionTime,
    [property: JsonPropertyName("last_execution_status")] string? LastExecutionStatus,
    [property: JsonPropertyName("last_deleted_count")] long? LastDeletedCount,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt);

/// <summary>
/// The body of a create (every field but <c>measurement</c>, <c>buffer_days</c> and <c>is_active</c> required) or an
/// update (only the fields given change: the SDK sends just those). <c>buffer_days</c> defaults to 7 and
/// <c>is_active</c> to true, as in Arc's SDK; an empty <c>measurement</c> on update widens the policy to the database.
/// </summary>
public sealed record RetentionPolicyRequest(
    [property: JsonPropertyName("name")] string? Name = null,
    [property: JsonPropertyName("database")] string? Database = null,
    [property: JsonPropertyName("measurement")] string? Measurement = null,
    [property: JsonPropertyName("retention_days")] int? RetentionDays = null,
    [property: JsonPropertyName("buffer_days")] int? BufferDays = null,
    [property: JsonPropertyName("is_active")] bool? IsActive = null);

/// <summary>The body of <c>POST /api/v1/retention/{id}/execute</c>: a run removes files only with <c>confirm</c>.</summary>
public sealed record ExecuteRetentionRequest(
    [property: JsonPropertyName("dry_run")] bool DryRun = false,
    [property: JsonPropertyName("confirm")] bool Confirm = false);

/// <summary>
/// What a run did (or, with <c>dry_run</c>, would do): Arc's fields, then the bytes, the files themselves (capped), and
/// the files that straddle the cutoff. Those hold rows on both sides of it; they are rewritten without their expired rows
/// (whose count is in <c>deleted_count</c>).
/// </summary>
public sealed record ExecuteRetentionResponse(
    [property: JsonPropertyName("policy_id")] long PolicyId,
    [property: JsonPropertyName("policy_name")] string PolicyName,
    [property: JsonPropertyName("deleted_count")] long DeletedCount,
    [property: JsonPropertyName("files_deleted")] int FilesDeleted,
    [property: JsonPropertyName("execution_time_ms")] double ExecutionTimeMs,
    [property: JsonPropertyName("dry_run")] bool DryRun,
    [property: JsonPropertyName("cutoff_date")] string CutoffDate,
    [property: JsonPropertyName("affected_measurements")] IReadOnlyList<string> AffectedMeasurements,
    [property: JsonPropertyName("bytes_deleted")] long BytesDeleted,
    [property: JsonPropertyName("files")] IReadOnlyList<string> Files,
    [property: JsonPropertyName("files_partially_expired")] int FilesPartiallyExpired,
    [property: JsonPropertyName("files_deferred")] int FilesDeferred);

/// <summary>One recorded run of a policy (dry runs are not recorded, as in Arc).</summary>
public sealed record RetentionExecution(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("policy_id")] long PolicyId,
    [property: JsonPropertyName("execution_time")] string ExecutionTime,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("deleted_count")] long DeletedCount,
    [property: JsonPropertyName("cutoff_date")] string? CutoffDate,
    [property: JsonPropertyName("execution_duration_ms")] double ExecutionDurationMs,
    [property: JsonPropertyName("error_message")] string? ErrorMessage,
    [property: JsonPropertyName("finished_at")] string? FinishedAt,
    [property: JsonPropertyName("trigger")] string Trigger,
    [property: JsonPropertyName("files_deleted")] int FilesDeleted,
    [property: JsonPropertyName("bytes_deleted")] long BytesDeleted);

/// <summary>The answer of <c>GET /api/v1/retention/{id}/executions</c>, newest first.</summary>
public sealed record RetentionExecutionList(
    [property: JsonPropertyName("policy_id")] long PolicyId,
    [property: JsonPropertyName("executions")] IReadOnlyList<RetentionExecution> Executions);

/// <summary>The answer of <c>GET /api/v1/retention</c>: the SDK reads <c>policies</c>.</summary>
public sealed record RetentionPolicyList(
    [property: JsonPropertyName("policies")] IReadOnlyList<RetentionPolicy> Policies,
    [property: JsonPropertyName("count")] int Count);

/// <summary>What the engine removed (or would remove) for one run over a policy's measurements.</summary>
public sealed class RetentionSweep
{
    public List<string> Measurements { get; } = [];

    /// <summary>The removed files, as keys under the storage root.</summary>
    public List<string> Files { get; } = [];

    public long Bytes { get; set; }

    /// <summary>Rows of the removed files whose footer was read (with object storage, files not in the local cache are not fetched to count them).</summary>
    public long Rows { get; set; }

    /// <summary>Files with rows on both sides of the cutoff: rewritten without their expired rows.</summary>
    public int Partial { get; set; }

    /// <summary>The measurements that have such files, with the start (ns) of the earliest such file's partition.</summary>
    public Dictionary<string, long> Straddling { get; } = new(StringComparer.Ordinal);

    /// <summary>Expired files whose rows the write-ahead log still holds: removed by a later run, once the log let them go.</summary>
    public int Deferred { get; set; }
}

/// <summary>The durable state of the policies: the file <c>retention.db_path</c>.</summary>
internal sealed record RetentionState(
    [property: JsonPropertyName("next_policy_id")] long NextPolicyId,
    [property: JsonPropertyName("next_execution_id")] long NextExecutionId,
    [property: JsonPropertyName("policies")] List<StoredPolicy> Policies,
    [property: JsonPropertyName("executions")] List<RetentionExecution> Executions);

internal sealed record StoredPolicy(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string? Measurement,
    [property: JsonPropertyName("retention_days")] int RetentionDays,
    [property: JsonPropertyName("buffer_days")] int BufferDays,
    [property: JsonPropertyName("is_active")] bool IsActive,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt);

/// <summary>Source-generated JSON metadata for retention's API and state (AOT: no reflection).</summary>
[JsonSerializable(typeof(RetentionPolicy))]
[JsonSerializable(typeof(RetentionPolicyRequest))]
[JsonSerializable(typeof(ExecuteRetentionRequest))]
[JsonSerializable(typeof(ExecuteRetentionResponse))]
[JsonSerializable(typeof(RetentionExecutionList))]
[JsonSerializable(typeof(RetentionPolicyList))]
public sealed partial class RetentionJsonContext : JsonSerializerContext
{
    public static RetentionJsonContext Api { get; } = new(new JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

/// <summary>Source-generated JSON metadata for the policies' state file.</summary>
[JsonSerializable(typeof(RetentionState))]
internal sealed partial class RetentionStateJsonContext : JsonSerializerContext;

/// <summary>A retention request refused or impossible for the reason given (bad field, unknown policy, ...).</summary>
public sealed class RetentionException(ErrorReason reason, string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason { get; } = reason;
}

using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Arc.Engine.Errors;

namespace Arc.Engine.Export;

/// <summary>An export job as created through the API (and stored, secrets apart, in the metadata store).</summary>
public sealed record ExportJobSpec
{
    [JsonPropertyName("name")]
    public string? Name { get; init; }

    [JsonPropertyName("source")]
    public ExportSourceSpec? Source { get; init; }

    [JsonPropertyName("target")]
    public ExportTargetSpec? Target { get; init; }

    /// <summary>Cron expression (5 fields, or 6 with seconds first), UTC; null or empty for a one-shot job.</summary>
    [JsonPropertyName("schedule")]
    public string? Schedule { get; init; }

    [JsonPropertyName("batch_size")]
    public int? BatchSize { get; init; }

    /// <summary>Rows younger than this are left for a later run (see <see cref="ExportOptions.DefaultMinAge"/>).</summary>
    [JsonPropertyName("min_age_seconds")]
    public int? MinAgeSeconds { get; init; }

    [JsonPropertyName("paused")]
    public bool? Paused { get; init; }
}

/// <summary>What a job reads: one measurement, optionally filtered by a SQL boolean expression over its columns.</summary>
public sealed record ExportSourceSpec
{
    [JsonPropertyName("database")]
    public string? Database { get; init; }

    [JsonPropertyName("measurement")]
    public string? Measurement { get; init; }

    [JsonPropertyName("filter")]
    public string? Filter { get; init; }
}

/// <summary>
/// Where a job writes. <c>type</c> is <c>influx1x</c>, <c>influx2x</c>, <c>timescale</c> (also <c>postgres</c>),
/// <c>http_json</c> or <c>parquet</c> (files into a storage connection); the other members apply to some types only. Secrets (password, token, connection_string, header
/// values) are stored encrypted and never returned.
/// </summary>
public sealed record ExportTargetSpec
{
    [JsonPropertyName("type")]
    public string? Type { get; init; }

    /// <summary>Base URL of the InfluxDB server, or the URL the JSON batches are posted to.</summary>
    [JsonPropertyName("url")]
    public string? Url { get; init; }

    /// <summary>InfluxDB 1.x database.</summary>
    [JsonPropertyName("database")]
    public string? Database { get; init; }

    [JsonPropertyName("retention_policy")]
    public string? RetentionPolicy { get; init; }

    [JsonPropertyName("username")]
    public string? Username { get; init; }

    [JsonPropertyName("password")]
    public string? Password { get; init; }

    [JsonPropertyName("org")]
    public string? Org { get; init; }

    [JsonPropertyName("bucket")]
    public string? Bucket { get; init; }

    [JsonPropertyName("token")]
    public string? Token { get; init; }

    /// <summary>Measurement name at the target (InfluxDB); default: the source measurement.</summary>
    [JsonPropertyName("measurement")]
    public string? Measurement { get; init; }

    /// <summary>Gzip request bodies (InfluxDB and HTTP JSON); default true for InfluxDB, false for HTTP JSON.</summary>
    [JsonPropertyName("gzip")]
    public bool? Gzip { get; init; }

    /// <summary>Npgsql connection string (<c>Host=…;Port=…;Database=…;Username=…;Password=…</c>).</summary>
    [JsonPropertyName("connection_string")]
    public string? ConnectionString { get; init; }

    [JsonPropertyName("schema")]
    public string? Schema { get; init; }

    /// <summary>PostgreSQL table; default: the source measurement.</summary>
    [JsonPropertyName("table")]
    public string? Table { get; init; }

    [JsonPropertyName("headers")]
    public Dictionary<string, string>? Headers { get; init; }

    /// <summary>The storage connection (<c>/connections/storage</c>) a <c>parquet</c> target writes into.</summary>
    [JsonPropertyName("connection")]
    public string? Connection { get; init; }
}

/// <summary>A job as listed by the API: configuration without secrets, and its progress.</summary>
public sealed record ExportJobView(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("source")] ExportSourceSpec Source,
    [property: JsonPropertyName("target")] ExportTargetView Target,
    [property: JsonPropertyName("schedule")] string? Schedule,
    [property: JsonPropertyName("batch_size")] int BatchSize,
    [property: JsonPropertyName("min_age_seconds")] int MinAgeSeconds,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("paused")] bool Paused,
    [property: JsonPropertyName("running")] bool Running,
    [property: JsonPropertyName("created_at")] DateTime CreatedAt,
    [property: JsonPropertyName("next_run")] DateTime? NextRun,
    [property: JsonPropertyName("rows_sent")] long RowsSent,
    [property: JsonPropertyName("batches_sent")] long BatchesSent,
    [property: JsonPropertyName("high_water_mark")] ExportHighWaterMark? HighWaterMark,
    [property: JsonPropertyName("lag_seconds")] double? LagSeconds,
    [property: JsonPropertyName("last_run")] ExportRunView? LastRun,
    [property: JsonPropertyName("last_error")] string? LastError,
    [property: JsonPropertyName("last_error_at")] DateTime? LastErrorAt,
    [property: JsonPropertyName("error_permanent")] bool ErrorPermanent);

/// <summary>The target without its secrets: only whether each is set.</summary>
public sealed record ExportTargetView(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("url")] string? Url,
    [property: JsonPropertyName("database")] string? Database,
    [property: JsonPropertyName("retention_policy")] string? RetentionPolicy,
    [property: JsonPropertyName("username")] string? Username,
    [property: JsonPropertyName("org")] string? Org,
    [property: JsonPropertyName("bucket")] string? Bucket,
    [property: JsonPropertyName("measurement")] string? Measurement,
    [property: JsonPropertyName("gzip")] bool? Gzip,
    [property: JsonPropertyName("schema")] string? Schema,
    [property: JsonPropertyName("table")] string? Table,
    [property: JsonPropertyName("connection_string")] string? ConnectionString,
    [property: JsonPropertyName("password_set")] bool PasswordSet,
    [property: JsonPropertyName("token_set")] bool TokenSet,
    [property: JsonPropertyName("header_names")] IReadOnlyList<string>? HeaderNames,
    [property: JsonPropertyName("connection")] string? Connection);

/// <summary>The last row a target acknowledged: its time and its tie-breaker among rows of that time.</summary>
public sealed record ExportHighWaterMark(
    [property: JsonPropertyName("time")] DateTime Time,
    [property: JsonPropertyName("time_ns")] long TimeNs,
    [property: JsonPropertyName("key")] string Key);

public sealed record ExportRunView(
    [property: JsonPropertyName("started")] DateTime Started,
    [property: JsonPropertyName("finished")] DateTime? Finished,
    [property: JsonPropertyName("rows")] long Rows,
    [property: JsonPropertyName("batches")] long Batches,
    [property: JsonPropertyName("error")] string? Error);

/// <summary>
/// A named storage target: a local directory or an S3-compatible bucket. The access key id and secret are stored
/// encrypted and never returned.
/// </summary>
public sealed record StorageConnectionSpec
{
    [JsonPropertyName("name")]
    public string? Name { get; init; }

    /// <summary><c>local</c> or <c>s3</c>.</summary>
    [JsonPropertyName("type")]
    public string? Type { get; init; }

    [JsonPropertyName("path")]
    public string? Path { get; init; }

    [JsonPropertyName("bucket")]
    public string? Bucket { get; init; }

    [JsonPropertyName("region")]
    public string? Region { get; init; }

    [JsonPropertyName("endpoint")]
    public string? Endpoint { get; init; }

    [JsonPropertyName("prefix")]
    public string? Prefix { get; init; }

    [JsonPropertyName("use_ssl")]
    public bool? UseSsl { get; init; }

    [JsonPropertyName("path_style")]
    public bool? PathStyle { get; init; }

    [JsonPropertyName("access_key_id")]
    public string? AccessKeyId { get; init; }

    [JsonPropertyName("secret_access_key")]
    public string? SecretAccessKey { get; init; }
}

public sealed record StorageConnectionView(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("path")] string? Path,
    [property: JsonPropertyName("bucket")] string? Bucket,
    [property: JsonPropertyName("region")] string? Region,
    [property: JsonPropertyName("endpoint")] string? Endpoint,
    [property: JsonPropertyName("prefix")] string? Prefix,
    [property: JsonPropertyName("use_ssl")] bool? UseSsl,
    [property: JsonPropertyName("path_style")] bool? PathStyle,
    [property: JsonPropertyName("access_key_id_set")] bool AccessKeyIdSet,
    [property: JsonPropertyName("secret_access_key_set")] bool SecretAccessKeySet,
    [property: JsonPropertyName("created_at")] DateTime CreatedAt);

/// <summary>A job or connection the API refuses (400), with the reason.</summary>
public sealed class ExportValidationException(string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.Invalid;
}

[JsonSerializable(typeof(ExportJobSpec))]
[JsonSerializable(typeof(ExportTargetSpec))]
[JsonSerializable(typeof(ExportJobView))]
[JsonSerializable(typeof(List<ExportJobView>))]
[JsonSerializable(typeof(StorageConnectionSpec))]
[JsonSerializable(typeof(StorageConnectionView))]
[JsonSerializable(typeof(List<StorageConnectionView>))]
public sealed partial class ExportJsonContext : JsonSerializerContext
{
    /// <summary>Like the API's other contexts: apostrophes and non-ASCII text are not escaped.</summary>
    public static ExportJsonContext Api { get; } = new(new JsonSerializerOptions
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

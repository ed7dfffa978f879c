using System.Globalization;
using System.Text.Json;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.Export;

/// <summary>A job's configuration and state as the manager keeps it in memory (the store is its durable copy).</summary>
internal sealed class ExportJobRecord
{
    public required string Id { get; init; }

    /// <summary>The full spec, secrets included (only in memory; the store keeps them sealed).</summary>
    public required ExportJobSpec Spec { get; init; }

    public DateTime CreatedAt { get; init; }

    public bool Paused { get; set; }

    /// <summary>A one-shot job that has run to the end.</summary>
    public bool Completed { get; set; }

    /// <summary>The last run ended on a permanent error (4xx, schema): no automatic runs until resumed or run.</summary>
    public bool Failed { get; set; }

    public long? HwmTime { get; set; }

    public string? HwmKey { get; set; }

    /// <summary>The column signature the key was computed over (a schema change restarts the tie-breaker at the mark's time).</summary>
    public string? HwmColumns { get; set; }

    public long RowsSent { get; set; }

    public long BatchesSent { get; set; }

    public DateTime? LastRunStarted { get; set; }

    public DateTime? LastRunFinished { get; set; }

    public long LastRunRows { get; set; }

    public long LastRunBatches { get; set; }

    public string? LastRunError { get; set; }

    public string? LastError { get; set; }

    public DateTime? LastErrorAt { get; set; }
}

internal sealed record StorageConnectionRecord(StorageConnectionSpec Spec, DateTime CreatedAt);

/// <summary>
/// The export metadata store: an embedded DuckDB file (<c>export.db_path</c>) holding jobs, their high-water marks and
/// counters, and storage connections. Credentials are sealed with <see cref="SecretBox"/> under <c>{db_path}.key</c>.
/// Every change is one autocommitted statement, so a crash leaves either the old or the new state.
/// </summary>
internal sealed class ExportStore : IDisposable
{
    private readonly DuckDbDatabase _database;
    private readonly DuckDbConnection _connection;
    private readonly SecretBox _secrets;
    private readonly Lock _lock = new();

    public ExportStore(string path)
    {
        var full = Path.GetFullPath(path);
        LocalStore.EnsureDirectory(Path.GetDirectoryName(full)!); // the key file is made first
        _secrets = new SecretBox(full + ".key");
        (_database, _connection) = MetadataFile.Open(full, connection =>
        {
            connection.Execute("""
                CREATE TABLE IF NOT EXISTS export_jobs (
                    id VARCHAR PRIMARY KEY, spec VARCHAR NOT NULL, secrets VARCHAR, created_us BIGINT NOT NULL,
                    paused BOOLEAN NOT NULL, completed BOOLEAN NOT NULL, failed BOOLEAN NOT NULL,
                    hwm_time BIGINT, hwm_key VARCHAR, hwm_columns VARCHAR, rows_sent BIGINT NOT NULL, batches_sent BIGINT NOT NULL,
                    run_started_us BIGINT, run_finished_us BIGINT, run_rows BIGINT NOT NULL, run_batches BIGINT NOT NULL, run_error VARCHAR,
                    last_error VARCHAR, last_error_us BIGINT)
                """);
            connection.Execute("""
                CREATE TABLE IF NOT EXISTS storage_connections (
                    name VARCHAR PRIMARY KEY, spec VARCHAR NOT NULL, secrets VARCHAR, created_us BIGINT NOT NULL)
                """);
        });
    }

    public List<ExportJobRecord> LoadJobs()
    {
        lock (_lock)
        {
            return _connection.QueryStrings("""
                    SELECT id, spec, secrets, created_us, paused, completed, failed, hwm_time, hwm_key, hwm_columns, rows_sent, batches_sent,
                           run_started_us, run_finished_us, run_rows, run_batches, run_error, last_error, last_error_us
                    FROM export_jobs ORDER BY created_us, id
                    """)
                .Select(row =>
                {
                    var spec = JsonSerializer.Deserialize(row[1]!, ExportJsonContext.Default.ExportJobSpec)!;
                    if (row[2] is { } sealedSecrets)
                    {
                        var secrets = JsonSerializer.Deserialize(_secrets.Open(sealedSecrets, "job:" + row[0]), ExportJsonContext.Default.ExportTargetSpec)!;
                        spec = spec with { Target = WithSecrets(spec.Target!, secrets) };
                    }

                    return new ExportJobRecord
                    {
                        Id = row[0]!,
                        Spec = spec,
                        CreatedAt = FromMicros(row[3])!.Value,
                        Paused = row[4] == "true",
                        Completed = row[5] == "true",
                        Failed = row[6] == "true",
                        HwmTime = row[7] is null ? null : long.Parse(row[7]!, CultureInfo.InvariantCulture),
                        HwmKey = row[8],
                        HwmColumns = row[9],
                        RowsSent = long.Parse(row[10]!, CultureInfo.InvariantCulture),
                        BatchesSent = long.Parse(row[11]!, CultureInfo.InvariantCulture),
                        LastRunStarted = FromMicros(row[12]),
                        LastRunFinished = FromMicros(row[13]),
                        LastRunRows = long.Parse(row[14]!, CultureInfo.InvariantCulture),
                        LastRunBatches = long.Parse(row[15]!, CultureInfo.InvariantCulture),
                        LastRunError = row[16],
                        LastError = row[17],
                        LastErrorAt = FromMicros(row[18]),
                    };
                }).ToList();
        }
    }

    public void InsertJob(ExportJobRecord job)
    {
        var (publicSpec, secrets) = Split(job.Spec.Target!);
        var spec = JsonSerializer.Serialize(job.Spec with { Target = publicSpec }, ExportJsonContext.Default.ExportJobSpec);
        var sealedSecrets = secrets is null ? null : _secrets.Seal(JsonSerializer.Serialize(secrets, ExportJsonContext.Default.ExportTargetSpec), "job:" + job.Id);
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                $"INSERT INTO export_jobs VALUES ({Names.QuoteLiteral(job.Id)}, {Names.QuoteLiteral(spec)}, {Literal(sealedSecrets)}, {Micros(job.CreatedAt)}, " +
                $"{Bool(job.Paused)}, false, false, NULL, NULL, NULL, 0, 0, NULL, NULL, 0, 0, NULL, NULL, NULL)"));
        }
    }

    /// <summary>Persists everything that changes while a job lives (flags, high-water mark, counters, last run, errors).</summary>
    public void SaveState(ExportJobRecord job)
    {
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                $"UPDATE export_jobs SET paused = {Bool(job.Paused)}, completed = {Bool(job.Completed)}, failed = {Bool(job.Failed)}, " +
                $"hwm_time = {(job.HwmTime is { } t ? t.ToString(CultureInfo.InvariantCulture) : "NULL")}, hwm_key = {Literal(job.HwmKey)}, " +
                $"hwm_columns = {Literal(job.HwmColumns)}, rows_sent = {job.RowsSent}, batches_sent = {job.BatchesSent}, " +
                $"run_started_us = {Micros(job.LastRunStarted)}, run_finished_us = {Micros(job.LastRunFinished)}, run_rows = {job.LastRunRows}, " +
                $"run_batches = {job.LastRunBatches}, run_error = {Literal(job.LastRunError)}, last_error = {Literal(job.LastError)}, " +
                $"last_error_us = {Micros(job.LastErrorAt)} WHERE id = {Names.QuoteLiteral(job.Id)}"));
        }
    }

    public void DeleteJob(string id)
    {
        lock (_lock)
        {
            _connection.Execute($"DELETE FROM export_jobs WHERE id = {Names.QuoteLiteral(id)}");
        }
    }

    public List<StorageConnectionRecord> LoadConnections()
    {
        lock (_lock)
        {
            return _connection.QueryStrings("SELECT name, spec, secrets, created_us FROM storage_connections ORDER BY name")
                .Select(row =>
                {
                    var spec = JsonSerializer.Deserialize(row[1]!, ExportJsonContext.Default.StorageConnectionSpec)!;
                    if (row[2] is { } sealedSecrets)
                    {
                        var secrets = JsonSerializer.Deserialize(_secrets.Open(sealedSecrets, "storage:" + row[0]), ExportJsonContext.Default.StorageConnectionSpec)!;
                        spec = spec with { AccessKeyId = secrets.AccessKeyId, SecretAccessKey = secrets.SecretAccessKey };
                    }

                    return new StorageConnectionRecord(spec, FromMicros(row[3])!.Value);
                }).ToList();
        }
    }

    /// <summary>Inserts a connection; false when the name is taken.</summary>
    public bool InsertConnection(StorageConnectionRecord connection)
    {
        var spec = connection.Spec;
        var publicSpec = spec with { AccessKeyId = null, SecretAccessKey = null };
        string? sealedSecrets = null;
        if (spec.AccessKeyId is not null || spec.SecretAccessKey is not null)
        {
            var secrets = new StorageConnectionSpec { AccessKeyId = spec.AccessKeyId, SecretAccessKey = spec.SecretAccessKey };
            sealedSecrets = _secrets.Seal(JsonSerializer.Serialize(secrets, ExportJsonContext.Default.StorageConnectionSpec), "storage:" + spec.Name);
        }

        lock (_lock)
        {
            if (_connection.QueryStrings($"SELECT count(*) FROM storage_connections WHERE name = {Names.QuoteLiteral(spec.Name!)}")[0][0] != "0")
            {
                return false;
            }

            _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                $"INSERT INTO storage_connections VALUES ({Names.QuoteLiteral(spec.Name!)}, " +
                $"{Names.QuoteLiteral(JsonSerializer.Serialize(publicSpec, ExportJsonContext.Default.StorageConnectionSpec))}, " +
                $"{Literal(sealedSecrets)}, {Micros(connection.CreatedAt)})"));
            return true;
        }
    }

    public bool DeleteConnection(string name)
    {
        lock (_lock)
        {
            var exists = _connection.QueryStrings($"SELECT count(*) FROM storage_connections WHERE name = {Names.QuoteLiteral(name)}")[0][0] != "0";
            if (exists)
            {
                _connection.Execute($"DELETE FROM storage_connections WHERE name = {Names.QuoteLiteral(name)}");
            }

            return exists;
        }
    }

    /// <summary>Writes DuckDB's log into the database file (tests read the file to check no secret is in it).</summary>
    public void Checkpoint()
    {
        lock (_lock)
        {
            _connection.Execute("CHECKPOINT");
        }
    }

    /// <summary>The target without secrets, and the secrets alone (null when there are none).</summary>
    internal static (ExportTargetSpec Public, ExportTargetSpec? Secrets) Split(ExportTargetSpec target)
    {
        var publicSpec = target with
        {
            Password = null,
            Token = null,
            ConnectionString = null,
            Headers = target.Headers?.ToDictionary(h => h.Key, _ => "", StringComparer.OrdinalIgnoreCase),
        };
        var hasSecrets = target.Password is not null || target.Token is not null || target.ConnectionString is not null || target.Headers is { Count: > 0 };
        return (publicSpec, hasSecrets
            ? new ExportTargetSpec { Password = target.Password, Token = target.Token, ConnectionString = target.ConnectionString, Headers = target.Headers }
            : null);
    }

    private static ExportTargetSpec WithSecrets(ExportTargetSpec target, ExportTargetSpec secrets) => target with
    {
        Password = secrets.Password,
        Token = secrets.Token,
        ConnectionString = secrets.ConnectionString,
        Headers = secrets.Headers ?? target.Headers,
    };

    private static string Bool(bool value) => value ? "true" : "false";

    private static string Literal(string? value) => value is null ? "NULL" : Names.QuoteLiteral(value);

    private static string Micros(DateTime? value) =>
        value is null ? "NULL" : ((value.Value - DateTime.UnixEpoch).Ticks / 10).ToString(CultureInfo.InvariantCulture);

    private static DateTime? FromMicros(string? micros) =>
        micros is null ? null : DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(long.Parse(micros, CultureInfo.InvariantCulture) * 10), DateTimeKind.Utc);

    public void Dispose()
    {
        _connection.Dispose();
        _database.Dispose();
    }
}

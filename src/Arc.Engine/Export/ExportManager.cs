using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Arc.Engine.DuckDb;
using Arc.Engine.Export.Targets;
using Arc.Engine.Query;
using Arc.Engine.Scheduling;
using Arc.Engine.Storage;
using Cronos;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Arc.Engine.Export;

/// <summary>
/// Export jobs: validation, scheduling (cron or one-shot), and runs. A run reads batches of rows after the job's
/// high-water mark (time, then a tie-breaker key among rows of equal time) up to a horizon (now minus the job's minimum
/// age), writes each batch to the target, and advances and persists the mark only once the target acknowledged the
/// batch. A crash therefore re-sends at most the unacknowledged batch, which the targets absorb (InfluxDB overwrites the
/// same series and time, PostgreSQL upserts, HTTP JSON carries a stable batch id). Transient failures (5xx, timeouts,
/// connection errors) are retried with exponential backoff; permanent ones (4xx, bad credentials, schema conflicts) stop
/// the job until it is resumed or run by hand, and are shown on it.
/// </summary>
public sealed partial class ExportManager : IAsyncDisposable
{
    private const int DefaultBatchSize = 5000;
    private const int MaxBatchSize = 1_000_000;
    private readonly QueryEngine _query;
    private readonly ExportOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ExportStore _store;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _slots;
    private readonly SchedulerWake _wake;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, JobState> _jobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StorageConnectionRecord> _connections = new(StringComparer.Ordinal);
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    private sealed class JobState(ExportJobRecord record, CronExpression? cron)
    {
        public ExportJobRecord Record { get; } = record;

        public CronExpression? Cron { get; } = cron;

        public DateTime? NextRun { get; set; }

        public Task? Run { get; set; }

        public CancellationTokenSource? RunCancellation { get; set; }

        public bool Deleted { get; set; }
    }

    public ExportManager(QueryEngine query, ExportOptions options, TimeProvider time, ILogger logger)
    {
        _query = query;
        _time = time;
        _wake = new SchedulerWake(time);
        _options = options;
        _logger = logger;
        _slots = new SemaphoreSlim(Math.Max(1, options.MaxConcurrent));
        _store = new ExportStore(options.DbPath);
        _http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = options.RequestTimeout,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        var now = Now;
        foreach (var record in _store.LoadJobs())
        {
            var job = new JobState(record, string.IsNullOrEmpty(record.Spec.Schedule) ? null : ParseCron(record.Spec.Schedule));
            // One-shot jobs that had not finished resume at once, from their mark: a restart leaves no gap.
            job.NextRun = job.Cron is { } cron ? cron.GetNextOccurrence(now) : record.Completed ? null : now;
            _jobs[record.Id] = job;
        }

        foreach (var connection in _store.LoadConnections())
        {
            _connections[connection.Spec.Name!] = connection;
        }
    }

    /// <summary>Starts the scheduler.</summary>
    public void Start() => _loop = Task.Run(SchedulerLoop);

    /// <summary>The engine's clock: schedules, run times, lag and the age horizon of exported rows.</summary>
    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    public IReadOnlyList<ExportJobView> List()
    {
        lock (_lock)
        {
            return _jobs.Values.OrderBy(j => j.Record.CreatedAt).ThenBy(j => j.Record.Id, StringComparer.Ordinal).Select(View).ToList();
        }
    }

    public ExportJobView? Get(string id)
    {
        lock (_lock)
        {
            return _jobs.TryGetValue(id, out var job) ? View(job) : null;
        }
    }

    /// <summary>Validates and stores a job; throws <see cref="ExportValidationException"/> with the reason.</summary>
    public async Task<ExportJobView> CreateAsync(ExportJobSpec spec, CancellationToken cancellationToken)
    {
        var (normalized, cron) = await ValidateAsync(spec, cancellationToken).ConfigureAwait(false);
        var record = new ExportJobRecord
        {
            Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            Spec = normalized,
            CreatedAt = Now,
            Paused = normalized.Paused ?? false,
        };
        _store.InsertJob(record);
        var job = new JobState(record, cron) { NextRun = cron?.GetNextOccurrence(Now) ?? Now };
        lock (_lock)
        {
            _jobs[record.Id] = job;
        }

        _wake.Wake();
        _logger.LogInformation("Export job {Id} ({Name}) created: {Type} target, {Schedule}", record.Id, normalized.Name, normalized.Target!.Type,
            normalized.Schedule ?? "one-shot");
        return Get(record.Id)!;
    }

    /// <summary>Deletes a job, stopping its run; false when there is no such job.</summary>
    public async Task<bool> DeleteAsync(string id)
    {
        Task? run;
        CancellationTokenSource? cancellation;
        lock (_lock)
        {
            if (!_jobs.Remove(id, out var job))
            {
                return false;
            }

            job.Deleted = true;
            cancellation = job.RunCancellation;
            run = job.Run;
            _store.DeleteJob(id);
        }

        Cancel(cancellation);
        if (run is not null)
        {
            await run.ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Pauses a job (its run stops after the batch in flight, which is re-sent on resume if it was not acknowledged).</summary>
    public ExportJobView? Pause(string id)
    {
        CancellationTokenSource? cancellation;
        lock (_lock)
        {
            if (!_jobs.TryGetValue(id, out var job))
            {
                return null;
            }

            job.Record.Paused = true;
            cancellation = job.RunCancellation;
            _store.SaveState(job.Record);
        }

        Cancel(cancellation);
        return Get(id);
    }

    private static void Cancel(CancellationTokenSource? cancellation)
    {
        try
        {
            cancellation?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run ended meanwhile.
        }
    }

    /// <summary>Resumes a paused or failed job: a one-shot job runs at once, a scheduled one at its next time.</summary>
    public ExportJobView? Resume(string id)
    {
        lock (_lock)
        {
            if (!_jobs.TryGetValue(id, out var job))
            {
                return null;
            }

            job.Record.Paused = false;
            job.Record.Failed = false;
            job.NextRun = job.Cron is { } cron ? cron.GetNextOccurrence(Now) : job.Record.Completed ? null : Now;
            _store.SaveState(job.Record);
            _wake.Wake();
            return View(job);
        }
    }

    /// <summary>Starts a run now (also of a paused, failed or completed job); null when there is no such job.</summary>
    public ExportJobView? RunNow(string id)
    {
        lock (_lock)
        {
            if (!_jobs.TryGetValue(id, out var job))
            {
                return null;
            }

            if (job.Run is null)
            {
                job.Record.Failed = false;
                job.Record.Completed = false;
                StartRun(job);
            }

            return View(job);
        }
    }

    private Task SchedulerLoop() => _wake.RunAsync(_ =>
    {
        lock (_lock)
        {
            var now = Now;
            foreach (var job in _jobs.Values)
            {
                if (job.Run is null && !job.Record.Paused && !job.Record.Failed && job.NextRun <= now)
                {
                    StartRun(job);
                }
            }
        }

        return Task.CompletedTask;
    }, _stopping.Token);

    /// <summary>Under <see cref="_lock"/>.</summary>
    private void StartRun(JobState job)
    {
        var cancellation = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        job.RunCancellation = cancellation;
        job.NextRun = null;
        job.Run = Task.Run(() => RunAsync(job, cancellation.Token));
    }

    private async Task RunAsync(JobState job, CancellationToken cancellationToken)
    {
        var record = job.Record;
        var spec = record.Spec;
        var acquired = false;
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            acquired = true;
            lock (_lock)
            {
                record.LastRunStarted = Now;
                record.LastRunFinished = null;
                record.LastRunRows = 0;
                record.LastRunBatches = 0;
                record.LastRunError = null;
                Save(job);
            }

            var horizon = (Now - DateTime.UnixEpoch).Ticks * 100 - (long)TimeSpan.FromSeconds(spec.MinAgeSeconds!.Value).TotalNanoseconds;
            await using var target = CreateTarget(record);
            ExportSchema? prepared = null;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var schema = await _query.ExportSchemaAsync(spec.Source!.Database!, spec.Source.Measurement!, cancellationToken).ConfigureAwait(false);
                if (schema is null)
                {
                    break; // nothing written to the measurement yet
                }

                if (prepared?.Signature != schema.Signature)
                {
                    await RetryAsync(job, () => target.PrepareAsync(schema, cancellationToken), cancellationToken).ConfigureAwait(false);
                    prepared = schema;
                }

                // The key is computed over the current columns: after a schema change, rows at the mark's time are compared
                // with keys of another shape, so restart at that time (those rows are sent again; the targets absorb them).
                var afterKey = record.HwmColumns == schema.Signature ? record.HwmKey : "";
                var batch = await _query.ReadExportBatchAsync(schema, spec.Source.Filter, record.HwmTime, afterKey, horizon, spec.BatchSize!.Value,
                    cancellationToken).ConfigureAwait(false);
                if (batch.Count == 0)
                {
                    break;
                }

                await RetryAsync(job, () => target.WriteAsync(batch, cancellationToken), cancellationToken).ConfigureAwait(false);
                lock (_lock)
                {
                    // Acknowledged: only now does the mark move (and is persisted before the next batch is read).
                    record.HwmTime = batch.LastTime;
                    record.HwmKey = batch.LastKey;
                    record.HwmColumns = schema.Signature;
                    record.RowsSent += batch.Count;
                    record.BatchesSent++;
                    record.LastRunRows += batch.Count;
                    record.LastRunBatches++;
                    Save(job);
                }
            }

            lock (_lock)
            {
                record.LastRunFinished = Now;
                record.Completed = job.Cron is null;
                Save(job);
            }

            if (record.LastRunRows > 0)
            {
                _logger.LogInformation("Export job {Id}: sent {Rows} rows in {Batches} batches", record.Id, record.LastRunRows, record.LastRunBatches);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            lock (_lock)
            {
                record.LastRunFinished = Now;
                record.LastRunError = job.Record.Paused ? "paused" : "stopped";
                Save(job);
            }
        }
        catch (Exception e)
        {
            var permanent = e switch
            {
                ExportTargetException target => target.Permanent,
                QueryRejectedException or DuckDbException => true, // the filter or the data cannot be read as configured
                _ => false,
            };
            lock (_lock)
            {
                record.LastRunFinished = Now;
                record.LastRunError = e.Message;
                record.LastError = e.Message;
                record.LastErrorAt = Now;
                record.Failed = permanent;
                Save(job);
            }

            _logger.LogWarning("Export job {Id} ({Name}) failed{Permanent}: {Error}", record.Id, spec.Name,
                permanent ? " (permanent: paused until resumed)" : "", e.Message);
        }
        finally
        {
            if (acquired)
            {
                _slots.Release();
            }

            lock (_lock)
            {
                job.Run = null;
                job.RunCancellation?.Dispose();
                job.RunCancellation = null;
                var now = Now;
                job.NextRun = job.Cron is { } cron ? cron.GetNextOccurrence(now)
                    : record.Completed || record.Failed ? null
                    : record.LastRunError is "paused" or "stopped" ? now
                    : now + _options.OneShotRetryDelay;
            }

            _wake.Wake();
        }
    }

    /// <summary>Runs <paramref name="action"/>, retrying transient target failures with exponential backoff.</summary>
    private async Task RetryAsync(JobState job, Func<Task> action, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await action().ConfigureAwait(false);
                return;
            }
            catch (ExportTargetException e) when (!e.Permanent && attempt < _options.MaxRetries)
            {
                var delay = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(30).Ticks, _options.RetryBackoff.Ticks << Math.Min(attempt, 20)));
                _logger.LogWarning("Export job {Id}: {Error}; retry {Attempt} of {Max} in {Delay} ms", job.Record.Id, e.Message, attempt + 1,
                    _options.MaxRetries, (long)delay.TotalMilliseconds);
                lock (_lock)
                {
                    job.Record.LastError = e.Message;
                    job.Record.LastErrorAt = Now;
                }

                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Under <see cref="_lock"/>: persists the job unless it was deleted meanwhile.</summary>
    private void Save(JobState job)
    {
        if (!job.Deleted)
        {
            _store.SaveState(job.Record);
        }
    }

    private IExportTarget CreateTarget(ExportJobRecord record)
    {
        var target = record.Spec.Target!;
        var measurement = record.Spec.Source!.Measurement!;
        return target.Type switch
        {
            "influx1x" => new InfluxTarget(_http, target, v2: false, target.Measurement ?? measurement, _options.RequestTimeout),
            "influx2x" => new InfluxTarget(_http, target, v2: true, target.Measurement ?? measurement, _options.RequestTimeout),
            "timescale" => new PostgresTarget(target, measurement, _options.RequestTimeout),
            "parquet" => new ParquetTarget(ResolveConnection(target.Connection!)
                ?? throw new ExportTargetException($"storage connection '{target.Connection}' does not exist", permanent: true),
                record.Id, target.Measurement ?? measurement, _options.RequestTimeout),
            _ => new HttpJsonTarget(_http, target, record.Id, _options.RequestTimeout),
        };
    }

    /// <summary>Under <see cref="_lock"/>.</summary>
    private ExportJobView View(JobState job)
    {
        var record = job.Record;
        var spec = record.Spec;
        var target = spec.Target!;
        var status = job.Run is not null ? "running"
            : record.Paused ? "paused"
            : record.Failed ? "failed"
            : record.Completed ? "completed"
            : record.LastRunError is { } error && error is not ("stopped" or "paused") ? "error"
            : job.Cron is null ? "pending" : "scheduled";
        var mark = record.HwmTime is { } t
            ? new ExportHighWaterMark(DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(t / 100), DateTimeKind.Utc), t, record.HwmKey ?? "")
            : null;
        return new ExportJobView(record.Id, spec.Name!, spec.Source!,
            new ExportTargetView(target.Type!, target.Url, target.Database, target.RetentionPolicy, target.Username, target.Org, target.Bucket,
                target.Measurement, target.Gzip, target.Schema, target.Table, RedactConnectionString(target.ConnectionString),
                target.Password is not null, target.Token is not null, target.Headers?.Keys.Order(StringComparer.OrdinalIgnoreCase).ToList(),
                target.Connection),
            spec.Schedule, spec.BatchSize!.Value, spec.MinAgeSeconds!.Value, status, record.Paused, job.Run is not null, record.CreatedAt,
            job.Run is null && !record.Paused && !record.Failed ? job.NextRun : null,
            record.RowsSent, record.BatchesSent, mark,
            mark is null ? null : Math.Round((Now - mark.Time).TotalSeconds, 3),
            record.LastRunStarted is { } started
                ? new ExportRunView(started, record.LastRunFinished, record.LastRunRows, record.LastRunBatches, record.LastRunError)
                : null,
            record.LastError, record.LastErrorAt, record.Failed);
    }

    /// <summary>The connection string without its password (shown by GET).</summary>
    internal static string? RedactConnectionString(string? connectionString) => connectionString is null
        ? null
        : string.Join(';', connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(part => part.Split('=', 2)[0].Trim().ToLowerInvariant() is not ("password" or "pwd" or "passfile" or "ssl password")));

    private async Task<(ExportJobSpec Spec, CronExpression? Cron)> ValidateAsync(ExportJobSpec spec, CancellationToken cancellationToken)
    {
        var name = spec.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 128)
        {
            throw new ExportValidationException("name is required (at most 128 characters)");
        }

        var source = spec.Source ?? throw new ExportValidationException("source is required: {\"database\": …, \"measurement\": …}");
        if (Names.ValidateDatabase(source.Database) is { } badDatabase)
        {
            throw new ExportValidationException("source.database: " + badDatabase);
        }

        if (source.Measurement is null || !Names.IsValidMeasurement(source.Measurement))
        {
            throw new ExportValidationException($"source.measurement: invalid measurement name '{source.Measurement}'");
        }

        var filter = string.IsNullOrWhiteSpace(source.Filter) ? null : source.Filter.Trim();
        if (filter is not null)
        {
            try
            {
                await _query.ValidateExportFilterAsync(filter, cancellationToken).ConfigureAwait(false);
            }
            catch (QueryRejectedException e)
            {
                throw new ExportValidationException("source.filter: " + e.Message);
            }
        }

        CronExpression? cron = null;
        var schedule = string.IsNullOrWhiteSpace(spec.Schedule) ? null : spec.Schedule.Trim();
        if (schedule is not null)
        {
            try
            {
                cron = ParseCron(schedule);
            }
            catch (CronFormatException e)
            {
                throw new ExportValidationException($"schedule: invalid cron expression \"{schedule}\": {e.Message}");
            }
        }

        if (spec.BatchSize is < 1 or > MaxBatchSize)
        {
            throw new ExportValidationException($"batch_size must be from 1 to {MaxBatchSize}");
        }

        if (spec.MinAgeSeconds is < 0 or > 31_536_000)
        {
            throw new ExportValidationException("min_age_seconds must be from 0 to 31536000");
        }

        var target = ValidateTarget(spec.Target ?? throw new ExportValidationException("target is required: {\"type\": …}"));
        if (target.Type == "parquet" && ResolveConnection(target.Connection!) is null)
        {
            throw new ExportValidationException($"target.connection: no storage connection named '{target.Connection}'");
        }

        return (new ExportJobSpec
        {
            Name = name,
            Source = new ExportSourceSpec { Database = source.Database, Measurement = source.Measurement, Filter = filter },
            Target = target,
            Schedule = schedule,
            BatchSize = spec.BatchSize ?? DefaultBatchSize,
            MinAgeSeconds = spec.MinAgeSeconds ?? (int)_options.DefaultMinAge.TotalSeconds,
            Paused = spec.Paused ?? false,
        }, cron);
    }

    private static ExportTargetSpec ValidateTarget(ExportTargetSpec target)
    {
        var type = target.Type?.Trim().ToLowerInvariant() switch
        {
            "influx1x" or "influxdb1" or "influxdb" or "influx" => "influx1x",
            "influx2x" or "influxdb2" => "influx2x",
            "timescale" or "timescaledb" or "postgres" or "postgresql" => "timescale",
            "http_json" or "http" or "json" => "http_json",
            "parquet" => "parquet",
            _ => throw new ExportValidationException($"target.type must be influx1x, influx2x, timescale, http_json or parquet, got '{target.Type}'"),
        };
        if (type is not ("timescale" or "parquet"))
        {
            if (!Uri.TryCreate(target.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                throw new ExportValidationException($"target.url must be an absolute http(s) URL, got '{target.Url}'");
            }
        }

        switch (type)
        {
            case "influx1x" when string.IsNullOrWhiteSpace(target.Database):
                throw new ExportValidationException("target.database is required for influx1x");
            case "influx2x" when string.IsNullOrWhiteSpace(target.Bucket):
                throw new ExportValidationException("target.bucket is required for influx2x");
            case "parquet" when string.IsNullOrWhiteSpace(target.Connection):
                throw new ExportValidationException("target.connection is required for parquet: the name of a storage connection (/api/v1/connections/storage)");
            case "timescale":
                if (string.IsNullOrWhiteSpace(target.ConnectionString))
                {
                    throw new ExportValidationException("target.connection_string is required for timescale (Host=…;Port=…;Database=…;Username=…;Password=…)");
                }

                try
                {
                    _ = new NpgsqlConnectionStringBuilder(target.ConnectionString);
                }
                catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
                {
                    throw new ExportValidationException("target.connection_string: " + e.Message);
                }

                break;
        }

        foreach (var (label, value) in new[] { ("schema", target.Schema), ("table", target.Table) })
        {
            if (value is not null && (value.Length is 0 or > 63))
            {
                throw new ExportValidationException($"target.{label} must have 1 to 63 characters");
            }
        }

        if (target.Measurement is { } measurement && !Names.IsValidMeasurement(measurement))
        {
            throw new ExportValidationException($"target.measurement: invalid measurement name '{measurement}'");
        }

        if (target.Headers is { } headers && headers.Keys.FirstOrDefault(h => !HeaderName().IsMatch(h)) is { } badHeader)
        {
            throw new ExportValidationException($"target.headers: invalid header name '{badHeader}'");
        }

        return target with { Type = type };
    }

    private static CronExpression ParseCron(string schedule) =>
        CronExpression.Parse(schedule, schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);

    [GeneratedRegex("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")]
    private static partial Regex HeaderName();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex ConnectionName();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        Task[] runs;
        lock (_lock)
        {
            runs = _jobs.Values.Select(j => j.Run).OfType<Task>().ToArray();
        }

        await Task.WhenAll(runs).ConfigureAwait(false);
        _http.Dispose();
        _store.Dispose();
        _stopping.Dispose();
    }
}

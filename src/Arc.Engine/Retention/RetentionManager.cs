using System.Globalization;
using System.Text.Json;
using Arc.Engine.Errors;
using Arc.Engine.Storage;
using Cronos;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Retention;

/// <summary>
/// Retention policies: Arc's CRUD over them, their runs (on request and on <see cref="RetentionOptions.Schedule"/>) and
/// each run's record. A run computes the cutoff (now − <c>retention_days</c> − <c>buffer_days</c>, on the engine's clock)
/// and hands the removal to the engine, which removes every file whose rows are all older. Runs never overlap. The
/// policies and the history live in one small JSON file rewritten atomically on every change, so a crash leaves the old
/// or the new state; a run that was under way when the process died is recorded as failed at the next start (the
/// engine finished its removals before that).
/// </summary>
public sealed class RetentionManager : IAsyncDisposable
{
    /// <summary>Most policies the server keeps.</summary>
    public const int MaxPolicies = 1000;

    /// <summary>Runs kept per policy in the history (the oldest are forgotten).</summary>
    public const int HistoryPerPolicy = 100;

    /// <summary>Most files a run's answer names (the counts cover them all).</summary>
    public const int MaxListedFiles = 1000;

    private const int MaxNameLength = 256;
    private const int MaxDays = 36_500;

    private readonly RetentionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<string, string?, DateTimeOffset, bool, CancellationToken, Task<RetentionSweep>> _expire;
    private readonly CronExpression? _schedule;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _running = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private RetentionState _state;
    private Task _loop = Task.CompletedTask;
    private long _scheduledRuns;
    private int _disposed;

    /// <param name="expire">Removes what a policy's target holds before the cutoff (database, measurement or null for all,
    /// cutoff, dry run); the engine's removal.</param>
    internal RetentionManager(RetentionOptions options, TimeProvider time, ILogger logger,
        Func<string, string?, DateTimeOffset, bool, CancellationToken, Task<RetentionSweep>> expire)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _expire = expire;
        _schedule = string.IsNullOrWhiteSpace(options.Schedule) ? null : CronExpression.Parse(options.Schedule);
        _state = File.Exists(options.DbPath)
            ? JsonSerializer.Deserialize(File.ReadAllBytes(options.DbPath), RetentionStateJsonContext.Default.RetentionState)
              ?? throw new InvalidDataException($"{options.DbPath} holds no retention state")
            : new RetentionState(1, 1, [], []);
        var interrupted = _state.Executions.Where(e => e.Status == Running).ToList();
        if (interrupted.Count > 0)
        {
            foreach (var run in interrupted)
            {
                Replace(run, run with
                {
                    Status = Failed,
                    ErrorMessage = "the server stopped during the run; the files it had chosen were removed at the next start",
                });
            }

            Save();
        }
    }

    private const string Running = "running";
    private const string Completed = "completed";
    private const string Failed = "failed";

    /// <summary>Validates a cron expression for <see cref="RetentionOptions.Schedule"/> (<see cref="CronFormatException"/>).</summary>
    public static void ValidateSchedule(string expression) => CronExpression.Parse(expression);

    /// <summary>Scheduled passes over the active policies that finished since the start (tests wait on it).</summary>
    public long ScheduledRuns => Interlocked.Read(ref _scheduledRuns);

    /// <summary>Starts the schedule (nothing runs before, so the host is up first).</summary>
    public void Start()
    {
        if (_schedule is not null)
        {
            _loop = ScheduleLoop(_schedule);
        }
    }

    /// <summary>Every policy, newest first (as Arc lists them).</summary>
    public IReadOnlyList<RetentionPolicy> List()
    {
        lock (_lock)
        {
            return _state.Policies.OrderByDescending(p => p.Id).Select(View).ToList();
        }
    }

    public RetentionPolicy? Get(long id)
    {
        lock (_lock)
        {
            return _state.Policies.FirstOrDefault(p => p.Id == id) is { } policy ? View(policy) : null;
        }
    }

    /// <summary>Creates a policy; <see cref="ErrorReason.Invalid"/> naming the field that is wrong or missing.</summary>
    public RetentionPolicy Create(RetentionPolicyRequest request)
    {
        lock (_lock)
        {
            if (_state.Policies.Count >= MaxPolicies)
            {
                throw new RetentionException(ErrorReason.TooLarge, $"at most {MaxPolicies} retention policies; delete one first");
            }

            var now = Stamp(_time.GetUtcNow());
            var policy = Validate(new StoredPolicy(_state.NextPolicyId, request.Name ?? "", request.Database ?? "",
                string.IsNullOrEmpty(request.Measurement) ? null : request.Measurement,
                request.RetentionDays ?? 0, request.BufferDays ?? 7, request.IsActive ?? true, now, now), request.RetentionDays is null);
            _state.Policies.Add(policy);
            _state = _state with { NextPolicyId = policy.Id + 1 };
            Save();
            _logger.LogInformation("Created retention policy {Id} ({Name}) on {Database}", policy.Id, policy.Name, policy.Database);
            return View(policy);
        }
    }

    /// <summary>Changes the fields the request gives; null if no such policy.</summary>
    public RetentionPolicy? Update(long id, RetentionPolicyRequest request)
    {
        lock (_lock)
        {
            if (_state.Policies.FirstOrDefault(p => p.Id == id) is not { } current)
            {
                return null;
            }

            var policy = Validate(current with
            {
                Name = request.Name ?? current.Name,
                Database = request.Database ?? current.Database,
                Measurement = request.Measurement is null ? current.Measurement : request.Measurement.Length == 0 ? null : request.Measurement,
                RetentionDays = request.RetentionDays ?? current.RetentionDays,
                BufferDays = request.BufferDays ?? current.BufferDays,
                IsActive = request.IsActive ?? current.IsActive,
                UpdatedAt = Stamp(_time.GetUtcNow()),
            }, retentionDaysMissing: false);
            _state.Policies[_state.Policies.IndexOf(current)] = policy;
            Save();
            return View(policy);
        }
    }

    /// <summary>Deletes a policy and its history; false if no such policy.</summary>
    public bool Delete(long id)
    {
        lock (_lock)
        {
            if (_state.Policies.RemoveAll(p => p.Id == id) == 0)
            {
                return false;
            }

            _state.Executions.RemoveAll(e => e.PolicyId == id);
            Save();
            return true;
        }
    }

    /// <summary>A policy's recorded runs, newest first; <see cref="ErrorReason.NotFound"/> for an unknown policy.</summary>
    public RetentionExecutionList Executions(long id, int limit)
    {
        if (limit is < 1 or > HistoryPerPolicy * 10)
        {
            throw new RetentionException(ErrorReason.Invalid, $"limit must be between 1 and {HistoryPerPolicy * 10}");
        }

        lock (_lock)
        {
            if (_state.Policies.All(p => p.Id != id))
            {
                throw NotFound();
            }

            return new RetentionExecutionList(id, _state.Executions.Where(e => e.PolicyId == id).OrderByDescending(e => e.Id).Take(limit).ToList());
        }
    }

    /// <summary>
    /// Runs a policy now, as Arc's <c>execute</c>: a run that removes files needs <c>confirm</c>; a dry run lists what would
    /// go and is not recorded. <see cref="ErrorReason.NotFound"/> for an unknown policy, <see cref="ErrorReason.Invalid"/>
    /// for an inactive one.
    /// </summary>
    public Task<ExecuteRetentionResponse> ExecuteAsync(long id, ExecuteRetentionRequest request, CancellationToken cancellationToken)
    {
        if (!request.DryRun && !request.Confirm)
        {
            throw new RetentionException(ErrorReason.Invalid, "Confirmation required for retention policy execution. Set confirm=true");
        }

        var policy = Get(id) ?? throw NotFound();
        if (!policy.IsActive)
        {
            throw new RetentionException(ErrorReason.Invalid, "Retention policy is not active");
        }

        return RunAsync(policy, request.DryRun, "manual", cancellationToken);
    }

    /// <summary>Runs every active policy once (what the schedule does), one after another; a failing one does not stop the rest.</summary>
    public async Task RunActiveAsync(CancellationToken cancellationToken)
    {
        foreach (var policy in List().Where(p => p.IsActive).OrderBy(p => p.Id))
        {
            try
            {
                await RunAsync(policy, dryRun: false, "scheduled", cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _logger.LogError(e, "Scheduled retention of policy {Id} ({Name}) failed", policy.Id, policy.Name);
            }
        }
    }

    private async Task<ExecuteRetentionResponse> RunAsync(RetentionPolicy policy, bool dryRun, string trigger, CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var started = _time.GetTimestamp();
            var now = _time.GetUtcNow();
            var cutoff = now.AddDays(-(policy.RetentionDays + policy.BufferDays));
            RetentionExecution? record = null;
            if (!dryRun)
            {
                lock (_lock)
                {
                    record = new RetentionExecution(_state.NextExecutionId, policy.Id, Stamp(now), Running, 0, Stamp(cutoff), 0, null, null, trigger, 0, 0);
                    _state = _state with { NextExecutionId = record.Id + 1 };
                    _state.Executions.Add(record);
                    Trim(policy.Id);
                    Save();
                }
            }

            RetentionSweep sweep;
            try
            {
                sweep = await _expire(policy.Database, policy.Measurement, cutoff, dryRun, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (record is not null)
            {
                Finish(record with { Status = Failed, ErrorMessage = e.Message }, started);
                throw;
            }

            var elapsed = _time.GetElapsedTime(started).TotalMilliseconds;
            if (record is not null)
            {
                Finish(record with { Status = Completed, DeletedCount = sweep.Rows, FilesDeleted = sweep.Files.Count, BytesDeleted = sweep.Bytes }, started);
                _logger.LogInformation("Retention policy {Id} ({Name}): {Files} files ({Bytes} bytes, {Rows} rows) older than {Cutoff} removed",
                    policy.Id, policy.Name, sweep.Files.Count, sweep.Bytes, sweep.Rows, Stamp(cutoff));
            }

            return new ExecuteRetentionResponse(policy.Id, policy.Name, sweep.Rows, sweep.Files.Count, elapsed, dryRun, Stamp(cutoff), sweep.Measurements,
                sweep.Bytes, sweep.Files.Take(MaxListedFiles).ToList(), sweep.Partial, sweep.Deferred);
        }
        finally
        {
            _running.Release();
        }
    }

    private void Finish(RetentionExecution record, long started)
    {
        lock (_lock)
        {
            Replace(record, record with
            {
                FinishedAt = Stamp(_time.GetUtcNow()),
                ExecutionDurationMs = _time.GetElapsedTime(started).TotalMilliseconds,
            });
            Save();
        }
    }

    /// <summary>Replaces the record with the same id (if its policy was deleted meanwhile, nothing is kept).</summary>
    private void Replace(RetentionExecution old, RetentionExecution updated)
    {
        var index = _state.Executions.FindIndex(e => e.Id == old.Id);
        if (index >= 0)
        {
            _state.Executions[index] = updated;
        }
    }

    private void Trim(long policyId)
    {
        var runs = _state.Executions.Where(e => e.PolicyId == policyId).OrderByDescending(e => e.Id).Skip(HistoryPerPolicy).Select(e => e.Id).ToHashSet();
        _state.Executions.RemoveAll(e => runs.Contains(e.Id));
    }

    private StoredPolicy Validate(StoredPolicy policy, bool retentionDaysMissing)
    {
        string? error = null;
        if (policy.Name.Length == 0)
        {
            error = "name is required";
        }
        else if (policy.Name.Length > MaxNameLength)
        {
            error = $"name is longer than {MaxNameLength} characters";
        }
        else if (policy.Database.Length == 0)
        {
            error = "database is required";
        }
        else if (Names.ValidateDatabase(policy.Database) is { } invalid)
        {
            error = invalid;
        }
        else if (policy.Measurement is { } measurement && !Names.IsValidMeasurement(measurement))
        {
            error = $"invalid measurement name '{measurement}'";
        }
        else if (retentionDaysMissing || policy.RetentionDays <= 0)
        {
            error = "retention_days must be greater than 0";
        }
        else if (policy.RetentionDays > MaxDays || policy.BufferDays > MaxDays)
        {
            error = $"retention_days and buffer_days must be at most {MaxDays}";
        }
        else if (policy.BufferDays < 0)
        {
            error = "buffer_days must not be negative";
        }
        else if (policy.RetentionDays <= policy.BufferDays)
        {
            error = "retention_days must be greater than buffer_days";
        }
        else if (_state.Policies.Any(p => p.Id != policy.Id && p.Name == policy.Name))
        {
            error = $"Retention policy with name '{policy.Name}' already exists";
        }

        return error is null ? policy : throw new RetentionException(ErrorReason.Invalid, error);
    }

    private RetentionPolicy View(StoredPolicy policy)
    {
        var last = _state.Executions.Where(e => e.PolicyId == policy.Id).MaxBy(e => e.Id);
        return new RetentionPolicy(policy.Id, policy.Name, policy.Database, policy.Measurement, policy.RetentionDays, policy.BufferDays, policy.IsActive,
            last?.ExecutionTime, last?.Status, last?.DeletedCount, policy.CreatedAt, policy.UpdatedAt);
    }

    private void Save() => Durability.WriteFile(_options.DbPath, JsonSerializer.SerializeToUtf8Bytes(_state, RetentionStateJsonContext.Default.RetentionState));

    private static string Stamp(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static RetentionException NotFound() => new(ErrorReason.NotFound, "Retention policy not found");

    private async Task ScheduleLoop(CronExpression schedule)
    {
        while (!_stopping.IsCancellationRequested)
        {
            var next = schedule.GetNextOccurrence(_time.GetUtcNow().UtcDateTime);
            if (next is null)
            {
                return;
            }

            try
            {
                var wait = next.Value - _time.GetUtcNow().UtcDateTime;
                await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, _time, _stopping.Token).ConfigureAwait(false);
                await RunActiveAsync(_stopping.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _scheduledRuns);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Stops the schedule and waits for a run under way (its removal is never abandoned halfway). Idempotent: the host's container disposes it too.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await _running.WaitAsync().ConfigureAwait(false);
        _running.Dispose();
        _stopping.Dispose();
    }
}

using System.Globalization;
using System.Text.Json;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.ContinuousQueries;

/// <summary>A continuous query as the manager keeps it in memory (the store is its durable copy).</summary>
internal sealed class ContinuousQueryRecord
{
    public required long Id { get; init; }

    /// <summary>The validated definition: every property set except the optional ones.</summary>
    public required ContinuousQueryRequest Spec { get; set; }

    public required DateTime CreatedAt { get; init; }

    public DateTime UpdatedAt { get; set; }

    /// <summary>
    /// The end of the last scheduled window that was written ("done up to"); the next scheduled window starts here. A hint
    /// for where to resume, not what makes a window's output exactly-once (the run's check of the destination does).
    /// </summary>
    public DateTime? Mark { get; set; }

    /// <summary>
    /// Where <c>delete_source_after_days</c> removed the source up to (a window start): windows before it are not
    /// recomputed, their source rows being gone. Saved before the removal starts.
    /// </summary>
    public DateTime? SourceRemovedBefore { get; set; }
}

/// <summary>
/// One row of <c>cq_executions</c>, before it has an id. <paramref name="Kind"/>: <c>scheduled</c>, <c>manual</c>,
/// <c>recompute</c> (a window that received late writes), <c>retention</c> or <c>delete_source</c>;
/// <paramref name="RecordsDeleted"/>: the rows a recompute replaced or a removal removed.
/// </summary>
internal sealed record ExecutionRecord(long QueryId, string ExecutionId, DateTime ExecutedAt, string Status, DateTime Start, DateTime End,
    long? RecordsRead, long RecordsWritten, double DurationSeconds, string? Error, string Kind, long? RecordsDeleted);

/// <summary>
/// The continuous-query store: an embedded DuckDB file (<c>continuous_query.db_path</c>) holding definitions, their
/// marks and the run history. Every change is one autocommitted statement, so a crash leaves the old or the new state.
/// </summary>
internal sealed class ContinuousQueryStore : IDisposable
{
    /// <summary>Runs kept per query: older history is removed as new runs are recorded.</summary>
    internal const int MaxExecutionsPerQuery = 1000;

    private readonly DuckDbDatabase _database;
    private readonly DuckDbConnection _connection;
    private readonly Lock _lock = new();

    public ContinuousQueryStore(string path)
    {
        var full = Path.GetFullPath(path);
        (_database, _connection) = MetadataFile.Open(full, connection =>
        {
            connection.Execute("""
                CREATE TABLE IF NOT EXISTS continuous_queries (
                    id BIGINT PRIMARY KEY, spec VARCHAR NOT NULL, created_us BIGINT NOT NULL, updated_us BIGINT NOT NULL, mark_us BIGINT)
                """);
            connection.Execute("""
                CREATE TABLE IF NOT EXISTS cq_executions (
                    id BIGINT PRIMARY KEY, query_id BIGINT NOT NULL, execution_id VARCHAR NOT NULL, executed_us BIGINT NOT NULL,
                    status VARCHAR NOT NULL, start_us BIGINT NOT NULL, end_us BIGINT NOT NULL, records_read BIGINT,
                    records_written BIGINT NOT NULL, duration DOUBLE NOT NULL, error VARCHAR)
                """);
            // Added after the first release of the store: late windows and the removals of retention_days and
            // delete_source_after_days.
            connection.Execute("ALTER TABLE continuous_queries ADD COLUMN IF NOT EXISTS source_removed_us BIGINT");
            connection.Execute("ALTER TABLE cq_executions ADD COLUMN IF NOT EXISTS kind VARCHAR");
            connection.Execute("ALTER TABLE cq_executions ADD COLUMN IF NOT EXISTS records_deleted BIGINT");
            connection.Execute("""
                CREATE TABLE IF NOT EXISTS cq_late_windows (
                    query_id BIGINT NOT NULL, start_us BIGINT NOT NULL, since_us BIGINT NOT NULL, PRIMARY KEY (query_id, start_us))
                """);
            NextExecutionId = long.Parse(connection.QueryStrings("SELECT coalesce(max(id), 0) + 1 FROM cq_executions")[0][0]!, CultureInfo.InvariantCulture);
        });
    }

    private long NextExecutionId { get; set; }

    public List<ContinuousQueryRecord> Load()
    {
        lock (_lock)
        {
            return _connection.QueryStrings("SELECT id, spec, created_us, updated_us, mark_us, source_removed_us FROM continuous_queries ORDER BY id")
                .Select(row => new ContinuousQueryRecord
                {
                    Id = long.Parse(row[0]!, CultureInfo.InvariantCulture),
                    Spec = JsonSerializer.Deserialize(row[1]!, ContinuousQueryJsonContext.Default.ContinuousQueryRequest)!,
                    CreatedAt = FromMicros(row[2])!.Value,
                    UpdatedAt = FromMicros(row[3])!.Value,
                    Mark = FromMicros(row[4]),
                    SourceRemovedBefore = FromMicros(row[5]),
                }).ToList();
        }
    }

    /// <summary>Inserts or replaces the definition and its mark.</summary>
    public void Save(ContinuousQueryRecord record)
    {
        var spec = JsonSerializer.Serialize(record.Spec, ContinuousQueryJsonContext.Default.ContinuousQueryRequest);
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                $"INSERT OR REPLACE INTO continuous_queries (id, spec, created_us, updated_us, mark_us, source_removed_us) VALUES ({record.Id}, " +
                $"{Names.QuoteLiteral(spec)}, {Micros(record.CreatedAt)}, {Micros(record.UpdatedAt)}, {Micros(record.Mark)}, {Micros(record.SourceRemovedBefore)})"));
        }
    }

    public void SaveMark(long id, DateTime mark)
    {
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture, $"UPDATE continuous_queries SET mark_us = {Micros(mark)} WHERE id = {id}"));
        }
    }

    public void SaveSourceRemoved(long id, DateTime before)
    {
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture, $"UPDATE continuous_queries SET source_removed_us = {Micros(before)} WHERE id = {id}"));
        }
    }

    /// <summary>Every query's windows waiting to be recomputed: (start, when the first late write arrived).</summary>
    public Dictionary<long, List<(DateTime Start, DateTime Since)>> LateWindows()
    {
        lock (_lock)
        {
            return _connection.QueryStrings("SELECT query_id, start_us, since_us FROM cq_late_windows ORDER BY query_id, start_us")
                .GroupBy(row => long.Parse(row[0]!, CultureInfo.InvariantCulture))
                .ToDictionary(g => g.Key, g => g.Select(row => (FromMicros(row[1])!.Value, FromMicros(row[2])!.Value)).ToList());
        }
    }

    public void AddLateWindow(long id, DateTime start, DateTime since)
    {
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                $"INSERT OR IGNORE INTO cq_late_windows VALUES ({id}, {Micros(start)}, {Micros(since)})"));
        }
    }

    public void RemoveLateWindow(long id, DateTime start)
    {
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture, $"DELETE FROM cq_late_windows WHERE query_id = {id} AND start_us = {Micros(start)}"));
        }
    }

    public void Delete(long id)
    {
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture, $"DELETE FROM cq_late_windows WHERE query_id = {id}"));
            _connection.Execute(string.Create(CultureInfo.InvariantCulture, $"DELETE FROM cq_executions WHERE query_id = {id}"));
            _connection.Execute(string.Create(CultureInfo.InvariantCulture, $"DELETE FROM continuous_queries WHERE id = {id}"));
        }
    }

    /// <summary>Records a run and trims the query's history to <see cref="MaxExecutionsPerQuery"/>.</summary>
    public void AddExecution(ExecutionRecord execution)
    {
        lock (_lock)
        {
            var id = NextExecutionId++;
            _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                $"INSERT INTO cq_executions (id, query_id, execution_id, executed_us, status, start_us, end_us, records_read, records_written, duration, " +
                $"error, kind, records_deleted) VALUES ({id}, {execution.QueryId}, {Names.QuoteLiteral(execution.ExecutionId)}, {Micros(execution.ExecutedAt)}, " +
                $"{Names.QuoteLiteral(execution.Status)}, {Micros(execution.Start)}, {Micros(execution.End)}, {Number(execution.RecordsRead)}, " +
                $"{execution.RecordsWritten}, {execution.DurationSeconds.ToString("R", CultureInfo.InvariantCulture)}, " +
                $"{(execution.Error is null ? "NULL" : Names.QuoteLiteral(execution.Error))}, {Names.QuoteLiteral(execution.Kind)}, {Number(execution.RecordsDeleted)})"));
            if (id % 100 == 0)
            {
                _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                    $"DELETE FROM cq_executions WHERE query_id = {execution.QueryId} AND id NOT IN " +
                    $"(SELECT id FROM cq_executions WHERE query_id = {execution.QueryId} ORDER BY id DESC LIMIT {MaxExecutionsPerQuery})"));
            }
        }
    }

    /// <summary>Each query's latest run (for the list's <c>last_execution_*</c>).</summary>
    public Dictionary<long, ExecutionRecord> LatestExecutions()
    {
        lock (_lock)
        {
            return _connection.QueryStrings("""
                    SELECT query_id, execution_id, executed_us, status, start_us, end_us, records_read, records_written, duration, error,
                        coalesce(kind, 'scheduled'), records_deleted
                    FROM cq_executions WHERE id IN (SELECT max(id) FROM cq_executions GROUP BY query_id)
                    """)
                .Select(row => new ExecutionRecord(long.Parse(row[0]!, CultureInfo.InvariantCulture), row[1]!, FromMicros(row[2])!.Value, row[3]!,
                    FromMicros(row[4])!.Value, FromMicros(row[5])!.Value, ParseNumber(row[6]), long.Parse(row[7]!, CultureInfo.InvariantCulture),
                    double.Parse(row[8]!, CultureInfo.InvariantCulture), row[9], row[10]!, ParseNumber(row[11])))
                .ToDictionary(e => e.QueryId);
        }
    }

    /// <summary>The query's latest runs, newest first.</summary>
    public List<ContinuousQueryExecution> Executions(long queryId, int limit)
    {
        lock (_lock)
        {
            return _connection.QueryStrings(string.Create(CultureInfo.InvariantCulture,
                    $"SELECT id, query_id, execution_id, executed_us, status, start_us, end_us, records_read, records_written, duration, error, " +
                    $"coalesce(kind, 'scheduled'), records_deleted " +
                    $"FROM cq_executions WHERE query_id = {queryId} ORDER BY id DESC LIMIT {limit}"))
                .Select(row => new ContinuousQueryExecution(
                    long.Parse(row[0]!, CultureInfo.InvariantCulture),
                    long.Parse(row[1]!, CultureInfo.InvariantCulture),
                    row[2]!,
                    Rfc3339(FromMicros(row[3])!.Value),
                    row[4]!,
                    Rfc3339(FromMicros(row[5])!.Value),
                    Rfc3339(FromMicros(row[6])!.Value),
                    ParseNumber(row[7]),
                    long.Parse(row[8]!, CultureInfo.InvariantCulture),
                    double.Parse(row[9]!, CultureInfo.InvariantCulture),
                    row[10],
                    row[11]!,
                    ParseNumber(row[12]))).ToList();
        }
    }

    internal static string Rfc3339(DateTime time) => time.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    private static string Number(long? value) => value is { } number ? number.ToString(CultureInfo.InvariantCulture) : "NULL";

    private static long? ParseNumber(string? text) => text is null ? null : long.Parse(text, CultureInfo.InvariantCulture);

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

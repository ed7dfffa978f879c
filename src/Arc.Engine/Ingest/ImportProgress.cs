using System.Collections.Concurrent;

namespace Arc.Engine.Ingest;

/// <summary>One running bulk import's figures, readable from any thread while it runs.</summary>
public sealed class ImportProgress
{
    private long _rowsImported;
    private long _rowsRejected;
    private LimitedReadStream? _source;

    internal ImportProgress(long id, string format, string database, string? measurement, DateTimeOffset startedAt)
    {
        Id = id;
        Format = format;
        Database = database;
        Measurement = measurement;
        StartedAt = startedAt;
    }

    public long Id { get; }

    /// <summary><c>lp</c>, <c>csv</c> or <c>parquet</c>.</summary>
    public string Format { get; }

    public string Database { get; }

    public string? Measurement { get; }

    public DateTimeOffset StartedAt { get; }

    /// <summary>Bytes of the uploaded file read so far (as uploaded, compressed or not).</summary>
    public long BytesRead => _source?.Position ?? 0;

    /// <summary>Rows stored or parsed and waiting for their commit.</summary>
    public long RowsImported => Interlocked.Read(ref _rowsImported);

    public long RowsRejected => Interlocked.Read(ref _rowsRejected);

    internal void Attach(LimitedReadStream source) => _source = source;

    internal void SetRows(long imported, long rejected)
    {
        Interlocked.Exchange(ref _rowsImported, imported);
        Interlocked.Exchange(ref _rowsRejected, rejected);
    }
}

/// <summary>
/// Bulk imports since startup (Arc's <c>/api/v1/import/stats</c> counters: requests, records, errors) and the ones running
/// now with their progress.
/// </summary>
public sealed class ImportTracker(TimeProvider time)
{
    private readonly ConcurrentDictionary<long, ImportProgress> _running = new();
    private long _nextId;
    private long _requests;
    private long _records;
    private long _errors;

    public long TotalRequests => Interlocked.Read(ref _requests);

    public long TotalRecords => Interlocked.Read(ref _records);

    public long TotalErrors => Interlocked.Read(ref _errors);

    /// <summary>The imports running now, oldest first.</summary>
    public IReadOnlyList<ImportProgress> Running => [.. _running.Values.OrderBy(p => p.Id)];

    internal ImportProgress Start(string format, string database, string? measurement)
    {
        Interlocked.Increment(ref _requests);
        var progress = new ImportProgress(Interlocked.Increment(ref _nextId), format, database, measurement, time.GetUtcNow());
        _running[progress.Id] = progress;
        return progress;
    }

    internal void Finish(ImportProgress progress, ImportOutcome outcome)
    {
        _running.TryRemove(progress.Id, out _);
        Interlocked.Add(ref _records, outcome.RowsImported);
        if (outcome.Failure is not null || outcome.RowsImported == 0)
        {
            Interlocked.Increment(ref _errors);
        }
    }
}

namespace Arc.Engine.ContinuousQueries;

/// <summary>The continuous-query settings (the host maps the <c>continuous_query.*</c> keys onto it).</summary>
public sealed record ContinuousQueryOptions
{
    /// <summary>The store (<c>continuous_query.db_path</c>): definitions, their marks and the run history.</summary>
    public string DbPath { get; init; } = "./data/continuous_queries.db";

    /// <summary>
    /// How long after a window closes it runs (<c>continuous_query.grace_seconds</c>): writes that arrive a little late
    /// (clock skew, batching agents) are still in the window's aggregation.
    /// </summary>
    public TimeSpan Grace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Most rows one run may produce (<c>continuous_query.max_rows_per_run</c>); a run over it fails and says so.</summary>
    public int MaxRowsPerRun { get; init; } = 1_000_000;

    /// <summary>
    /// How old a window may be and still be recomputed when late writes land in it after it ran
    /// (<c>continuous_query.late_window_max_age_hours</c>): its output is replaced by a new run over all its rows. Zero turns
    /// recomputing off. Older windows keep their output.
    /// </summary>
    public TimeSpan LateWindowMaxAge { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How often a query's <c>retention_days</c> and <c>delete_source_after_days</c> are applied.</summary>
    public TimeSpan CleanupPeriod { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long a scheduled window whose run failed waits before it is tried again.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(30);
}

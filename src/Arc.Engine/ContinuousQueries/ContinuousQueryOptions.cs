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

    /// <summary>How long a scheduled window whose run failed waits before it is tried again.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(30);
}

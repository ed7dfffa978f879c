namespace Arc.Engine.Export;

/// <summary>The exporter's settings (the host maps the <c>export.*</c> keys onto it).</summary>
public sealed record ExportOptions
{
    /// <summary>The metadata store (<c>export.db_path</c>): jobs, high-water marks and storage connections; its key beside it.</summary>
    public string DbPath { get; init; } = "./data/export.db";

    /// <summary>Jobs that may run at once (<c>export.max_concurrent</c>).</summary>
    public int MaxConcurrent { get; init; } = 2;

    /// <summary>
    /// Default age a row must have before it is exported (<c>export.min_age_seconds</c>; a job may set its own): rows newer
    /// than this may still be joined by late writes with the same timestamp, so the high-water mark never passes them.
    /// </summary>
    public TimeSpan DefaultMinAge { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Timeout of one request to a target (<c>export.http_timeout</c>; also PostgreSQL's command timeout).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries of a batch after a transient failure (<c>export.max_retries</c>), with exponential backoff.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>First backoff delay (<c>export.retry_backoff_ms</c>); doubled on each retry, at most 30 s.</summary>
    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long a one-shot job whose run failed transiently waits before it is tried again.</summary>
    public TimeSpan OneShotRetryDelay { get; init; } = TimeSpan.FromSeconds(30);
}

using System.Globalization;

namespace Arc.DashboardBench;

/// <summary>How the panels' time range reaches arc-native (and raw DuckDB); see <see cref="Panel.Arc"/>.</summary>
internal enum TimeFilterForm
{
    /// <summary>
    /// Both bounds as RFC 3339 literals computed by the harness, as Grafana's <c>$__timeFilter(time)</c> sends them to SQL data
    /// sources: <c>time BETWEEN '…Z' AND '…Z'</c>; InfluxDB gets the same instants as Grafana's InfluxQL <c>$timeFilter</c>,
    /// <c>time &gt;= …ms AND time &lt;= …ms</c>. Every system answers over the same range, so every answer is compared.
    /// </summary>
    Literal,

    /// <summary><c>time &gt; (now() - INTERVAL 1 HOUR)::TIMESTAMP</c>; InfluxDB <c>time &gt; now() - 1h</c>.</summary>
    Cast,

    /// <summary>
    /// The canonical <c>time &gt; now() - INTERVAL 1 HOUR</c> (<c>--now-form</c>); InfluxDB <c>time &gt; now() - 1h</c>. arc-native
    /// does not bind it yet (TIMESTAMP_NS against now()'s TIMESTAMP WITH TIME ZONE), nor does raw DuckDB 1.5.6 over the same
    /// files, so the floor runs <see cref="Cast"/> then.
    /// </summary>
    Now,
}

/// <summary>
/// A Grafana-style panel: a relative time range (none for the catalog panel), the arc-native SQL and the InfluxQL a dashboard
/// would send. Templates: <c>$__timeFilter</c> (SQL) and <c>$timeFilter</c> (InfluxQL) become the range in the chosen
/// <see cref="TimeFilterForm"/>, <c>$host</c> the host. The answer's shape: a bucket time, then the host when
/// <see cref="PerHost"/>, then the values; for the catalog panel, the measurement names.
/// </summary>
internal sealed record Panel(string Id, string Title, TimeSpan? Range, bool PerHost, string ArcSql, string InfluxQl)
{
    public static List<Panel> Defaults() =>
    [
        new("1h-host", "last 1 h, one host, 1-min buckets", TimeSpan.FromHours(1), false,
            "SELECT time_bucket(INTERVAL '1 minute', time) AS time, avg(usage_user) AS usage_user, avg(usage_system) AS usage_system, avg(usage_iowait) AS usage_iowait FROM cpu WHERE host = '$host' AND $__timeFilter GROUP BY 1 ORDER BY 1",
            "SELECT mean(usage_user), mean(usage_system), mean(usage_iowait) FROM cpu WHERE host = '$host' AND $timeFilter GROUP BY time(1m) fill(none)"),
        new("6h-all", "last 6 h, all hosts, 5-min buckets", TimeSpan.FromHours(6), true,
            "SELECT time_bucket(INTERVAL '5 minutes', time) AS time, host, avg(usage_user) AS usage_user FROM cpu WHERE $__timeFilter GROUP BY 1, 2 ORDER BY 1, 2",
            "SELECT mean(usage_user) FROM cpu WHERE $timeFilter GROUP BY time(5m), host fill(none)"),
        new("7d-host", "last 7 d, one host, 1-h buckets", TimeSpan.FromDays(7), false,
            "SELECT time_bucket(INTERVAL '1 hour', time) AS time, avg(usage_user) AS usage_user, avg(usage_system) AS usage_system, avg(usage_iowait) AS usage_iowait FROM cpu WHERE host = '$host' AND $__timeFilter GROUP BY 1 ORDER BY 1",
            "SELECT mean(usage_user), mean(usage_system), mean(usage_iowait) FROM cpu WHERE host = '$host' AND $timeFilter GROUP BY time(1h) fill(none)"),
        new("30d-all", "last 30 d, all hosts, 1-h buckets", TimeSpan.FromDays(30), true,
            "SELECT time_bucket(INTERVAL '1 hour', time) AS time, host, avg(usage_user) AS usage_user FROM cpu WHERE $__timeFilter GROUP BY 1, 2 ORDER BY 1, 2",
            "SELECT mean(usage_user) FROM cpu WHERE $timeFilter GROUP BY time(1h), host fill(none)"),
        new("show-tables", "SHOW TABLES", null, false, "SHOW TABLES", "SHOW MEASUREMENTS"),
    ];

    /// <summary>The arc-native SQL for a query issued at <paramref name="to"/> (the range's end in the literal form).</summary>
    public string Arc(TimeFilterForm form, DateTime to, string host) => Range is not { } range
        ? ArcSql
        : ArcSql.Replace("$host", host, StringComparison.Ordinal).Replace("$__timeFilter", form switch
        {
            TimeFilterForm.Literal => $"time BETWEEN '{Rfc3339(to - range)}' AND '{Rfc3339(to)}'",
            TimeFilterForm.Cast => $"time > (now() - INTERVAL {SqlInterval(range)})::TIMESTAMP",
            _ => $"time > now() - INTERVAL {SqlInterval(range)}",
        }, StringComparison.Ordinal);

    /// <summary>The InfluxQL for a query issued at <paramref name="to"/>.</summary>
    public string Influx(TimeFilterForm form, DateTime to, string host) => Range is not { } range
        ? InfluxQl
        : InfluxQl.Replace("$host", host, StringComparison.Ordinal).Replace("$timeFilter", form == TimeFilterForm.Literal
            ? string.Create(CultureInfo.InvariantCulture, $"time >= {UnixMs(to - range)}ms AND time <= {UnixMs(to)}ms")
            : $"time > now() - {InfluxDuration(range)}", StringComparison.Ordinal);

    public static long UnixMs(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond;

    private static string Rfc3339(DateTime utc) => utc.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string SqlInterval(TimeSpan range) => range.Ticks % TimeSpan.TicksPerDay == 0
        ? string.Create(CultureInfo.InvariantCulture, $"{range.Days} DAY")
        : string.Create(CultureInfo.InvariantCulture, $"{(long)range.TotalHours} HOUR");

    private static string InfluxDuration(TimeSpan range) => range.Ticks % TimeSpan.TicksPerDay == 0
        ? string.Create(CultureInfo.InvariantCulture, $"{range.Days}d")
        : string.Create(CultureInfo.InvariantCulture, $"{(long)range.TotalHours}h");
}

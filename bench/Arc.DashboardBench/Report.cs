using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;

namespace Arc.DashboardBench;

internal sealed record QueryBody([property: JsonPropertyName("sql")] string Sql);

/// <summary>The result file: the run's settings, then per history its load, storage and per-panel latencies.</summary>
internal sealed record RunReport(
    string Date, string Machine, int Cores, string Note, string ArcVersion, string InfluxdbVersion, string DuckdbVersion, string TimeFilter,
    int Hosts, int IntervalSeconds, int Iterations, int Warmup, bool ArcResultCache, string Host, List<HistoryReport> Histories);

internal sealed record HistoryReport(
    int Days, long Points, string FirstPoint, string LastPoint, LoadReport Load, StorageReport Storage, string LoadAverageBefore,
    string LoadAverageAfter, List<PanelReport> Panels);

internal sealed record LoadReport(
    double ArcIngestSeconds, double InfluxdbIngestSeconds, double ArcFlushSeconds, double ArcRestartSeconds, double ArcCompactionSeconds,
    int ArcCompactionJobs, string ArcCompactionCandidatesLeft, double InfluxdbSettleSeconds, long TailPoints);

internal sealed record StorageReport(
    int ArcFilesFlushed, long ArcBytesFlushed, int ArcFilesCompacted, long ArcBytesCompacted, int ArcFiles, long ArcBytes, string ArcPartitions,
    int ArcDirectories, int ArcEmptyDirectories, long InfluxdbBytes, int InfluxdbTsmFiles, long InfluxdbTsmBytes);

internal sealed record PanelReport(
    string Id, string Title, string ArcSql, string Influxql, string DuckdbSql, string DuckdbGlobSql, int Rows, int DuckdbFilesMin, int DuckdbFilesMax,
    Dictionary<string, LatencyReport> Systems, double? ArcOverInfluxdbP50, double? ArcOverInfluxdbP99, double? ArcOverDuckdbP50,
    double? ArcOverDuckdbP99, double? ArcExecutionTimeP50Ms, int Compared, int NotCompared, int Mismatches, string? FirstMismatch);

internal sealed record LatencyReport(double? P50Ms, double? P99Ms, double? MeanMs, double? MinMs, double? MaxMs, int Failures, string? Error, List<double> SamplesMs);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(RunReport))]
[JsonSerializable(typeof(QueryBody))]
internal sealed partial class BenchJson : JsonSerializerContext;

/// <summary>Latency samples of one system on one panel.</summary>
internal sealed class Samples
{
    public List<double> Seconds { get; } = [];

    public int Failures { get; set; }

    public string? Error { get; set; }

    /// <summary>Nearest-rank percentile (with 15 samples p99 is the maximum).</summary>
    public double? Percentile(double p)
    {
        if (Seconds.Count == 0)
        {
            return null;
        }

        var sorted = Seconds.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    public LatencyReport ToReport() => new(Ms(Percentile(50)), Ms(Percentile(99)), Ms(Seconds.Count == 0 ? null : Seconds.Average()),
        Ms(Seconds.Count == 0 ? null : Seconds.Min()), Ms(Seconds.Count == 0 ? null : Seconds.Max()), Failures, Error,
        Seconds.Select(s => Math.Round(s * 1000, 3)).ToList());

    private static double? Ms(double? seconds) => seconds is { } s ? Math.Round(s * 1000, 3) : null;
}

/// <summary>The markdown summary of a run.</summary>
internal static class Summary
{
    public const string Arc = "arc-native";
    public const string Influx = "influxdb";
    public const string Duck = "duckdb";
    public const string Glob = "duckdb-glob";

    public static string Markdown(RunReport run)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        var days = string.Join(", ", run.Histories.Select(h => h.Days.ToString(inv) + " d"));
        s.Append(inv, $"## Dashboard latency: {run.Hosts} hosts, `cpu` every {run.IntervalSeconds} s, {days} of history ({run.Machine}, {run.Date})\n\n");
        s.Append(inv, $"{run.ArcVersion}; InfluxDB {run.InfluxdbVersion}; DuckDB {run.DuckdbVersion} (the floor: in process, only the files whose partition overlaps the range). ");
        s.Append(inv, $"Time filter: {run.TimeFilter}. {run.Iterations} measured iterations after {run.Warmup} warm-up ones; in each, every panel on every system, the systems' order rotating; ");
        s.Append("p50 and p99 are nearest-rank (with fewer than 100 samples p99 is the slowest). arc-native and InfluxDB over HTTP on loopback (request to last byte); ");
        s.Append(inv, $"the floor is DuckDB's `duckdb_query` alone. arc-native result cache {(run.ArcResultCache ? "ON" : "off")}. ");
        s.Append("\"DuckDB, all files by glob\" is a diagnostic, not a baseline: the same SQL on the same raw DuckDB over ")
            .Append("`read_parquet('…/cpu/**/*.parquet', union_by_name = true)`, what arc-native's view read before it kept a file manifest (for SHOW TABLES, counting the files with `glob()`). ");
        s.Append("Load average (1/5/15 min) before → after the panels: ")
            .AppendJoin("; ", run.Histories.Select(h => $"{h.Days} d {h.LoadAverageBefore} → {h.LoadAverageAfter}")).Append(". ");
        s.Append(run.Note).Append("\n\n");

        s.Append("| history | points | ingest s (arc-native / InfluxDB) | arc-native Parquet: flushed → compacted (+ recent hours) | compaction | InfluxDB on disk |\n");
        s.Append("|---|---|---|---|---|---|\n");
        foreach (var h in run.Histories)
        {
            var st = h.Storage;
            s.Append(inv, $"| {h.Days} d | {h.Points:N0} | {h.Load.ArcIngestSeconds:F1} / {h.Load.InfluxdbIngestSeconds:F1} | ");
            s.Append(inv, $"{st.ArcFilesFlushed:N0} files, {st.ArcBytesFlushed / 1e6:F1} MB → {st.ArcFilesCompacted:N0} files, {st.ArcBytesCompacted / 1e6:F1} MB; queried: {st.ArcFiles:N0} files ({st.ArcPartitions}), {st.ArcBytes / 1e6:F1} MB, in {st.ArcDirectories:N0} directories ({st.ArcEmptyDirectories:N0} empty) | ");
            s.Append(inv, $"{h.Load.ArcCompactionJobs} jobs, {h.Load.ArcCompactionSeconds:F1} s | {st.InfluxdbBytes / 1e6:F1} MB ({st.InfluxdbTsmFiles} TSM files, {st.InfluxdbTsmBytes / 1e6:F1} MB) |\n");
        }

        s.Append("\np50 / p99 in ms:\n\n");
        s.Append("| panel | history | rows | arc-native (its execution_time_ms p50) | InfluxDB | DuckDB floor (files) | arc / InfluxDB p50 (p99) | arc / floor p50 (p99) | DuckDB, all files by glob | answers |\n");
        s.Append("|---|---|---|---|---|---|---|---|---|---|\n");
        var panels = run.Histories.SelectMany(h => h.Panels.Select(p => (h.Days, Panel: p))).GroupBy(x => x.Panel.Id);
        foreach (var group in panels)
        {
            foreach (var (historyDays, p) in group)
            {
                var files = p.DuckdbFilesMin == p.DuckdbFilesMax ? p.DuckdbFilesMin.ToString(inv) : $"{p.DuckdbFilesMin}–{p.DuckdbFilesMax}";
                var check = p.Mismatches > 0 ? $"**{p.Mismatches} MISMATCHED**" : $"{p.Compared} compared" + (p.NotCompared > 0 ? $", {p.NotCompared} not (a point on the range's edge)" : "");
                s.Append(inv, $"| {p.Title} | {historyDays} d | {p.Rows:N0} | {Cell(p.Systems, Arc)}{(p.ArcExecutionTimeP50Ms is { } e ? $" ({e:0.0})" : "")} | {Cell(p.Systems, Influx)} | {Cell(p.Systems, Duck)} ({files}) | ");
                s.Append(inv, $"{Ratio(p.ArcOverInfluxdbP50)} ({Ratio(p.ArcOverInfluxdbP99)}) | {Ratio(p.ArcOverDuckdbP50)} ({Ratio(p.ArcOverDuckdbP99)}) | {Cell(p.Systems, Glob)} | {check} |\n");
            }
        }

        var failures = run.Histories.SelectMany(h => h.Panels.SelectMany(p => p.Systems.Where(x => x.Value.Error is not null)
            .Select(x => $"- {h.Days} d, {p.Title}, {x.Key}: {x.Value.Failures} failed: {x.Value.Error}"))).ToList();
        if (failures.Count > 0)
        {
            s.Append("\nFailed queries:\n\n").AppendJoin('\n', failures).Append('\n');
        }

        var mismatches = run.Histories.SelectMany(h => h.Panels.Where(p => p.FirstMismatch is not null)
            .Select(p => $"- {h.Days} d, {p.Title}: {p.FirstMismatch}")).ToList();
        if (mismatches.Count > 0)
        {
            s.Append("\nMismatched answers (first of each panel):\n\n").AppendJoin('\n', mismatches).Append('\n');
        }

        s.Append("\nPanel queries (arc-native SQL; InfluxQL), as sent in the first measured iteration of the longest history:\n\n");
        var last = run.Histories.LastOrDefault();
        foreach (var p in last?.Panels ?? [])
        {
            s.Append(inv, $"- {p.Title}: `{p.ArcSql}`; `{p.Influxql}`\n");
        }

        return s.ToString();
    }

    private static string Cell(Dictionary<string, LatencyReport> systems, string name) =>
        systems.TryGetValue(name, out var l) && l.P50Ms is { } p50
            ? string.Create(CultureInfo.InvariantCulture, $"{p50:0.0} / {l.P99Ms:0.0}") + (l.Failures > 0 ? $" ({l.Failures} failed)" : "")
            : systems.ContainsKey(name) ? "failed" : "–";

    private static string Ratio(double? ratio) => ratio is { } r ? string.Create(CultureInfo.InvariantCulture, $"×{r:0.00}") : "–";
}

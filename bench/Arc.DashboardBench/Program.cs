using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Arc.DashboardBench;

// Dashboard latency benchmark (scripts/dashboard-bench.sh drives it). For each history length: N days of Telegraf-like
// `cpu` written through /write to arc-native (the AOT binary) and InfluxDB 1.x, arc-native flushed, restarted and compacted
// through its API, InfluxDB settled, the last hours written up to now; then Grafana-style panels (relative to now) run
// K times on arc-native and InfluxDB over HTTP and on raw DuckDB in process over only the files each query needs (the
// floor), the systems interleaved per iteration; every answer is compared across systems. Writes JSON and a markdown summary.
//   Arc.DashboardBench --binary artifacts/publish/arc-native [--days 7,90,365] [--hosts 50] [--interval 120] [--host host-7]
//       [--iterations 15] [--warmup 2] [--batch 5000] [--connections 2] [--time-filter literal|cast|now] [--now-form]
//       [--sql-<panel> SQL] [--influxql-<panel> INFLUXQL] [--systems arc-native,influxdb,duckdb] [--arc-cache]
//       [--out DIR] [--results DIR] [--machine NAME] [--note TEXT] [--keep]
//   panels: 1h-host, 6h-all, 7d-host, 30d-all, show-tables; templates take $__timeFilter (SQL), $timeFilter (InfluxQL), $host.
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i < args.Length; i++)
{
    options[args[i].TrimStart('-')] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
}

var inv = CultureInfo.InvariantCulture;
int Int(string key, int fallback) => options.TryGetValue(key, out var v) ? int.Parse(v, inv) : fallback;
string Text(string key, string fallback) => options.GetValueOrDefault(key, fallback);

var daysList = Text("days", "7,90,365").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(d => int.Parse(d, inv)).ToList();
var generator = new Telegraf(Int("hosts", 50), Int("interval", 120));
var host = Text("host", "host-7");
var iterations = Int("iterations", 15);
var warmup = Int("warmup", 2);
var batch = Int("batch", 5000);
var connections = Int("connections", 2);
var form = options.ContainsKey("now-form") ? TimeFilterForm.Now : Text("time-filter", "literal") switch
{
    "literal" => TimeFilterForm.Literal,
    "cast" => TimeFilterForm.Cast,
    "now" => TimeFilterForm.Now,
    var other => throw new ArgumentException("--time-filter is literal, cast or now, not " + other),
};
var systems = Text("systems", $"{Summary.Arc},{Summary.Influx},{Summary.Duck},{Summary.Glob}").Split(',').ToList();
if (!systems.Contains(Summary.Arc))
{
    throw new ArgumentException("--systems must include arc-native (the floor reads its files)");
}

var binary = Path.GetFullPath(Text("binary", "artifacts/publish/arc-native"));
var output = Path.GetFullPath(Text("out", "artifacts/dashboard-bench"));
var resultDirectory = Path.GetFullPath(Text("results", Path.Combine(output, "results")));
var machine = Text("machine", $"{Environment.ProcessorCount}cpu");
var keep = options.ContainsKey("keep");
var panels = Panel.Defaults().Select(p => p with
{
    ArcSql = Text("sql-" + p.Id, p.ArcSql),
    InfluxQl = Text("influxql-" + p.Id, p.InfluxQl),
}).ToList();
var formText = form switch
{
    TimeFilterForm.Literal => "RFC 3339 literals computed per request, as Grafana's $__timeFilter sends (`time BETWEEN '…Z' AND '…Z'`; InfluxQL `time >= …ms AND time <= …ms`), the same instants for every system",
    TimeFilterForm.Cast => "`time > (now() - INTERVAL …)::TIMESTAMP` (InfluxQL `time > now() - …`)",
    _ => "`time > now() - INTERVAL …` (InfluxQL `time > now() - …`); the DuckDB floor runs `time > (now() - INTERVAL …)::TIMESTAMP`, as DuckDB 1.5.6 does not bind the other either",
};

var arcVersion = (await ChildOutput(binary, "--version")).Trim();
var influxVersion = systems.Contains(Summary.Influx) ? (await ChildOutput("dpkg-query", "-W", "-f=${Version}", "influxdb")).Trim() : "not run";
Console.WriteLine($"dashboard: {arcVersion}; InfluxDB {influxVersion}; DuckDB {RawDuckDb.Version}; histories {string.Join(", ", daysList)} d; {generator.Hosts} hosts every {generator.IntervalSeconds} s; {iterations} iterations after {warmup} warm-up; time filter {form}");

var histories = new List<HistoryReport>();
var failed = false;
foreach (var days in daysList)
{
    var (history, ok) = await RunHistoryAsync(days);
    histories.Add(history);
    failed |= !ok;
}

var run = new RunReport(DateTime.UtcNow.ToString("yyyy-MM-dd", inv), machine, Environment.ProcessorCount, Text("note", ""), arcVersion,
    influxVersion, RawDuckDb.Version, formText, generator.Hosts, generator.IntervalSeconds, iterations, warmup, options.ContainsKey("arc-cache"),
    host, histories);
Directory.CreateDirectory(resultDirectory);
var prefix = Path.Combine(resultDirectory, $"{DateTime.UtcNow:yyyyMMdd}_{machine}_dashboard_{string.Join("-", daysList)}d");
var readable = new BenchJson(new JsonSerializerOptions(BenchJson.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
File.WriteAllText(prefix + ".json", JsonSerializer.Serialize(run, readable.RunReport) + "\n");
var summary = Summary.Markdown(run);
File.WriteAllText(prefix + "_summary.md", summary);
Console.WriteLine();
Console.WriteLine(summary);
Console.WriteLine($"dashboard: results in {prefix}.json and {prefix}_summary.md");
if (!keep)
{
    try
    {
        Directory.Delete(Path.Combine(output, "work"), recursive: true);
    }
    catch (IOException)
    {
    }
}

if (failed)
{
    Console.Error.WriteLine("dashboard: some queries failed or answers differed between systems; see the summary");
}

return failed ? 1 : 0;

async Task<(HistoryReport Report, bool Ok)> RunHistoryAsync(int days)
{
    var work = Path.Combine(output, "work", $"{days}d");
    if (Directory.Exists(work))
    {
        Directory.Delete(work, recursive: true);
    }

    using var arc = new ArcServer(binary, Path.Combine(work, "arc"), options.ContainsKey("arc-cache"));
    using var influx = systems.Contains(Summary.Influx) ? new InfluxServer(Path.Combine(work, "influxdb")) : null;
    await arc.StartAsync();
    if (influx is not null)
    {
        await influx.StartAsync();
    }

    // The history: whole hours up to the current one, written now; the current hour's points up to now are written after
    // the settling, right before the panels run (the load of a long history takes minutes, and the panels are relative to now).
    var anchor = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 3600 * 3600;
    var start = anchor - (days * 86400L);
    var bulkPoints = generator.Points(start, anchor);
    Console.WriteLine(string.Create(inv, $"{days} d: writing {bulkPoints:N0} points ({Iso(start)} .. {Iso(anchor)}) in bodies of {batch} lines over {connections} connections"));
    var arcIngest = await arc.WriteAllAsync(generator.Bodies(start, anchor, batch), connections);
    Console.WriteLine(string.Create(inv, $"{days} d: arc-native ingest {arcIngest:F1} s ({bulkPoints / arcIngest:N0} points/s)"));
    var influxIngest = 0.0;
    if (influx is not null)
    {
        influxIngest = await influx.WriteAllAsync(generator.Bodies(start, anchor, batch), connections);
        Console.WriteLine(string.Create(inv, $"{days} d: InfluxDB ingest {influxIngest:F1} s ({bulkPoints / influxIngest:N0} points/s)"));
    }

    var flush = await arc.WaitFlushedAsync();
    var (flushedBytes, flushedFiles) = ServerProcess.Usage(arc.MeasurementDirectory, ".parquet");
    var clock = System.Diagnostics.Stopwatch.StartNew();
    arc.Stop(); // a clean stop ends the write-ahead log, whose files compaction otherwise leaves alone for up to a minute
    await arc.StartAsync();
    var restart = clock.Elapsed.TotalSeconds;
    clock.Restart();
    var (jobs, left) = await arc.CompactAsync();
    var compaction = clock.Elapsed.TotalSeconds;
    var (compactedBytes, compactedFiles) = ServerProcess.Usage(arc.MeasurementDirectory, ".parquet");
    Console.WriteLine(string.Create(inv,
        $"{days} d: arc-native flushed in {flush:F1} s: {flushedFiles:N0} files, {flushedBytes:N0} B; restart {restart:F1} s; compaction {compaction:F1} s, {jobs} jobs: {compactedFiles:N0} files, {compactedBytes:N0} B; candidates left: {left}"));
    var settle = influx is null ? 0 : await influx.SettleAsync(TimeSpan.FromMinutes(10));
    var (influxBytes, _) = influx is null ? (0L, 0) : ServerProcess.Usage(influx.DataDirectory);
    var (tsmBytes, tsmFiles) = influx is null ? (0L, 0) : ServerProcess.Usage(influx.DataDirectory, ".tsm");
    if (influx is not null)
    {
        Console.WriteLine(string.Create(inv, $"{days} d: InfluxDB settled in {settle:F0} s: {influxBytes:N0} B ({tsmFiles} TSM files, {tsmBytes:N0} B)"));
    }

    // The recent points, up to now, to both; arc-native flushes them (raw DuckDB reads what is in files).
    var end = generator.FloorTick(DateTimeOffset.UtcNow.ToUnixTimeSeconds()) + 1;
    var tailPoints = generator.Points(anchor, end);
    await arc.WriteAllAsync(generator.Bodies(anchor, end, batch), 1);
    if (influx is not null)
    {
        await influx.WriteAllAsync(generator.Bodies(anchor, end, batch), 1);
    }

    await arc.WaitFlushedAsync();
    var index = PartitionIndex.Build(arc.MeasurementDirectory);
    var (arcBytes, arcFiles) = ServerProcess.Usage(arc.MeasurementDirectory, ".parquet");
    var directories = Directory.GetDirectories(arc.MeasurementDirectory, "*", SearchOption.AllDirectories);
    var emptyDirectories = directories.Count(d => !Directory.EnumerateFileSystemEntries(d).Any());
    var points = bulkPoints + tailPoints;
    Console.WriteLine(string.Create(inv, $"{days} d: {tailPoints:N0} recent points up to {Iso(end - 1)}; arc-native now {arcFiles} files ({index.Describe()}), {arcBytes:N0} B, in {directories.Length:N0} directories of which {emptyDirectories:N0} are empty"));

    using var duck = systems.Contains(Summary.Duck) || systems.Contains(Summary.Glob) ? RawDuckDb.Open(index.All) : null;
    await CheckCountsAsync(arc, influx, duck, points);
    var loadBefore = LoadAverage();

    var samples = panels.ToDictionary(p => p.Id, _ => systems.ToDictionary(s => s, _ => new Samples()));
    var checks = panels.ToDictionary(p => p.Id, _ => new PanelCheck());
    for (var iteration = -warmup; iteration < iterations; iteration++)
    {
        var order = systems.Skip(((iteration % systems.Count) + systems.Count) % systems.Count).Concat(systems).Take(systems.Count).ToList();
        foreach (var panel in panels)
        {
            var to = DateTime.UnixEpoch.AddMilliseconds(Panel.UnixMs(DateTime.UtcNow));
            var answers = new Dictionary<string, Answer>();
            var started = DateTime.MaxValue;
            var finished = DateTime.MinValue;
            var check = checks[panel.Id];
            foreach (var system in order)
            {
                var before = DateTime.UtcNow;
                try
                {
                    double seconds;
                    Answer answer;
                    switch (system)
                    {
                        case Summary.Arc:
                            {
                                var sql = panel.Arc(form, to, host);
                                (seconds, var body) = await arc.QueryAsync(sql);
                                answer = Answer.FromArc(panel, body);
                                if (iteration >= 0)
                                {
                                    check.ArcExecution.Seconds.Add(Answer.ArcExecutionMs(body) / 1000);
                                }
                                check.ArcSql ??= iteration == 0 ? sql : null;
                                break;
                            }

                        case Summary.Influx:
                            {
                                var query = panel.Influx(form, to, host);
                                (seconds, var body) = await influx!.QueryAsync(query);
                                answer = Answer.FromInflux(panel, body);
                                check.InfluxQl ??= iteration == 0 ? query : null;
                                break;
                            }

                        case Summary.Glob:
                            {
                                // What arc-native's view reads: every file of the measurement through a glob, by name.
                                var glob = $"read_parquet('{arc.MeasurementDirectory}/**/*.parquet', union_by_name = true)";
                                var sql = panel.Range is null
                                    ? $"SELECT 'cpu' AS name, count(*) AS file_count FROM glob('{arc.MeasurementDirectory}/**/*.parquet')"
                                    : RawDuckDb.ReplaceFrom(panel.Arc(form == TimeFilterForm.Now ? TimeFilterForm.Cast : form, to, host), glob);
                                var (duckSeconds, columns, rows) = duck!.Run(sql);
                                seconds = duckSeconds;
                                answer = Answer.FromText(panel, columns, rows);
                                check.GlobSql ??= iteration == 0 ? sql.Replace(arc.DataDirectory, "<data>", StringComparison.Ordinal) : null;
                                break;
                            }

                        default:
                            {
                                // DuckDB 1.5.6 itself does not bind TIMESTAMP_NS > now() - INTERVAL (TIMESTAMP WITH TIME ZONE): with
                                // --now-form the floor runs the cast form, the same range.
                                var sql = panel.Arc(form == TimeFilterForm.Now ? TimeFilterForm.Cast : form, to, host);
                                List<string> files = [];
                                if (panel.Range is { } range)
                                {
                                    // The literal form's range; with now() DuckDB's now is a moment later (a superset of the files).
                                    files = form == TimeFilterForm.Literal
                                        ? index.Overlapping(to - range, to)
                                        : index.Overlapping(DateTime.UtcNow - range, DateTime.MaxValue);
                                    sql = RawDuckDb.OverFiles(sql, files);
                                }

                                var (duckSeconds, columns, rows) = duck!.Run(sql);
                                seconds = duckSeconds;
                                answer = Answer.FromText(panel, columns, rows);
                                check.Files(files.Count);
                                check.DuckSql ??= iteration == 0 ? RawDuckDb.Shorten(sql.Replace(arc.DataDirectory, "<data>", StringComparison.Ordinal)) : null;
                                break;
                            }
                    }

                    answers[system] = answer;
                    check.Rows = answer.Count;
                    if (iteration >= 0)
                    {
                        samples[panel.Id][system].Seconds.Add(seconds);
                    }
                }
                catch (QueryFailedException e)
                {
                    var s = samples[panel.Id][system];
                    s.Failures++;
                    s.Error ??= e.Message.Length > 800 ? e.Message[..800] + " ..." : e.Message;
                    if (s.Failures == 1)
                    {
                        Console.WriteLine($"{days} d, {panel.Id}, {system}: {s.Error}");
                    }
                }

                started = before < started ? before : started;
                finished = DateTime.UtcNow > finished ? DateTime.UtcNow : finished;
            }

            check.Compare(panel, answers, form, started, finished, generator.IntervalSeconds);
        }

        if (iteration >= 0 && (iteration + 1) % 5 == 0)
        {
            Console.WriteLine($"{days} d: {iteration + 1}/{iterations} iterations");
        }
    }

    var panelReports = new List<PanelReport>();
    foreach (var panel in panels)
    {
        var perSystem = samples[panel.Id];
        var check = checks[panel.Id];
        double? RatioOf(string other, double p) =>
            perSystem.TryGetValue(other, out var o) && o.Percentile(p) is { } b && perSystem[Summary.Arc].Percentile(p) is { } a ? Math.Round(a / b, 2) : null;
        panelReports.Add(new PanelReport(panel.Id, panel.Title, check.ArcSql ?? panel.ArcSql, check.InfluxQl ?? panel.InfluxQl, check.DuckSql ?? "", check.GlobSql ?? "",
            check.Rows, check.FilesMin == int.MaxValue ? 0 : check.FilesMin, check.FilesMax,
            perSystem.ToDictionary(x => x.Key, x => x.Value.ToReport()), RatioOf(Summary.Influx, 50), RatioOf(Summary.Influx, 99),
            RatioOf(Summary.Duck, 50), RatioOf(Summary.Duck, 99), check.ArcExecution.ToReport().P50Ms, check.Compared, check.NotCompared, check.Mismatches, check.FirstMismatch));
        var line = string.Join("; ", systems.Select(s => perSystem[s].Seconds.Count == 0
            ? $"{s} failed"
            : string.Create(inv, $"{s} {perSystem[s].Percentile(50) * 1000:F1} / {perSystem[s].Percentile(99) * 1000:F1} ms")));
        Console.WriteLine($"{days} d, {panel.Id}: {check.Rows} rows; p50 / p99: {line}; answers compared {check.Compared}, mismatched {check.Mismatches}");
    }

    var loadAfter = LoadAverage();
    Console.WriteLine($"{days} d: load average before the panels {loadBefore}, after {loadAfter}");
    arc.Stop();
    influx?.Stop();
    var ok = panelReports.All(p => p.Mismatches == 0 && p.Systems.Values.All(l => l.Failures == 0));
    var report = new HistoryReport(days, points, Iso(start), Iso(end - 1),
        new LoadReport(Math.Round(arcIngest, 2), Math.Round(influxIngest, 2), Math.Round(flush, 2), Math.Round(restart, 2), Math.Round(compaction, 2),
            jobs, left, Math.Round(settle, 1), tailPoints),
        new StorageReport(flushedFiles, flushedBytes, compactedFiles, compactedBytes, arcFiles, arcBytes, index.Describe(), directories.Length, emptyDirectories, influxBytes, tsmFiles, tsmBytes),
        loadBefore, loadAfter, panelReports);
    if (!keep)
    {
        Directory.Delete(work, recursive: true);
    }

    return (report, ok);
}

async Task CheckCountsAsync(ArcServer arc, InfluxServer? influx, RawDuckDb? duck, long points)
{
    var (_, arcBody) = await arc.QueryAsync("SELECT count(*) FROM cpu");
    using var arcJson = JsonDocument.Parse(arcBody);
    var arcCount = arcJson.RootElement.GetProperty("data")[0][0].GetInt64();
    var counts = $"arc-native {arcCount:N0}";
    var ok = arcCount == points;
    if (influx is not null)
    {
        var (_, influxBody) = await influx.QueryAsync("SELECT count(usage_user) FROM cpu");
        using var influxJson = JsonDocument.Parse(influxBody);
        var influxCount = influxJson.RootElement.GetProperty("results")[0].GetProperty("series")[0].GetProperty("values")[0][1].GetInt64();
        counts += $", InfluxDB {influxCount:N0}";
        ok &= influxCount == points;
    }

    if (duck is not null)
    {
        var duckCount = long.Parse(duck.Run("SELECT count(*) FROM cpu").Rows[0][0] ?? "0", CultureInfo.InvariantCulture);
        counts += $", raw DuckDB {duckCount:N0}";
        ok &= duckCount == points;
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"points stored: {counts} (written {points:N0})"));
    if (!ok)
    {
        throw new InvalidOperationException($"the systems do not hold the {points:N0} points written: {counts}");
    }
}

static string LoadAverage()
{
    try
    {
        return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
    }
    catch (IOException)
    {
        return "unknown";
    }
}

static string Iso(long unixSeconds) => DateTime.UnixEpoch.AddSeconds(unixSeconds).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

static async Task<string> ChildOutput(string file, params string[] arguments)
{
    var info = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    foreach (var a in arguments)
    {
        info.ArgumentList.Add(a);
    }

    try
    {
        using var process = System.Diagnostics.Process.Start(info)!;
        var text = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return text.Split('\n')[0];
    }
    catch (System.ComponentModel.Win32Exception)
    {
        return "unknown";
    }
}

/// <summary>Cross-system agreement of one panel over the iterations, and the floor's file counts.</summary>
internal sealed class PanelCheck
{
    public int Rows { get; set; }

    public int Compared { get; private set; }

    public int NotCompared { get; private set; }

    public int Mismatches { get; private set; }

    public string? FirstMismatch { get; private set; }

    public string? ArcSql { get; set; }

    public string? InfluxQl { get; set; }

    public string? DuckSql { get; set; }

    public string? GlobSql { get; set; }

    /// <summary>arc-native's own <c>execution_time_ms</c> per measured request (the rest is HTTP, JSON and the client).</summary>
    public Samples ArcExecution { get; } = new();

    public int FilesMin { get; private set; } = int.MaxValue;

    public int FilesMax { get; private set; }

    public void Files(int count)
    {
        FilesMin = Math.Min(FilesMin, count);
        FilesMax = Math.Max(FilesMax, count);
    }

    /// <summary>
    /// Every system's answer against arc-native's. With literal bounds all saw the same range. With now() each server took its
    /// own now: the answers must agree unless a point's time lies between the earliest and the latest range start (the
    /// requests' spread), in which case the iteration is not compared.
    /// </summary>
    public void Compare(Panel panel, Dictionary<string, Answer> answers, TimeFilterForm form, DateTime started, DateTime finished, int intervalSeconds)
    {
        if (!answers.TryGetValue(Summary.Arc, out var arc) || answers.Count < 2)
        {
            return;
        }

        if (form != TimeFilterForm.Literal && panel.Range is { } range)
        {
            var interval = intervalSeconds * 1000L;
            if (Math.Floor((double)Panel.UnixMs(started - range) / interval) != Math.Floor((double)Panel.UnixMs(finished - range) / interval))
            {
                NotCompared++;
                return;
            }
        }

        Compared++;
        foreach (var (system, answer) in answers)
        {
            if (system == Summary.Arc)
            {
                continue;
            }

            if (arc.Difference(answer) is { } difference)
            {
                Mismatches++;
                FirstMismatch ??= $"arc-native vs {system}: {difference}";
                Console.WriteLine($"{panel.Id}: answers differ: arc-native vs {system}: {difference}");
            }
        }
    }
}

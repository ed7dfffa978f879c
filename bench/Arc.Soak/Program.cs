using System.Buffers.Binary;
using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

// Soak: sustained Telegraf-like ingest into a running server (scripts/soak.sh starts the AOT binary over a fresh data
// directory), with a dashboard query over the recent window every few seconds, sampled over time, and an exactly-once
// check at the end. Every point has its own (host, time): point i is host i % hosts at tick i / hosts, and the data's
// time advances --step-ms per tick (by default real time at the target rate).
//
//   Arc.Soak --url http://127.0.0.1:8000 --token T --pid PID --data DIR [--seconds 600] [--rate 100000 (points/s, 0: as
//     fast as possible)] [--format lp|msgpack] [--hosts 1000] [--fields 10] [--clients 4] [--lines 1000 (points per
//     request)] [--step-ms (data time per tick)] [--query-every-ms 2000] [--window-minutes 5] [--sample-seconds 10]
//     [--rest-seconds 30] [--db soak] [--out DIR]
//
// Prints a row per sample and a summary; writes samples.csv and summary.json to --out. Exit code 1 when a point that was
// acknowledged is missing or stored twice.
var options = args.Select((a, i) => (a, i)).Where(p => p.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(p => p.a[2..], p => p.i + 1 < args.Length ? args[p.i + 1] : "");
string Option(string name, string fallback) => options.GetValueOrDefault(name, fallback);
double Number(string name, double fallback) => double.Parse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

var url = Option("url", "http://127.0.0.1:8000");
var pid = (int)Number("pid", 0);
var dataPath = Option("data", "");
var seconds = Number("seconds", 600);
var rate = Number("rate", 100_000);
var format = Option("format", "lp");
var hosts = (int)Number("hosts", 1000);
var fields = (int)Number("fields", 10);
var clients = (int)Number("clients", 4);
var lines = (int)Number("lines", 1000);
var stepMs = Number("step-ms", rate > 0 ? hosts * 1000.0 / rate : 1000);
var queryEvery = TimeSpan.FromMilliseconds(Number("query-every-ms", 2000));
var window = TimeSpan.FromMinutes(Number("window-minutes", 5));
var sampleEvery = TimeSpan.FromSeconds(Number("sample-seconds", 10));
var restSeconds = Number("rest-seconds", 30);
var database = Option("db", "soak");
var outDir = Option("out", Path.Combine("artifacts", "soak", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
if (format is not ("lp" or "msgpack") || hosts < 1 || fields < 1 || clients < 1 || lines < 1 || seconds <= 0 || stepMs <= 0)
{
    Console.Error.WriteLine("bad options: --format lp|msgpack, and --hosts, --fields, --clients, --lines, --seconds, --step-ms above 0");
    return 2;
}

Directory.CreateDirectory(outDir);
string[] telegraf = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"];
var fieldNames = Enumerable.Range(0, fields).Select(f => f < telegraf.Length ? telegraf[f] : $"field_{f}").ToArray();
var values = Enumerable.Range(0, 1000).Select(v => Encoding.ASCII.GetBytes((v / 10.0).ToString("0.0#", CultureInfo.InvariantCulture))).ToArray();
var regionNames = Enumerable.Range(0, 10).Select(r => $"region-{r}").ToArray();
var hostNames = Enumerable.Range(0, hosts).Select(h => $"host-{h:D5}").ToArray();
var lineHeads = Enumerable.Range(0, hosts).Select(h => Encoding.ASCII.GetBytes($"cpu,cpu=cpu-total,host={hostNames[h]},region={regionNames[h % 10]} ")).ToArray();
var fieldHeads = fieldNames.Select((n, f) => Encoding.ASCII.GetBytes((f > 0 ? "," : "") + n + "=")).ToArray();
var startNs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerSecond * 1_000_000_000L;
var stepNs = (long)(stepMs * 1_000_000);
long TimeOf(long point) => startNs + (point / hosts * stepNs);

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients + 4 }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(30) }; // the closing count over hundreds of millions of rows takes minutes
if (options.TryGetValue("token", out var token))
{
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
}

long next = 0, acked = 0, failedPoints = 0, failedRequests = 0, maxAckedTime = 0;
var failures = new Dictionary<string, int>();
var queries = new List<(double At, double Ms, bool Ok)>();
var clock = Stopwatch.StartNew();
var duration = TimeSpan.FromSeconds(seconds);
using var stop = new CancellationTokenSource();

async Task Writer()
{
    var body = new byte[lines * (64 + (fields * 24)) + 1024];
    var path = format == "lp" ? $"/api/v1/write/line-protocol?db={database}" : "/api/v1/write/msgpack";
    while (true)
    {
        var first = Interlocked.Add(ref next, lines) - lines;
        if (rate > 0)
        {
            // One reading of the clock: checked and then read again, the wait could come out below zero (refused).
            var wait = TimeSpan.FromSeconds(first / rate) - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
        }

        if (clock.Elapsed >= duration)
        {
            return;
        }

        var length = format == "lp" ? LineProtocol(body, first) : MsgPack(body, first);
        using var content = new ByteArrayContent(body, 0, length);
        if (format == "msgpack")
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/msgpack");
            content.Headers.Add("x-arc-database", database);
        }

        string? failure = null;
        try
        {
            using var response = await http.PostAsync(path, content);
            if (response.StatusCode != HttpStatusCode.NoContent)
            {
                failure = $"{(int)response.StatusCode} {Truncate(await response.Content.ReadAsStringAsync())}";
            }
        }
        catch (HttpRequestException e)
        {
            failure = e.Message;
        }

        if (failure is null)
        {
            Interlocked.Add(ref acked, lines);
            var last = TimeOf(first + lines - 1);
            for (var seen = Volatile.Read(ref maxAckedTime); last > seen; seen = Volatile.Read(ref maxAckedTime))
            {
                if (Interlocked.CompareExchange(ref maxAckedTime, last, seen) == seen)
                {
                    break;
                }
            }
        }
        else
        {
            Interlocked.Add(ref failedPoints, lines);
            Interlocked.Increment(ref failedRequests);
            lock (failures)
            {
                failures[failure] = failures.GetValueOrDefault(failure) + 1;
            }

            await Task.Delay(100);
        }
    }
}

int LineProtocol(byte[] body, long first)
{
    var at = 0;
    for (var i = first; i < first + lines; i++)
    {
        var host = (int)(i % hosts);
        var tick = i / hosts;
        at += Copy(lineHeads[host], body, at);
        for (var f = 0; f < fields; f++)
        {
            at += Copy(fieldHeads[f], body, at);
            at += Copy(values[(int)((tick * 7) + (host * 13) + (f * 101)) % values.Length], body, at);
        }

        body[at++] = (byte)' ';
        Utf8Formatter.TryFormat(TimeOf(i), body.AsSpan(at), out var written);
        at += written;
        body[at++] = (byte)'\n';
    }

    return at;
}

// Arc's columnar MessagePack: {"m":"cpu","tags":["cpu","host","region"],"columns":{"time":[ns...],"cpu":[...],...}}.
int MsgPack(byte[] body, long first)
{
    var span = body.AsSpan();
    var at = 0;
    span[at++] = 0x83;
    at += Str(span[at..], "m");
    at += Str(span[at..], "cpu");
    at += Str(span[at..], "tags");
    span[at++] = 0x93;
    at += Str(span[at..], "cpu");
    at += Str(span[at..], "host");
    at += Str(span[at..], "region");
    at += Str(span[at..], "columns");
    span[at++] = 0xde;
    BinaryPrimitives.WriteUInt16BigEndian(span[at..], (ushort)(4 + fields));
    at += 2;
    at += Str(span[at..], "time");
    at += Array32(span[at..], lines);
    for (var i = first; i < first + lines; i++)
    {
        span[at++] = 0xd3;
        BinaryPrimitives.WriteInt64BigEndian(span[at..], TimeOf(i));
        at += 8;
    }

    at += Str(span[at..], "cpu");
    at += Array32(span[at..], lines);
    for (var i = 0; i < lines; i++)
    {
        at += Str(span[at..], "cpu-total");
    }

    at += Str(span[at..], "host");
    at += Array32(span[at..], lines);
    for (var i = first; i < first + lines; i++)
    {
        at += Str(span[at..], hostNames[i % hosts]);
    }

    at += Str(span[at..], "region");
    at += Array32(span[at..], lines);
    for (var i = first; i < first + lines; i++)
    {
        at += Str(span[at..], regionNames[i % hosts % 10]);
    }

    for (var f = 0; f < fields; f++)
    {
        at += Str(span[at..], fieldNames[f]);
        at += Array32(span[at..], lines);
        for (var i = first; i < first + lines; i++)
        {
            span[at++] = 0xcb;
            BinaryPrimitives.WriteDoubleBigEndian(span[at..], ((((i / hosts) * 7) + (i % hosts * 13) + (f * 101)) % values.Length) / 10.0);
            at += 8;
        }
    }

    return at;
}

static int Copy(byte[] source, byte[] target, int at)
{
    source.CopyTo(target, at);
    return source.Length;
}

static int Str(Span<byte> span, string text)
{
    var length = Encoding.UTF8.GetBytes(text, span[2..]);
    span[0] = 0xd9;
    span[1] = (byte)length;
    return length + 2;
}

static int Array32(Span<byte> span, int length)
{
    span[0] = 0xdd;
    BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
    return 5;
}

static string Truncate(string text) => text.Length <= 200 ? text : text[..200];

async Task<(JsonDocument? Json, string? Error)> Query(string sql)
{
    using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/query")
    {
        Content = new StringContent(JsonSerializer.Serialize(new Dictionary<string, string> { ["sql"] = sql, ["database"] = database }), Encoding.UTF8, "application/json"),
    };
    request.Headers.CacheControl = new CacheControlHeaderValue { NoCache = true };
    try
    {
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode ? (JsonDocument.Parse(text), null) : (null, $"{(int)response.StatusCode} {Truncate(text)}");
    }
    catch (HttpRequestException e)
    {
        return (null, e.Message);
    }
}

static string Timestamp(long ns) =>
    DateTime.UnixEpoch.AddTicks(ns / 100).ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture);

// The dashboard panel: one host's last --window-minutes before the newest acknowledged point, in 10-second buckets.
string? queryError = null;
async Task Dashboard()
{
    var n = 0;
    while (!stop.IsCancellationRequested)
    {
        var started = clock.Elapsed;
        var newest = Volatile.Read(ref maxAckedTime);
        if (newest > 0)
        {
            var host = hostNames[(n++ * 7919) % hosts];
            var sql = $"SELECT time_bucket(INTERVAL '10 seconds', time) AS t, avg({fieldNames[0]}) AS v, count(*) AS n FROM cpu " +
                $"WHERE host = '{host}' AND time > TIMESTAMP '{Timestamp(newest - (long)window.TotalMicroseconds * 1000)}' GROUP BY t ORDER BY t";
            var watch = Stopwatch.StartNew();
            var (json, error) = await Query(sql);
            json?.Dispose();
            lock (queries)
            {
                queries.Add((started.TotalSeconds, watch.Elapsed.TotalMilliseconds, error is null));
            }

            queryError ??= error;
        }

        var wait = queryEvery - (clock.Elapsed - started);
        if (wait > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(wait, stop.Token);
            }
            catch (TaskCanceledException)
            {
                return;
            }
        }
    }
}

// One row of figures: the process's memory from /proc, the server's own memory figures, the Parquet files on disk.
var samples = new List<Dictionary<string, double>>();
var duckTags = new List<string> { "t_s,tag,memory_usage_bytes,temporary_storage_bytes" };
string[] serverFigures = ["heap_sys_bytes", "heap_inuse_bytes", "heap_fragmented_bytes", "buffered_bytes", "hot_bytes", "duckdb_compaction_memory_bytes", "parquet_memory_bytes"];
string[] columns = ["t_s", "acked", "points_per_s", "rss_mb", "anon_mb", "file_mb", "duckdb_mb", .. serverFigures.Select(f => f.Replace("_bytes", "_mb", StringComparison.Ordinal)), "cache_mb", "files", "hour_partitions", "max_files_per_hour", "cpu_cores", "compaction_cores", "queries", "query_p50_ms", "query_p99_ms", "query_errors"];
long lastAcked = 0;
var lastAt = 0.0;
var lastCpu = ThreadTicks(pid);
var lastQuery = 0;

async Task<Dictionary<string, double>> Sample(double at)
{
    var row = new Dictionary<string, double> { ["t_s"] = Math.Round(at, 1) };
    var ackedNow = Interlocked.Read(ref acked);
    row["acked"] = ackedNow;
    row["points_per_s"] = at > lastAt ? Math.Round((ackedNow - lastAcked) / (at - lastAt)) : 0;
    var cpu = ThreadTicks(pid);
    if (at > lastAt)
    {
        // Cores the server used since the last row (clock ticks of 10 ms), and those of compaction's threads.
        row["cpu_cores"] = Math.Round(Math.Max(0, cpu.Total - lastCpu.Total) / 100.0 / (at - lastAt), 2); // a thread that ended takes its ticks along
        row["compaction_cores"] = Math.Round(Math.Max(0, cpu.Compaction - lastCpu.Compaction) / 100.0 / (at - lastAt), 2);
    }

    (lastAcked, lastAt, lastCpu) = (ackedNow, at, cpu);
    var status = ProcFields($"/proc/{pid}/status");
    var rollup = ProcFields($"/proc/{pid}/smaps_rollup");
    row["rss_mb"] = status.GetValueOrDefault("VmRSS") / 1024.0;
    row["anon_mb"] = rollup.GetValueOrDefault("Anonymous") / 1024.0;
    row["file_mb"] = (rollup.GetValueOrDefault("Rss") - rollup.GetValueOrDefault("Anonymous")) / 1024.0;
    try
    {
        using var memory = JsonDocument.Parse(await http.GetStringAsync("/api/v1/metrics/memory"));
        var figures = memory.RootElement.GetProperty("memory");
        foreach (var name in serverFigures)
        {
            if (figures.TryGetProperty(name, out var value))
            {
                row[name.Replace("_bytes", "_mb", StringComparison.Ordinal)] = value.GetInt64() / 1048576.0;
            }
        }

        using var cache = JsonDocument.Parse(await http.GetStringAsync("/cache/stats"));
        if (cache.RootElement.TryGetProperty("size_bytes", out var cached))
        {
            row["cache_mb"] = cached.GetInt64() / 1048576.0;
        }
    }
    catch (HttpRequestException)
    {
        // the server's figures are missing from this row; /proc's are still there
    }

    // The query instance's buffer manager by tag (duckdb_memory(): an unrestricted token may read it).
    var (duck, _) = await Query("SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0 OR temporary_storage_bytes > 0");
    if (duck is not null)
    {
        using (duck)
        {
            var total = 0L;
            foreach (var tagRow in duck.RootElement.GetProperty("data").EnumerateArray())
            {
                total += tagRow[1].GetInt64();
                duckTags.Add($"{Math.Round(at, 1).ToString(CultureInfo.InvariantCulture)},{tagRow[0].GetString()},{tagRow[1].GetInt64()},{tagRow[2].GetInt64()}");
            }

            row["duckdb_mb"] = total / 1048576.0;
        }
    }

    var hours = Directory.Exists(Path.Combine(dataPath, database, "cpu"))
        ? Directory.EnumerateFiles(Path.Combine(dataPath, database, "cpu"), "*.parquet", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.')).GroupBy(f => Path.GetDirectoryName(f)).Select(g => g.Count()).ToList()
        : [];
    row["files"] = hours.Sum();
    row["hour_partitions"] = hours.Count;
    row["max_files_per_hour"] = hours.Count == 0 ? 0 : hours.Max();
    List<(double At, double Ms, bool Ok)> recent;
    lock (queries)
    {
        recent = queries.Skip(lastQuery).ToList();
        lastQuery = queries.Count;
    }

    row["queries"] = recent.Count;
    row["query_p50_ms"] = Percentile(recent.Where(q => q.Ok).Select(q => q.Ms), 0.5);
    row["query_p99_ms"] = Percentile(recent.Where(q => q.Ok).Select(q => q.Ms), 0.99);
    row["query_errors"] = recent.Count(q => !q.Ok);
    samples.Add(row);
    Console.WriteLine(string.Join(" ", columns.Select(c => Cell(c, row))));
    return row;
}

// The CPU time (clock ticks) of all the server's threads and of compaction's (named arc-compaction), from /proc.
static (long Total, long Compaction) ThreadTicks(int pid)
{
    var (total, compaction) = (0L, 0L);
    foreach (var task in Directory.Exists($"/proc/{pid}/task") ? Directory.EnumerateDirectories($"/proc/{pid}/task") : [])
    {
        try
        {
            var stat = File.ReadAllText(Path.Combine(task, "stat"));
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime, stime
            total += ticks;
            if (stat.Contains("(arc-compaction)", StringComparison.Ordinal))
            {
                compaction += ticks;
            }
        }
        catch (IOException)
        {
            // the thread ended meanwhile
        }
    }

    return (total, compaction);
}

static Dictionary<string, long> ProcFields(string path)
{
    var result = new Dictionary<string, long>();
    try
    {
        foreach (var line in File.ReadLines(path))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var parts = colon < 0 ? [] : line[(colon + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[1] == "kB")
            {
                result[line[..colon]] = long.Parse(parts[0], CultureInfo.InvariantCulture);
            }
        }
    }
    catch (IOException)
    {
        // the process is gone
    }

    return result;
}

static double Percentile(IEnumerable<double> source, double p)
{
    var sorted = source.Order().ToArray();
    return sorted.Length == 0 ? double.NaN : Math.Round(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)], 1);
}

static string Cell(string column, Dictionary<string, double> row)
{
    var width = Math.Max(column.Length, 7);
    var text = !row.TryGetValue(column, out var v) || double.IsNaN(v) ? "-" : v.ToString(column.EndsWith("_mb", StringComparison.Ordinal) ? "F0" : "0.#", CultureInfo.InvariantCulture);
    return text.PadLeft(width);
}

Console.WriteLine($"soak: {format}, {seconds:0} s, rate {(rate > 0 ? rate.ToString("N0", CultureInfo.InvariantCulture) + " points/s" : "unlimited")}, {hosts} hosts × {fields} fields, " +
    $"{clients} connections × {lines} points per request, data time {stepMs:0.###} ms per tick, query every {queryEvery.TotalSeconds:0.#} s over the last {window.TotalMinutes:0.#} min; results in {outDir}");
Console.WriteLine(string.Join(" ", columns.Select(c => c.PadLeft(Math.Max(c.Length, 7)))));
var writers = Enumerable.Range(0, clients).Select(_ => Task.Run(Writer)).ToArray();
var dashboard = Task.Run(Dashboard);
while (clock.Elapsed < duration)
{
    var wait = TimeSpan.FromSeconds(Math.Min(duration.TotalSeconds, (Math.Floor(clock.Elapsed / sampleEvery) + 1) * sampleEvery.TotalSeconds)) - clock.Elapsed;
    await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
    await Sample(clock.Elapsed.TotalSeconds);
}

await Task.WhenAll(writers);
stop.Cancel();
await dashboard;
var loadSeconds = clock.Elapsed.TotalSeconds;

// At rest: everything flushed (the server holds no buffered rows), then --rest-seconds idle.
var flushDeadline = Stopwatch.StartNew();
while (flushDeadline.Elapsed < TimeSpan.FromMinutes(5))
{
    using var ready = JsonDocument.Parse(await http.GetStringAsync("/ready"));
    if (ready.RootElement.GetProperty("buffered_rows").GetInt64() == 0)
    {
        break;
    }

    await Task.Delay(200);
}

var flushed = await Sample(clock.Elapsed.TotalSeconds);
await Task.Delay(TimeSpan.FromSeconds(restSeconds));
var rest = await Sample(clock.Elapsed.TotalSeconds);
var (counts, countError) = await Query("SELECT count(*) AS stored, count(DISTINCT (host, time)) AS distinct_points FROM cpu");
var stored = counts?.RootElement.GetProperty("data")[0][0].GetInt64() ?? -1;
var distinct = counts?.RootElement.GetProperty("data")[0][1].GetInt64() ?? -1;
var exactlyOnce = stored == distinct && (failedPoints == 0 ? stored == acked : stored >= acked && stored <= acked + failedPoints);

var thirds = Enumerable.Range(0, 3).Select(k =>
{
    var inThird = queries.Where(q => q.At >= loadSeconds * k / 3 && q.At < loadSeconds * (k + 1) / 3).ToList();
    return (Queries: inThird.Count, Errors: inThird.Count(q => !q.Ok),
        P50: Percentile(inThird.Where(q => q.Ok).Select(q => q.Ms), 0.5), P99: Percentile(inThird.Where(q => q.Ok).Select(q => q.Ms), 0.99));
}).ToArray();
var warm = samples.Where(s => s["t_s"] >= Math.Min(60, loadSeconds / 3) && s["t_s"] <= loadSeconds + 0.5).Select(s => s["rss_mb"]).ToList();
if (warm.Count == 0)
{
    warm = [samples[0]["rss_mb"]];
}

Console.WriteLine();
Console.WriteLine($"points: acknowledged {acked:N0} ({acked / loadSeconds:N0}/s), failed {failedPoints:N0} in {failedRequests} requests, " +
    $"stored {stored:N0}, distinct (host, time) {distinct:N0}: {(exactlyOnce ? "every acknowledged point stored exactly once" : "NOT EXACTLY ONCE")}");
foreach (var (failure, count) in failures)
{
    Console.WriteLine($"  write failure x{count}: {failure}");
}

if (countError is not null || queryError is not null)
{
    Console.WriteLine($"  query error: {countError ?? queryError}");
}

Console.WriteLine($"RSS: start {samples[0]["rss_mb"]:F0} MB, after warm-up {warm.Min():F0}–{warm.Max():F0} MB (±{(warm.Max() - warm.Min()) / 2 / ((warm.Max() + warm.Min()) / 2) * 100:F0} %), " +
    $"flushed {flushed["rss_mb"]:F0} MB, after {restSeconds:0} s at rest {rest["rss_mb"]:F0} MB");
var loaded = samples.Where(s => s["t_s"] >= Math.Min(60, loadSeconds / 3) && s["t_s"] <= loadSeconds + 0.5 && s.ContainsKey("cpu_cores")).ToList();
var (cpuCores, compactionCores) = loaded.Count == 0 ? (0.0, 0.0) : (loaded.Average(s => s["cpu_cores"]), loaded.Average(s => s["compaction_cores"]));
Console.WriteLine($"CPU after warm-up: the server {cpuCores:F2} cores, compaction's threads {compactionCores:F2} ({(cpuCores > 0 ? compactionCores / cpuCores * 100 : 0):F0} %)");
Console.WriteLine($"files: at the end {rest["files"]:0} in {rest["hour_partitions"]:0} hour partitions, most per hour during the run {samples.Max(s => s["max_files_per_hour"]):0}");
Console.WriteLine("dashboard query (ms):  third   queries  errors   p50      p99");
for (var k = 0; k < 3; k++)
{
    Console.WriteLine($"                       {k + 1}      {thirds[k].Queries,7} {thirds[k].Errors,7} {thirds[k].P50,7} {thirds[k].P99,8}");
}

await File.WriteAllLinesAsync(Path.Combine(outDir, "samples.csv"),
    [string.Join(',', columns), .. samples.Select(s => string.Join(',', columns.Select(c => s.TryGetValue(c, out var v) && !double.IsNaN(v) ? v.ToString("0.###", CultureInfo.InvariantCulture) : "")))]);
await File.WriteAllLinesAsync(Path.Combine(outDir, "duckdb_memory.csv"), duckTags);
using (var file = File.Create(Path.Combine(outDir, "summary.json")))
using (var json = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true }))
{
    json.WriteStartObject();
    json.WriteString("format", format);
    json.WriteNumber("seconds", Math.Round(loadSeconds, 1));
    json.WriteNumber("target_rate", rate);
    json.WriteNumber("hosts", hosts);
    json.WriteNumber("fields", fields);
    json.WriteNumber("clients", clients);
    json.WriteNumber("points_per_request", lines);
    json.WriteNumber("step_ms", stepMs);
    json.WriteNumber("acknowledged", acked);
    json.WriteNumber("points_per_s", Math.Round(acked / loadSeconds));
    json.WriteNumber("failed_points", failedPoints);
    json.WriteNumber("stored", stored);
    json.WriteNumber("distinct_points", distinct);
    json.WriteBoolean("exactly_once", exactlyOnce);
    json.WriteNumber("rss_start_mb", Math.Round(samples[0]["rss_mb"]));
    json.WriteNumber("rss_warm_min_mb", Math.Round(warm.Min()));
    json.WriteNumber("rss_warm_max_mb", Math.Round(warm.Max()));
    json.WriteNumber("rss_flushed_mb", Math.Round(flushed["rss_mb"]));
    json.WriteNumber("rss_rest_mb", Math.Round(rest["rss_mb"]));
    json.WriteNumber("files_end", rest["files"]);
    json.WriteNumber("cpu_cores", Math.Round(cpuCores, 2));
    json.WriteNumber("compaction_cores", Math.Round(compactionCores, 2));
    json.WriteNumber("max_files_per_hour", samples.Max(s => s["max_files_per_hour"]));
    json.WriteStartArray("query_thirds");
    foreach (var third in thirds)
    {
        json.WriteStartObject();
        json.WriteNumber("queries", third.Queries);
        json.WriteNumber("errors", third.Errors);
        json.WriteNumber("p50_ms", double.IsNaN(third.P50) ? -1 : third.P50);
        json.WriteNumber("p99_ms", double.IsNaN(third.P99) ? -1 : third.P99);
        json.WriteEndObject();
    }

    json.WriteEndArray();
    json.WriteEndObject();
}

return exactlyOnce ? 0 : 1;

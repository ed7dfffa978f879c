using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Arc.Benchmarking;
using Arc.Testing;

// Ingest benchmark against peers (scripts/ingest-bench.sh drives it). Pre-generates Telegraf-like `cpu` bodies (line
// protocol and the same points as arc-native MessagePack columnar), then for each system: start it on loopback with its
// data in a fresh temporary directory, replay every body once over N keep-alive connections, report lines/s, values/s,
// MB/s and p50/p99 per request, let it settle, stop it, and measure its bytes on disk per value.
//   Arc.IngestBench --binary artifacts/publish/arc-native [--systems arc-lp,arc-msgpack,influxdb,victoriametrics]
//       [--lines 2000000] [--batch 5000] [--hosts 1000] [--cpus 4] [--connections 4] [--rounds 1] [--settle 120] [--out FILE]
//       [--baseline OTHER-BINARY] [--no-settle]
// --baseline adds the systems base-lp and base-msgpack (another arc-native binary, e.g. the previous commit's) to compare
// a change in the same run; --no-settle measures only the ingest (no flush, restart, compaction or bytes on disk).
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i < args.Length; i++)
{
    options[args[i].TrimStart('-')] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
}

var inv = CultureInfo.InvariantCulture;
int Int(string key, int fallback) => options.TryGetValue(key, out var v) ? int.Parse(v, inv) : fallback;
var lines = Int("lines", 2_000_000);
var batch = Int("batch", 5000);
var hosts = Int("hosts", 1000);
var cpus = Int("cpus", 4);
var connections = Int("connections", 4);
var rounds = Int("rounds", 1);
var settleSeconds = Int("settle", 120);
var binary = Path.GetFullPath(options.GetValueOrDefault("binary", "artifacts/publish/arc-native"));
var baseline = options.TryGetValue("baseline", out var baselinePath) ? Path.GetFullPath(baselinePath) : null;
var settleDisk = !options.ContainsKey("no-settle");
var systems = options.GetValueOrDefault("systems", "arc-lp,arc-msgpack,influxdb,victoriametrics" + (baseline is null ? "" : ",base-lp,base-msgpack")).Split(',');
var work = Path.Combine(Path.GetTempPath(), "arc-ingest-bench-" + Environment.ProcessId.ToString(inv));

var data = Dataset.Build(lines, batch, hosts, cpus);
Console.WriteLine(string.Create(inv,
    $"data: {lines:N0} lines ({lines * 10L:N0} values) of cpu (hosts {hosts}, cpus {cpus}, tags cpu/host/region, 10 float fields), {data.LineProtocol.Count} bodies of {batch} lines; line protocol {data.LineProtocolBytes / 1e6:F1} MB, MessagePack columnar {data.MsgPackBytes / 1e6:F1} MB; {connections} connections"));

var results = new List<Measurement>();
for (var round = 0; round < rounds; round++)
{
    foreach (var name in systems)
    {
        var directory = Path.Combine(work, $"{name}-{round}");
        Directory.CreateDirectory(directory);
        using ISystem system = name switch
        {
            "arc-lp" => new ArcSystem(binary, directory, msgpack: false),
            "arc-msgpack" => new ArcSystem(binary, directory, msgpack: true),
            "base-lp" => new ArcSystem(baseline ?? throw new ArgumentException("base-lp needs --baseline"), directory, msgpack: false, "base-lp"),
            "base-msgpack" => new ArcSystem(baseline ?? throw new ArgumentException("base-msgpack needs --baseline"), directory, msgpack: true, "base-msgpack"),
            "influxdb" => new InfluxSystem(directory),
            "victoriametrics" => new VictoriaSystem(directory),
            _ => throw new ArgumentException("unknown system " + name),
        };
        await system.StartAsync();
        var bodies = system is ArcSystem { MsgPack: true } ? data.MsgPack : data.LineProtocol;
        var cpuBefore = system.CpuSeconds;
        var m = await Replay.RunAsync(system, bodies, batch, connections);
        m = m with { CpuSeconds = system.CpuSeconds - cpuBefore };
        Console.WriteLine(string.Create(inv,
            $"{name}: {m.Lines / m.Seconds:N0} lines/s, {m.Lines * 10 / m.Seconds:N0} values/s, {m.Bytes / m.Seconds / 1e6:F1} MB/s, p50 {m.P50 * 1000:F1} ms, p99 {m.P99 * 1000:F1} ms per request ({m.Seconds:F1} s); server CPU {m.CpuSeconds:F2} s = {m.CpuSeconds * 1e9 / m.Lines:F0} ns/line"));
        if (!settleDisk)
        {
            system.Stop();
            results.Add(m with { System = name, Round = round, SettleNote = "not settled" });
            Directory.Delete(directory, recursive: true);
            continue;
        }

        var settle = Stopwatch.StartNew();
        var disk = await system.SettleAsync(TimeSpan.FromSeconds(settleSeconds));
        system.Stop();
        var final = DiskBytes(system.DataDirectory);
        var parts = Breakdown(system.DataDirectory);
        Console.WriteLine(string.Create(inv,
            $"{name}: settled in {settle.Elapsed.TotalSeconds:F0} s: {disk.Note}; on disk after stop {final:N0} B = {(double)final / (m.Lines * 10):F2} B/value ({parts})"));
        results.Add(m with { System = name, Round = round, DiskBytes = final, SettleNote = disk.Note + "; " + parts });
        Directory.Delete(directory, recursive: true);
    }
}

var report = Report(results, lines, batch, hosts, cpus, connections);
Console.WriteLine(report);
if (options.TryGetValue("out", out var outPath))
{
    File.WriteAllText(outPath, report);
}

try
{
    Directory.Delete(work, recursive: true);
}
catch (IOException)
{
}

return 0;

static string Breakdown(string directory) => Directory.Exists(directory)
    ? string.Join(", ", Directory.GetDirectories(directory).Select(d => (Name: Path.GetFileName(d), Bytes: DiskBytes(d))).Where(p => p.Bytes > 0)
        .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {p.Bytes:N0} B")))
    : "";

static long DiskBytes(string directory) =>
    Directory.Exists(directory) ? Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) : 0;

string Report(List<Measurement> all, int lineCount, int batchSize, int hostCount, int cpuCount, int connectionCount)
{
    var best = all.GroupBy(r => r.System).ToDictionary(g => g.Key, g => g.OrderBy(r => r.Seconds).First());
    var s = new StringBuilder();
    s.Append(inv, $"## Ingest: {lineCount:N0} Telegraf-like cpu lines ({lineCount * 10L:N0} values), {batchSize:N0} lines per request, {hostCount} hosts x {cpuCount} cpus, {connectionCount} connections ({DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores)\n\n");
    s.Append("| System | lines/s | values/s | MB/s | p50 / p99 per request | server CPU per line (median of rounds) | bytes on disk | bytes/value | after settling |\n|---|---|---|---|---|---|---|---|---|\n");
    foreach (var (name, m) in best)
    {
        var cpu = all.Where(r => r.System == name).Select(r => r.CpuSeconds * 1e9 / r.Lines).Order().ToList();
        s.Append(inv, $"| {name} | {m.Lines / m.Seconds:N0} | {m.Lines * 10 / m.Seconds:N0} | {m.Bytes / m.Seconds / 1e6:F1} | {m.P50 * 1000:F1} / {m.P99 * 1000:F1} ms | {cpu[cpu.Count / 2]:F0} ns | {m.DiskBytes:N0} | {(double)m.DiskBytes / (m.Lines * 10):F2} | {m.SettleNote} |\n");
    }

    s.Append('\n');
    foreach (var arcName in new[] { "arc-lp", "arc-msgpack", "base-lp", "base-msgpack" })
    {
        if (!best.TryGetValue(arcName, out var arcRun))
        {
            continue;
        }

        foreach (var peer in new[] { "influxdb", "victoriametrics" })
        {
            if (best.TryGetValue(peer, out var peerRun))
            {
                s.Append(inv, $"- {arcName} / {peer}: lines/s x{peerRun.Seconds / arcRun.Seconds:F2}, bytes/value x{(double)arcRun.DiskBytes / Math.Max(1, peerRun.DiskBytes):F2}\n");
            }
        }
    }

    foreach (var (a, b) in new[] { ("arc-msgpack", "arc-lp"), ("base-msgpack", "base-lp"), ("arc-lp", "base-lp"), ("arc-msgpack", "base-msgpack") })
    {
        if (best.TryGetValue(a, out var ra) && best.TryGetValue(b, out var rb))
        {
            s.Append(inv, $"- {a} / {b}: lines/s x{rb.Seconds / ra.Seconds:F2}\n");
        }
    }

    if (rounds > 1)
    {
        // Per round, so the spread shows: each ratio from systems that ran next to each other.
        foreach (var (a, b) in new[] { ("arc-lp", "victoriametrics"), ("arc-msgpack", "arc-lp"), ("arc-lp", "base-lp"), ("arc-msgpack", "base-msgpack"), ("base-lp", "victoriametrics") })
        {
            var ratios = Enumerable.Range(0, rounds)
                .Select(r => (A: all.FirstOrDefault(m => m.System == a && m.Round == r), B: all.FirstOrDefault(m => m.System == b && m.Round == r)))
                .Where(p => p.A is not null && p.B is not null)
                .ToList();
            if (ratios.Count > 0)
            {
                s.Append(inv, $"- {a} / {b} per round: lines/s x{string.Join(", x", ratios.Select(p => (p.B!.Seconds / p.A!.Seconds).ToString("F2", inv)))}; " +
                              $"server CPU per line x{string.Join(", x", ratios.Select(p => (p.A!.CpuSeconds / p.A.Lines / (p.B!.CpuSeconds / p.B.Lines)).ToString("F2", inv)))}\n");
            }
        }
    }

    if (rounds > 1)
    {
        s.Append(inv, $"\n(best of {rounds} rounds per system; rounds interleave the systems)\n");
    }

    return s.ToString();
}

/// <param name="CpuSeconds">The server's CPU time (user and system) during the replay: what the work costs, whatever else runs on the machine.</param>
internal sealed record Measurement(string System, int Round, long Lines, long Bytes, double Seconds, double P50, double P99, long DiskBytes, string SettleNote,
    double CpuSeconds = 0);

internal sealed record SettleResult(string Note);

/// <summary>The same points as line protocol and as arc-native MessagePack columnar bodies.</summary>
internal sealed class Dataset
{
    private static readonly string[] Regions = ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1", "sa-east-1"];

    private static readonly string[] Fields =
        ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"];

    public List<byte[]> LineProtocol { get; } = [];

    public List<byte[]> MsgPack { get; } = [];

    public long LineProtocolBytes => LineProtocol.Sum(b => (long)b.Length);

    public long MsgPackBytes => MsgPack.Sum(b => (long)b.Length);

    /// <summary>
    /// Points every 10 s for each (host, cpu), in time order, ending an hour before the current hour (inside every system's
    /// retention, and in hours arc-native's hourly compaction may merge). Values as Telegraf's cpu plugin prints them.
    /// </summary>
    public static Dataset Build(int lines, int batch, int hosts, int cpus)
    {
        var series = hosts * cpus;
        var steps = (lines + series - 1) / series;
        var end = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 3600 * 3600) - 3600;
        var start = end - (steps * 10L);
        var random = new Random(20240601);
        var data = new Dataset();
        var text = new StringBuilder(batch * 260);
        var values = new double[batch, Fields.Length];
        var keys = new (int Host, int Cpu, long Time)[batch];
        var inBatch = 0;
        for (var i = 0; i < lines; i++)
        {
            var step = i / series;
            var s = i % series;
            var host = s / cpus;
            var cpu = s % cpus;
            var time = (start + (step * 10L)) * 1_000_000_000L;
            var user = Percent(random, 2, 35);
            var system = Percent(random, 0.5, 8);
            var iowait = random.Next(4) == 0 ? Percent(random, 0, 2) : 0;
            var softirq = random.Next(3) == 0 ? Percent(random, 0, 0.6) : 0;
            var steal = random.Next(10) == 0 ? Percent(random, 0, 0.3) : 0;
            double[] row = [user, system, 100 - user - system - iowait - softirq - steal, 0, iowait, 0, softirq, steal, 0, 0];
            text.Append("cpu,cpu=cpu").Append(cpu).Append(",host=host-").Append(host.ToString("D4", CultureInfo.InvariantCulture))
                .Append(",region=").Append(Regions[host % Regions.Length]).Append(' ');
            for (var f = 0; f < Fields.Length; f++)
            {
                text.Append(f == 0 ? "" : ",").Append(Fields[f]).Append('=').Append(row[f].ToString("R", CultureInfo.InvariantCulture));
                values[inBatch, f] = row[f];
            }

            text.Append(' ').Append(time).Append('\n');
            keys[inBatch++] = (host, cpu, time);
            if (inBatch == batch || i == lines - 1)
            {
                data.LineProtocol.Add(Encoding.UTF8.GetBytes(text.ToString()));
                data.MsgPack.Add(Columnar(keys, values, inBatch));
                text.Clear();
                inBatch = 0;
            }
        }

        return data;
    }

    private static byte[] Columnar((int Host, int Cpu, long Time)[] keys, double[,] values, int count)
    {
        var w = new MsgPackBodyWriter();
        w.Map(3).Str("m").Str("cpu").Str("tags").Array(3).Str("cpu").Str("host").Str("region").Str("columns").Map(4 + Fields.Length);
        w.Str("time").Array(count);
        for (var i = 0; i < count; i++)
        {
            w.Int64(keys[i].Time);
        }

        w.Str("cpu").Array(count);
        for (var i = 0; i < count; i++)
        {
            w.Str("cpu" + keys[i].Cpu.ToString(CultureInfo.InvariantCulture));
        }

        w.Str("host").Array(count);
        for (var i = 0; i < count; i++)
        {
            w.Str("host-" + keys[i].Host.ToString("D4", CultureInfo.InvariantCulture));
        }

        w.Str("region").Array(count);
        for (var i = 0; i < count; i++)
        {
            w.Str(Regions[keys[i].Host % Regions.Length]);
        }

        for (var f = 0; f < Fields.Length; f++)
        {
            w.Str(Fields[f]).Array(count);
            for (var i = 0; i < count; i++)
            {
                w.Float64(values[i, f]);
            }
        }

        return w.ToArray();
    }

    private static double Percent(Random random, double min, double max)
    {
        var total = random.Next(995, 1005);
        var part = (int)Math.Round(total * (min + (random.NextDouble() * (max - min))) / 100);
        return 100.0 * part / total;
    }
}

/// <summary>Replays every body once over N keep-alive connections; per-request latency is send to response.</summary>
internal static class Replay
{
    public static async Task<Measurement> RunAsync(ISystem system, List<byte[]> bodies, int batch, int connections)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = system.BaseAddress,
            Timeout = TimeSpan.FromMinutes(5),
        };
        var latencies = new double[bodies.Count];
        var next = -1;
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < bodies.Count)
            {
                var started = clock.Elapsed.TotalSeconds;
                for (var attempt = 0; ; attempt++)
                {
                    using var request = system.WriteRequest(bodies[i]);
                    using var response = await http.SendAsync(request);
                    if (response.IsSuccessStatusCode)
                    {
                        break;
                    }

                    if (response.StatusCode != HttpStatusCode.ServiceUnavailable || attempt > 300)
                    {
                        throw new InvalidOperationException($"{system.Name}: write failed {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    }

                    await Task.Delay(200); // backpressure (arc-native 503 + Retry-After): counted in the time
                }

                latencies[i] = clock.Elapsed.TotalSeconds - started;
                Interlocked.Add(ref bytes, bodies[i].Length);
            }
        }));
        var seconds = clock.Elapsed.TotalSeconds;
        var sorted = latencies.Order().ToArray();
        var totalLines = bodies.Count == 0 ? 0 : ((long)(bodies.Count - 1) * batch) + LastBodyLines(system, bodies[^1], batch);
        return new Measurement(system.Name, 0, totalLines, bytes, seconds, sorted[sorted.Length / 2], sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))], 0, "");
    }

    private static long LastBodyLines(ISystem system, byte[] body, int batch) =>
        system is ArcSystem { MsgPack: true } ? batch : body.Count(b => b == (byte)'\n');
}

internal interface ISystem : IDisposable
{
    string Name { get; }

    Uri BaseAddress { get; }

    string DataDirectory { get; }

    /// <summary>CPU seconds the server process has used so far (user and system).</summary>
    double CpuSeconds { get; }

    Task StartAsync();

    HttpRequestMessage WriteRequest(byte[] body);

    /// <summary>Waits until the system's files stop changing (its background work is done), at most <paramref name="limit"/>.</summary>
    Task<SettleResult> SettleAsync(TimeSpan limit);

    void Stop();
}

/// <summary>A server process on loopback, started with its data in a fresh directory and stopped with SIGTERM.</summary>
internal abstract class ServerSystem(string name, string directory) : ISystem
{
    private Process? _process;

    public string Name { get; } = name;

    public int Port { get; } = ServerProcesses.FreePort();

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");

    public string Directory { get; } = directory;

    public abstract string DataDirectory { get; }

    public double CpuSeconds
    {
        get
        {
            _process?.Refresh();
            return _process?.TotalProcessorTime.TotalSeconds ?? 0;
        }
    }

    protected abstract string ReadyPath { get; }

    public async Task StartAsync()
    {
        var info = StartInfo();
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        info.WorkingDirectory = Directory;
        var log = new StreamWriter(Path.Combine(Directory, "server.log")) { AutoFlush = true };
        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + info.FileName);
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}; see {Directory}/server.log");
            }

            try
            {
                using var response = await http.GetAsync(ReadyPath);
                if (response.IsSuccessStatusCode)
                {
                    await AfterStartAsync(http);
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(50);
        }

        throw new TimeoutException(Name + " did not become ready");
    }

    public abstract HttpRequestMessage WriteRequest(byte[] body);

    public virtual async Task<SettleResult> SettleAsync(TimeSpan limit)
    {
        // Files unchanged for 10 s in a row.
        var clock = Stopwatch.StartNew();
        var last = -1L;
        var stableSince = clock.Elapsed;
        while (clock.Elapsed < limit)
        {
            var now = Snapshot();
            if (now != last)
            {
                last = now;
                stableSince = clock.Elapsed;
            }
            else if (clock.Elapsed - stableSince >= TimeSpan.FromSeconds(10))
            {
                return new SettleResult($"files stable after {clock.Elapsed.TotalSeconds:F0} s");
            }

            await Task.Delay(1000);
        }

        return new SettleResult($"files still changing after {limit.TotalSeconds:F0} s");
    }

    public void Stop()
    {
        if (_process is null)
        {
            return;
        }

        ServerProcesses.Stop(_process, TimeSpan.FromMinutes(3));
        _process = null;
    }

    public void Dispose() => Stop();

    protected abstract ProcessStartInfo StartInfo();

    protected virtual Task AfterStartAsync(HttpClient http) => Task.CompletedTask;

    /// <summary>A fingerprint of the data directory: total bytes and file count.</summary>
    protected long Snapshot()
    {
        if (!System.IO.Directory.Exists(DataDirectory))
        {
            return 0;
        }

        var files = System.IO.Directory.GetFiles(DataDirectory, "*", SearchOption.AllDirectories);
        long sum = files.Length;
        foreach (var file in files)
        {
            try
            {
                sum = (sum * 31) + new FileInfo(file).Length;
            }
            catch (IOException)
            {
            }
        }

        return sum;
    }
}

/// <summary>arc-native (the AOT binary) with its defaults: WAL on (fdatasync), ZSTD Parquet. Line protocol or MessagePack columnar.</summary>
internal sealed class ArcSystem(string binary, string directory, bool msgpack, string? name = null)
    : ServerSystem(name ?? (msgpack ? "arc-msgpack" : "arc-lp"), directory)
{
    private const string Token = "arc_ingest-bench-token-0123456789abcdefghij";

    public bool MsgPack { get; } = msgpack;

    public override string DataDirectory => Path.Combine(Directory, "data");

    protected override string ReadyPath => "/ready";

    public override HttpRequestMessage WriteRequest(byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, MsgPack ? "/api/v1/write/msgpack" : "/write?db=bench&precision=ns")
        {
            Content = new ByteArrayContent(body),
        };
        request.Headers.Add("x-arc-database", "bench");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        return request;
    }

    /// <summary>Flushed (no buffered rows), restarted (ends the write-ahead log), hourly compaction run through the API.</summary>
    public override async Task<SettleResult> SettleAsync(TimeSpan limit)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(10) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        var clock = Stopwatch.StartNew();
        while (!(await http.GetStringAsync("/ready")).Contains("\"buffered_rows\":0", StringComparison.Ordinal) && clock.Elapsed < limit)
        {
            await Task.Delay(200);
        }

        Stop();
        var flushed = DirectoryBytes(DataDirectory);
        await StartAsync();
        using var response = await http.PostAsync("/api/v1/compaction/trigger?tier=hourly&wait=true", null);
        var body = await response.Content.ReadAsStringAsync();
        var jobs = body.Split("\"succeeded\":true").Length - 1;
        return new SettleResult(string.Create(CultureInfo.InvariantCulture,
            $"flushed ({flushed:N0} B), then hourly compaction: {jobs} jobs"));
    }

    protected override ProcessStartInfo StartInfo()
    {
        var info = new ProcessStartInfo(binary);
        info.Environment["ARC_AUTH_BOOTSTRAP_TOKEN"] = Token;
        info.Environment["ARC_SERVER_HOST"] = "127.0.0.1";
        info.Environment["ARC_SERVER_PORT"] = Port.ToString(CultureInfo.InvariantCulture);
        info.Environment["ARC_STORAGE_LOCAL_PATH"] = DataDirectory;
        info.Environment["ARC_AUTH_DB_PATH"] = Path.Combine(Directory, "arc.db");
        info.Environment["ARC_LOG_LEVEL"] = "warn";
        info.Environment["ARC_COMPACTION_ENABLED"] = "false";
        return info;
    }

    private static long DirectoryBytes(string directory) =>
        System.IO.Directory.Exists(directory) ? System.IO.Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) : 0;
}

/// <summary>
/// InfluxDB 1.x (Debian's influxd) with its defaults except the paths, loopback addresses, no reporting or self-monitoring,
/// and a 5 s cold-cache snapshot so its write-ahead log turns into TSM files while the benchmark waits (the default is 10 min).
/// </summary>
internal sealed class InfluxSystem(string directory) : ServerSystem("influxdb", directory)
{
    private readonly int _rpcPort = ServerProcesses.FreePort();

    public override string DataDirectory => Path.Combine(Directory, "influxdb");

    protected override string ReadyPath => "/ping";

    public override HttpRequestMessage WriteRequest(byte[] body) =>
        new(HttpMethod.Post, "/write?db=bench&precision=ns") { Content = new ByteArrayContent(body) };

    protected override ProcessStartInfo StartInfo()
    {
        var config = Path.Combine(Directory, "influxdb.conf");
        File.WriteAllText(config, $"""
            reporting-disabled = true
            bind-address = "127.0.0.1:{_rpcPort}"
            [meta]
              dir = "{DataDirectory}/meta"
            [data]
              dir = "{DataDirectory}/data"
              wal-dir = "{DataDirectory}/wal"
              query-log-enabled = false
              cache-snapshot-write-cold-duration = "5s"
            [monitor]
              store-enabled = false
            [http]
              bind-address = "127.0.0.1:{Port}"
              log-enabled = false
            [continuous_queries]
              enabled = false
            """);
        return new ProcessStartInfo("influxd") { ArgumentList = { "-config", config } };
    }

    protected override async Task AfterStartAsync(HttpClient http)
    {
        using var response = await http.PostAsync("/query?q=" + Uri.EscapeDataString("CREATE DATABASE bench"), null);
        response.EnsureSuccessStatusCode();
    }
}

/// <summary>VictoriaMetrics single-node (Debian's victoria-metrics) with its defaults except the path, address and a retention long enough for the data.</summary>
internal sealed class VictoriaSystem(string directory) : ServerSystem("victoriametrics", directory)
{
    public override string DataDirectory => Path.Combine(Directory, "victoria-metrics-data");

    protected override string ReadyPath => "/health";

    public override HttpRequestMessage WriteRequest(byte[] body) =>
        new(HttpMethod.Post, "/write?db=bench&precision=ns") { Content = new ByteArrayContent(body) };

    protected override ProcessStartInfo StartInfo() => new("victoria-metrics")
    {
        ArgumentList =
        {
            "-storageDataPath=" + DataDirectory, "-httpListenAddr=127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture),
            "-retentionPeriod=100y", "-loggerLevel=WARN",
        },
    };
}

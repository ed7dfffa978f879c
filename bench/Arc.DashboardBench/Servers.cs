using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Arc.Benchmarking;

namespace Arc.DashboardBench;

/// <summary>A measured server on loopback with its data in a fresh directory; stopped with SIGTERM.</summary>
internal abstract class ServerProcess : IDisposable
{
    private Process? _process;

    protected ServerProcess(string name, string directory)
    {
        Name = name;
        Directory = directory;
        Http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 8, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(30) })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{Port}"),
            Timeout = TimeSpan.FromMinutes(30),
        };
    }

    public string Name { get; }

    public int Port { get; } = ServerProcesses.FreePort();

    public string Directory { get; }

    public HttpClient Http { get; }

    public abstract string DataDirectory { get; }

    protected abstract string ReadyPath { get; }

    public async Task StartAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        var info = StartInfo();
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        info.WorkingDirectory = Directory;
        var log = new StreamWriter(Path.Combine(Directory, "server.log"), append: true) { AutoFlush = true };
        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + info.FileName);
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}; see {Directory}/server.log");
            }

            try
            {
                using var response = await Http.GetAsync(ReadyPath);
                if (response.IsSuccessStatusCode)
                {
                    await AfterStartAsync();
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(50);
        }

        throw new TimeoutException(Name + " did not become ready");
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

    public void Dispose()
    {
        Stop();
        Http.Dispose();
    }

    /// <summary>One line-protocol body through the system's <c>/write</c>; a 503 (backpressure) is retried.</summary>
    public async Task WriteAsync(byte[] body)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = WriteRequest(body);
            using var response = await Http.SendAsync(request);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            if (response.StatusCode != HttpStatusCode.ServiceUnavailable || attempt > 600)
            {
                throw new InvalidOperationException($"{Name}: write failed {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }

            await Task.Delay(500);
        }
    }

    /// <summary>Sends every body once over <paramref name="connections"/> keep-alive connections; returns the seconds it took.</summary>
    public async Task<double> WriteAllAsync(IEnumerable<byte[]> bodies, int connections)
    {
        var clock = Stopwatch.StartNew();
        using var source = bodies.GetEnumerator();
        var gate = new object();
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
        {
            while (true)
            {
                byte[] body;
                lock (gate)
                {
                    if (!source.MoveNext())
                    {
                        return;
                    }

                    body = source.Current;
                }

                await WriteAsync(body);
            }
        }));
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>One query, timed from sending the request to the last byte of the response.</summary>
    public async Task<(double Seconds, byte[] Body)> QueryAsync(string text)
    {
        using var request = QueryRequest(text);
        var clock = Stopwatch.StartNew();
        using var response = await Http.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        var seconds = clock.Elapsed.TotalSeconds;
        if (!response.IsSuccessStatusCode)
        {
            throw new QueryFailedException($"{Name}: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)} in: {text}");
        }

        return (seconds, body);
    }

    /// <summary>Total bytes and number of files under <paramref name="directory"/> whose name ends with <paramref name="suffix"/>.</summary>
    public static (long Bytes, int Files) Usage(string directory, string suffix = "")
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return (0, 0);
        }

        var files = System.IO.Directory.GetFiles(directory, "*" + suffix, SearchOption.AllDirectories);
        return (files.Sum(f => new FileInfo(f).Length), files.Length);
    }

    protected abstract ProcessStartInfo StartInfo();

    protected abstract HttpRequestMessage WriteRequest(byte[] body);

    protected abstract HttpRequestMessage QueryRequest(string text);

    protected virtual Task AfterStartAsync() => Task.CompletedTask;
}

internal sealed class QueryFailedException(string message) : Exception(message);

/// <summary>
/// arc-native (the AOT binary) with its defaults except: loopback, scheduled compaction off (the harness triggers it, and
/// the file list raw DuckDB reads must not change under it), and the result cache off unless asked for (in the default
/// literal form each request's SQL differs anyway; with the now() forms the cache would answer from memory).
/// </summary>
internal sealed class ArcServer(string binary, string directory, bool resultCache) : ServerProcess("arc-native", directory)
{
    public const string Database = "bench";
    private const string Token = "arc_dashboard-bench-token-0123456789abcdef";

    public override string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>Where the measurement's Parquet tree is.</summary>
    public string MeasurementDirectory => Path.Combine(DataDirectory, Database, "cpu");

    protected override string ReadyPath => "/ready";

    public async Task<JsonDocument> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode ? JsonDocument.Parse(text) : throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode} {text}");
    }

    /// <summary>Waits until no row is buffered (every acknowledged row is in a Parquet file).</summary>
    public async Task<double> WaitFlushedAsync()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var ready = await GetJsonAsync("/ready");
            if (ready.RootElement.GetProperty("buffered_rows").GetInt64() == 0)
            {
                return clock.Elapsed.TotalSeconds;
            }

            if (clock.Elapsed > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException("arc-native: rows still buffered after 10 minutes: " + ready.RootElement.GetRawText());
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Hourly, then daily compaction twice (a day with more inputs than a job takes is merged in two steps), each through
    /// <c>POST /api/v1/compaction/trigger?wait=true</c>; then no job may be running. Returns the jobs and what is left as candidates.
    /// </summary>
    public async Task<(int Jobs, string Left)> CompactAsync()
    {
        var jobs = 0;
        foreach (var tier in new[] { "hourly", "daily", "daily" })
        {
            using var response = await Http.PostAsync($"/api/v1/compaction/trigger?tier={tier}&database={Database}&wait=true", null);
            var text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"compaction trigger {tier}: {(int)response.StatusCode} {text}");
            }

            using var json = JsonDocument.Parse(text);
            foreach (var job in json.RootElement.GetProperty("jobs").EnumerateArray())
            {
                jobs++;
                if (!job.GetProperty("succeeded").GetBoolean())
                {
                    throw new InvalidOperationException("compaction job failed: " + job.GetRawText());
                }
            }
        }

        using (var running = await GetJsonAsync("/api/v1/compaction/jobs"))
        {
            if (running.RootElement.GetProperty("active_jobs").GetInt32() > 0)
            {
                throw new InvalidOperationException("compaction jobs still running after the triggers: " + running.RootElement.GetRawText());
            }
        }

        using var left = await GetJsonAsync($"/api/v1/compaction/candidates?database={Database}");
        var partitions = left.RootElement.GetProperty("candidates").EnumerateArray()
            .Select(c => c.GetProperty("tier").GetString() + " " + c.GetProperty("partition_path").GetString()).ToList();
        return (jobs, partitions.Count == 0 ? "none" : string.Join(", ", partitions));
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
        info.Environment["ARC_CACHE_ENABLED"] = resultCache ? "true" : "false";
        return info;
    }

    protected override HttpRequestMessage WriteRequest(byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/write?db={Database}&precision=s") { Content = new ByteArrayContent(body) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        return request;
    }

    protected override HttpRequestMessage QueryRequest(string text)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/query")
        {
            Content = new StringContent(JsonSerializer.Serialize(new QueryBody(text), BenchJson.Default.QueryBody), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-arc-database", Database);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        return request;
    }

    protected override Task AfterStartAsync()
    {
        Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        return Task.CompletedTask;
    }
}

/// <summary>
/// InfluxDB 1.x (Debian's influxd) with its defaults except the paths, loopback addresses, no reporting, self-monitoring or
/// query log, and a 5 s cold-cache snapshot so the loaded history is in TSM files when the panels run (as in the ingest
/// benchmark; the default is 10 min). Queries as Grafana's InfluxDB data source sends them: <c>GET /query?db=…&amp;epoch=ms&amp;q=…</c>.
/// </summary>
internal sealed class InfluxServer(string directory) : ServerProcess("influxdb", directory)
{
    private readonly int _rpcPort = ServerProcesses.FreePort();

    public override string DataDirectory => Path.Combine(Directory, "influxdb");

    protected override string ReadyPath => "/ping";

    /// <summary>Waits until the data directory has not changed for 10 s in a row (snapshots and compactions done).</summary>
    public async Task<double> SettleAsync(TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        var last = (-1L, -1);
        var stableSince = clock.Elapsed;
        while (clock.Elapsed < limit)
        {
            var now = Usage(DataDirectory);
            if (now != last)
            {
                last = now;
                stableSince = clock.Elapsed;
            }
            else if (clock.Elapsed - stableSince >= TimeSpan.FromSeconds(10))
            {
                return clock.Elapsed.TotalSeconds;
            }

            await Task.Delay(1000);
        }

        Console.WriteLine($"influxdb: files still changing after {limit.TotalSeconds:F0} s; going on");
        return clock.Elapsed.TotalSeconds;
    }

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

    protected override HttpRequestMessage WriteRequest(byte[] body) =>
        new(HttpMethod.Post, "/write?db=bench&precision=s") { Content = new ByteArrayContent(body) };

    protected override HttpRequestMessage QueryRequest(string text) =>
        new(HttpMethod.Get, "/query?db=bench&epoch=ms&q=" + Uri.EscapeDataString(text));

    protected override async Task AfterStartAsync()
    {
        using var response = await Http.PostAsync("/query?q=" + Uri.EscapeDataString("CREATE DATABASE bench"), null);
        response.EnsureSuccessStatusCode();
    }
}

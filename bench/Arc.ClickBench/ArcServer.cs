using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Arc.Benchmarking;

namespace Arc.ClickBench;

/// <summary>The published arc-native binary on loopback, with its data in <c>{work}/data</c>; started and stopped (SIGTERM) at will.</summary>
internal sealed class ArcServer : IDisposable
{
    public const string Token = "arc_clickbench-harness-token-0123456789abcdef";
    public const string Database = "clickbench";
    private readonly string _binary;
    private readonly string _work;
    private readonly Dictionary<string, string> _settings;
    private Process? _process;

    public ArcServer(string binary, string work, Dictionary<string, string> settings)
    {
        _binary = binary;
        _work = work;
        _settings = settings;
        Port = ServerProcesses.FreePort();
        Http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{Port}"),
            Timeout = TimeSpan.FromMinutes(30),
        };
        Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
    }

    public int Port { get; }

    public HttpClient Http { get; }

    public string DataPath => Path.Combine(_work, "data", "arc");

    public async Task StartAsync()
    {
        Directory.CreateDirectory(_work);
        var info = new ProcessStartInfo(_binary)
        {
            WorkingDirectory = _work,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ARC_AUTH_BOOTSTRAP_TOKEN"] = Token;
        info.Environment["ARC_SERVER_HOST"] = "127.0.0.1";
        info.Environment["ARC_SERVER_PORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["ARC_STORAGE_LOCAL_PATH"] = DataPath;
        info.Environment["ARC_AUTH_DB_PATH"] = Path.Combine(_work, "data", "arc.db");
        info.Environment["ARC_LOG_LEVEL"] = "warn";
        foreach (var (key, value) in _settings)
        {
            info.Environment[key] = value;
        }

        var log = new StreamWriter(Path.Combine(_work, "server.log"), append: true) { AutoFlush = true };
        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + _binary);
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"arc-native exited with {_process.ExitCode}; see {_work}/server.log");
            }

            try
            {
                using var response = await Http.GetAsync("/ready");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(25);
        }

        throw new TimeoutException("arc-native did not become ready");
    }

    /// <summary>SIGTERM (requests drained, buffers flushed) and wait for the exit.</summary>
    public void Stop()
    {
        if (_process is null)
        {
            return;
        }

        ServerProcesses.Stop(_process, TimeSpan.FromMinutes(5));
        _process = null;
    }

    public async Task<JsonDocument> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode} {text}");
        }

        return JsonDocument.Parse(text);
    }

    public async Task<JsonDocument> PostJsonAsync(string path)
    {
        using var response = await Http.PostAsync(path, null);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode} {text}");
        }

        return JsonDocument.Parse(text);
    }

    /// <summary>One query through <c>POST /api/v1/query</c> (JSON output), timed from send to the last byte of the response.</summary>
    public async Task<(double Seconds, QueryResult Result)> QueryAsync(string sql)
    {
        var body = JsonSerializer.Serialize(new QueryRequest(sql, Database), HarnessJson.Default.QueryRequest);
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        var clock = Stopwatch.StartNew();
        using var response = await Http.PostAsync("/api/v1/query", content);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var seconds = clock.Elapsed.TotalSeconds;
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"query failed: {(int)response.StatusCode} {Encoding.UTF8.GetString(bytes)} in: {sql}");
        }

        using var json = JsonDocument.Parse(bytes);
        var columns = json.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetString() ?? "").ToArray();
        var rows = new List<string?[]>();
        foreach (var row in json.RootElement.GetProperty("data").EnumerateArray())
        {
            rows.Add(row.EnumerateArray().Select(v => v.ValueKind switch
            {
                JsonValueKind.Null => null,
                JsonValueKind.String => v.GetString(),
                _ => v.GetRawText(),
            }).ToArray());
        }

        return (seconds, new QueryResult(columns, rows));
    }

    public void Dispose()
    {
        Stop();
        Http.Dispose();
    }
}

internal sealed record QueryRequest(
    [property: System.Text.Json.Serialization.JsonPropertyName("sql")] string Sql,
    [property: System.Text.Json.Serialization.JsonPropertyName("database")] string Database);

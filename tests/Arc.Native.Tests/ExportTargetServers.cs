using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Arc.Native.Tests;

/// <summary>
/// The real target servers of the export tests, started on loopback ports in a temp directory and stopped afterwards:
/// InfluxDB 1.x (Debian's <c>influxd</c> 1.6.7, with authentication on), VictoriaMetrics (Debian's
/// <c>victoria-metrics</c>, for the InfluxDB 2.x write API) and a throwaway PostgreSQL cluster (Debian's
/// <c>postgresql</c>, password authentication). <c>scripts/export-test-deps.sh</c> installs the packages.
/// </summary>
public sealed class ExportTargetServers : IAsyncLifetime
{
    public const string InfluxUser = "arcexport";
    public const string InfluxPassword = "influx-Pa55-secret";
    public const string PostgresUser = "arcexport";
    public const string PostgresPassword = "pg-Pa55-secret";

    private readonly List<Process> _processes = [];
    private string _pgBin = "";
    private string _pgData = "";

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "arc-export-targets-" + Guid.NewGuid().ToString("N")[..12]);

    public string InfluxUrl { get; private set; } = "";

    public string VictoriaUrl { get; private set; } = "";

    public int PostgresPort { get; private set; }

    public string PostgresConnectionString =>
        $"Host=127.0.0.1;Port={PostgresPort};Database=postgres;Username={PostgresUser};Password={PostgresPassword};Pooling=false";

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        await Task.WhenAll(StartInfluxAsync(), StartVictoriaAsync(), StartPostgresAsync());
    }

    private async Task StartInfluxAsync()
    {
        var influxd = Find("influxd", "/usr/bin/influxd");
        var dir = Directory.CreateDirectory(Path.Combine(Root, "influx")).FullName;
        var port = FreePort();
        var config = Path.Combine(dir, "influxdb.conf");
        await File.WriteAllTextAsync(config, $"""
            reporting-disabled = true
            bind-address = "127.0.0.1:{FreePort()}"
            [meta]
              dir = "{dir}/meta"
            [data]
              dir = "{dir}/data"
              wal-dir = "{dir}/wal"
              query-log-enabled = false
            [http]
              enabled = true
              bind-address = "127.0.0.1:{port}"
              auth-enabled = true
              log-enabled = false
            [monitor]
              store-enabled = false
            [continuous_queries]
              enabled = false
            [subscriber]
              enabled = false
            """);
        Spawn(influxd, ["-config", config], Path.Combine(dir, "influxd.log"));
        InfluxUrl = $"http://127.0.0.1:{port}";
        await WaitHttpAsync(InfluxUrl + "/ping", "influxd");
        // With authentication on, InfluxDB lets the first admin user be created without credentials.
        await InfluxQueryAsync($"CREATE USER {InfluxUser} WITH PASSWORD '{InfluxPassword}' WITH ALL PRIVILEGES", authenticate: false);
    }

    private async Task StartVictoriaAsync()
    {
        var binary = Find("victoria-metrics", "/usr/bin/victoria-metrics");
        var dir = Directory.CreateDirectory(Path.Combine(Root, "victoria")).FullName;
        var port = FreePort();
        Spawn(binary, [$"-storageDataPath={dir}/data", $"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y", "-loggerLevel=ERROR"],
            Path.Combine(dir, "victoria.log"));
        VictoriaUrl = $"http://127.0.0.1:{port}";
        await WaitHttpAsync(VictoriaUrl + "/health", "victoria-metrics");
    }

    private async Task StartPostgresAsync()
    {
        var versions = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Where(d => File.Exists(Path.Combine(d, "bin", "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0).ToList()
            : [];
        if (versions.Count == 0)
        {
            throw new InvalidOperationException("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): run scripts/export-test-deps.sh");
        }

        _pgBin = Path.Combine(versions[0], "bin");
        var dir = Directory.CreateDirectory(Path.Combine(Root, "postgres")).FullName;
        _pgData = Path.Combine(dir, "data");
        var passwordFile = Path.Combine(dir, "pw");
        await File.WriteAllTextAsync(passwordFile, PostgresPassword + "\n");
        if (IsRoot)
        {
            // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
            await RunAsync("chown", ["-R", "postgres:postgres", dir]);
            await RunAsync("chmod", ["755", Root]);
        }

        await RunAsync(Path.Combine(_pgBin, "initdb"), ["-D", _pgData, "-U", PostgresUser, "--pwfile", passwordFile, "-A", "scram-sha-256", "-E", "UTF8",
            "--no-sync", "--no-instructions"], asPostgres: true);
        PostgresPort = FreePort();
        await RunAsync(Path.Combine(_pgBin, "pg_ctl"), ["-D", _pgData, "-l", Path.Combine(dir, "postgres.log"), "-w", "-t", "60",
            "-o", $"-c listen_addresses=127.0.0.1 -p {PostgresPort} -k {dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off", "start"],
            asPostgres: true);
    }

    /// <summary>Runs InfluxQL on the InfluxDB 1.x server (as the admin user unless told otherwise); returns the JSON.</summary>
    public async Task<string> InfluxQueryAsync(string query, string? database = null, bool authenticate = true)
    {
        var form = new Dictionary<string, string> { ["q"] = query, ["epoch"] = "ns" };
        if (database is not null)
        {
            form["db"] = database;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, InfluxUrl + "/query") { Content = new FormUrlEncodedContent(form) };
        if (authenticate)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{InfluxUser}:{InfluxPassword}")));
        }

        using var response = await Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"InfluxQL {query}: {(int)response.StatusCode} {body}");
        return body;
    }

    public async Task DisposeAsync()
    {
        if (_pgData.Length > 0 && Directory.Exists(_pgData))
        {
            try
            {
                await RunAsync(Path.Combine(_pgBin, "pg_ctl"), ["-D", _pgData, "-m", "immediate", "-w", "stop"], asPostgres: true);
            }
            catch (InvalidOperationException)
            {
                // Already stopped.
            }
        }

        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        Http.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    private static string Find(string name, string path) =>
        File.Exists(path) ? path : throw new InvalidOperationException($"{name} is not installed ({path}): run scripts/export-test-deps.sh");

    private void Spawn(string file, string[] arguments, string log)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var writer = new StreamWriter(log) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Write(writer, e.Data);
        process.ErrorDataReceived += (_, e) => Write(writer, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_processes)
        {
            _processes.Add(process);
        }
    }

    private static void Write(StreamWriter writer, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (writer)
        {
            writer.WriteLine(line);
        }
    }

    private static async Task RunAsync(string file, string[] arguments, bool asPostgres = false)
    {
        var start = new ProcessStartInfo(asPostgres && IsRoot ? "runuser" : file);
        if (asPostgres && IsRoot)
        {
            foreach (var prefix in new[] { "-u", "postgres", "--", file })
            {
                start.ArgumentList.Add(prefix);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var (code, output, error) = await ChildProcess.RunAsync(start, TimeSpan.FromSeconds(120));
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {code}: {output}{error}");
        }
    }

    private async Task WaitHttpAsync(string url, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await Http.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{what} did not answer {url} within 60 s");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
[LongRunning(40)]
public sealed class ExportTargetsCollection : ICollectionFixture<ExportTargetServers>
{
    public const string Name = "export targets";
}

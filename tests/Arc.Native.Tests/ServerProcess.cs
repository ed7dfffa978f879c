using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Arc.Native.Tests;

/// <summary>The server as a separate OS process (<see cref="Binary"/>), for tests that kill it.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private volatile bool _killed;

    private ServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        Client = new HttpClient(new ExitReporter(this)) { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        Client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TestServer.AdminToken);
    }

    /// <summary>
    /// The server binary: the one in ARC_BINARY when set (scripts/test.sh passes the published AOT binary, which starts in
    /// about half the time and is the one users run), else the build output's apphost.
    /// </summary>
    public static string Binary => System.Environment.GetEnvironmentVariable("ARC_BINARY") is { Length: > 0 } binary
        ? binary
        : Path.Combine(AppContext.BaseDirectory, "arc-native");

    public int Port { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public HttpClient Client { get; }

    /// <summary>The lines the process wrote to stdout and stderr so far.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Output { get; } = new();

    public static async Task<ServerProcess> StartAsync(IReadOnlyDictionary<string, string> environment, int port = 0)
    {
        port = port == 0 ? FreePort() : port;
        var start = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ARC_SERVER_HOST"] = "127.0.0.1";
        start.Environment["ARC_SERVER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["ARC_LOG_LEVEL"] = "warn";
        start.Environment["ARC_AUTH_BOOTSTRAP_TOKEN"] = TestServer.AdminToken;
        // Relative defaults land beside the test's data, not in the shared bin folder; the token store goes beside the data
        // directory too, not into it (./data/arc.db would be inside a storage.local_path of ./data, which stops startup).
        if (environment.TryGetValue("ARC_STORAGE_LOCAL_PATH", out var data))
        {
            start.WorkingDirectory = Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(data))!).FullName;
            start.Environment["ARC_AUTH_DB_PATH"] = Path.Combine(start.WorkingDirectory, "auth", "arc.db");
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        var server = new ServerProcess(process, port);
        process.OutputDataReceived += (_, e) => server.Output.Enqueue(e.Data ?? "");
        process.ErrorDataReceived += (_, e) => server.Output.Enqueue(e.Data ?? "");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                process.WaitForExit(); // the output read to its end
                throw new InvalidOperationException($"arc-native exited with code {process.ExitCode} during startup; its last lines:\n"
                    + string.Join('\n', server.Output.TakeLast(40)));
            }

            try
            {
                using var ready = await server.Client.GetAsync("/ready");
                if (ready.StatusCode == HttpStatusCode.OK)
                {
                    return server;
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or SocketException)
            {
                // Not listening yet (or the listener of a killed predecessor on the same port going away).
            }

            await Task.Delay(10);
        }

        await server.DisposeAsync();
        throw new TimeoutException("arc-native did not become ready within 60 s");
    }

    /// <summary>SIGKILL: no flush, no WAL close, nothing.</summary>
    public void Kill()
    {
        _killed = true;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM and wait for the clean exit code.</summary>
    public async Task<int> StopAsync()
    {
        _killed = true;
        Posix.Kill(_process.Id, Posix.SigTerm);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    /// <summary>
    /// A request that fails because the server is gone says so, with its exit code and last output lines (the log level is
    /// warn, so these are the warnings and errors it wrote), unless the test killed it.
    /// </summary>
    private sealed class ExitReporter(ServerProcess server) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                return await base.SendAsync(request, cancellationToken);
            }
            catch (HttpRequestException e) when (!server._killed && server._process.WaitForExit(1000))
            {
                throw new HttpRequestException(
                    $"arc-native exited with code {server._process.ExitCode} before answering {request.Method} {request.RequestUri}; its last lines:\n"
                    + string.Join('\n', server.Output.TakeLast(40)), e);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

internal static partial class Posix
{
    public const int SigTerm = 15;

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    public static partial int Kill(int pid, int signal);
}

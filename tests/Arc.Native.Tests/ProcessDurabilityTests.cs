using System.Diagnostics;
using System.Net;
using System.Text;

namespace Arc.Native.Tests;

[Trait("Category", "Crash")]
public sealed class ProcessDurabilityTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "arc-proc-" + Guid.NewGuid().ToString("N"));

    public ProcessDurabilityTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort cleanup.
        }
    }

    [Fact]
    public async Task ASecondSignalExitsAtOnceAndTheWalCoversTheUnflushedRows()
    {
        var data = Path.Combine(_root, "data");
        var environment = new Dictionary<string, string> { ["ARC_STORAGE_LOCAL_PATH"] = data };
        var blocker = Path.Combine(data, "sig", "m", "2023");
        Directory.CreateDirectory(Path.GetDirectoryName(blocker)!);
        await File.WriteAllTextAsync(blocker, "in the way"); // the flush at shutdown cannot complete

        await using (var server = await ServerProcess.StartAsync(environment))
        {
            Assert.Equal(HttpStatusCode.NoContent,
                (await server.Client.PostAsync("/write?db=sig", new StringContent("m v=1 1700000000000000000\n"))).StatusCode);
            Posix.Kill(server.ProcessId, Posix.SigTerm);
            await Task.Delay(1500);
            Assert.False(server.HasExited, "the first signal should wait for the flush");
            var clock = Stopwatch.StartNew();
            Posix.Kill(server.ProcessId, Posix.SigTerm);
            Assert.Equal(130, await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed} to exit after the second signal");
        }

        File.Delete(blocker);
        await using var restarted = await ServerProcess.StartAsync(environment);
        using var response = await restarted.Client.PostAsync("/api/v1/query",
            new StringContent("{\"sql\": \"SELECT count(*), sum(v) FROM sig.m\"}", Encoding.UTF8, "application/json"));
        Assert.Contains("\"data\":[[1,1.0]]".Replace("1.0", "1", StringComparison.Ordinal), await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await restarted.StopAsync());
    }

    /// <summary>
    /// The server runs as its own process, not in the test host: DuckDB and the Parquet writer open files without
    /// O_CLOEXEC, so a file an in-process server held open on the mount would be inherited by any process another test
    /// forks meanwhile (a server, a Ceph daemon) and keep the mount busy for that process's life.
    /// </summary>
    [Fact]
    public async Task AFullDiskGets507AndWritesResumeWhenSpaceReturns()
    {
        var data = Path.Combine(_root, "data");
        Directory.CreateDirectory(data);
        Mount(data);
        try
        {
            await using var server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["ARC_STORAGE_LOCAL_PATH"] = data });
            var filler = Path.Combine(data, "filler");
            await using (var stream = new FileStream(filler, FileMode.Create))
            {
                var chunk = new byte[64 * 1024];
                try
                {
                    while (true)
                    {
                        await stream.WriteAsync(chunk);
                        await stream.FlushAsync();
                    }
                }
                catch (IOException)
                {
                    // The disk is full.
                }
            }

            var body = string.Concat(Enumerable.Range(0, 2000).Select(i => $"filled,host=h v={i} {1700000000000000000L + i}\n"));
            using (var refused = await server.Client.PostAsync("/write?db=disk", new StringContent(body)))
            {
                Assert.Equal(HttpStatusCode.InsufficientStorage, refused.StatusCode);
                Assert.Contains("write-ahead log", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            File.Delete(filler);
            Assert.Equal(HttpStatusCode.NoContent, (await server.Client.PostAsync("/write?db=disk", new StringContent(body))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/write/line-protocol/flush", null)).StatusCode);
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(data, "disk", "filled"), "*.parquet", SearchOption.AllDirectories));
            using var counted = await server.Client.PostAsync("/api/v1/query",
                new StringContent("{\"sql\": \"SELECT count(*) FROM disk.filled\"}", Encoding.UTF8, "application/json"));
            Assert.Contains("\"data\":[[2000]]", await counted.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(0, await server.StopAsync());
        }
        finally
        {
            Unmount(data);
        }
    }

    /// <summary>
    /// Unmounts, retrying for a few seconds while the kernel says the mount is busy (the server process exiting). A
    /// descriptor left open on the mount would keep it busy for good and still fail the test.
    /// </summary>
    private static void Unmount(string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            var (code, error) = Exec("umount", path);
            if (code == 0)
            {
                return;
            }

            Assert.True(attempt < 50 && error.Contains("busy", StringComparison.Ordinal), $"umount {path} failed: {error}");
            Thread.Sleep(100);
        }
    }

    private static void Mount(string path) => Run("mount", $"-t tmpfs -o size=4m tmpfs {path}");

    private static void Run(string command, string arguments)
    {
        var (code, error) = Exec(command, arguments);
        Assert.True(code == 0, $"{command} {arguments} failed: {error}");
    }

    private static (int Code, string Error) Exec(string command, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error);
    }
}

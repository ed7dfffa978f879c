using System.Diagnostics;
using Arc.Engine.Storage.Remote;

namespace Arc.Native.Tests;

/// <summary>
/// A real S3 server for the object-storage tests: Ceph radosgw on loopback (scripts/ceph-s3.sh; the packages are installed
/// by scripts/test.sh). Started once for the test collection and stopped after it.
/// </summary>
public sealed class CephFixture : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-ceph-" + Guid.NewGuid().ToString("N")[..8]);
    private int _buckets;

    public int Port { get; private set; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    public static string Script => Path.Combine(RepositoryRoot(), "scripts", "ceph-s3.sh");

    public async Task InitializeAsync()
    {
        var (code, output) = await RunAsync("start", _directory); // picks a free port (and the monitor's, the next one)
        Assert.True(code == 0, $"Ceph did not start (run scripts/ceph-s3.sh install as root first): {output}");
        Port = int.Parse(await File.ReadAllTextAsync(Path.Combine(_directory, "port")), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task DisposeAsync() => await RunAsync("stop", _directory);

    /// <summary>Options for a new, empty bucket of this server.</summary>
    public ObjectStoreOptions NewBucket(long cacheBytes = 1L << 30) => new()
    {
        Bucket = $"arc-test-{Interlocked.Increment(ref _buckets)}-{Guid.NewGuid().ToString("N")[..6]}",
        Prefix = "tenant/arc",
        Endpoint = Endpoint,
        PathStyle = true,
        AccessKey = "testkey",
        SecretKey = "testsecret",
        Timeout = TimeSpan.FromSeconds(20),
        CacheBytes = cacheBytes,
        ListingTtl = TimeSpan.Zero,
    };

    public Task<(int Code, string Output)> StopGatewayAsync() => RunAsync("rgw-stop", _directory);

    public Task<(int Code, string Output)> StartGatewayAsync() => RunAsync("rgw-start", _directory);

    private static async Task<(int Code, string Output)> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(Script);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var (code, output, error) = await ChildProcess.RunAsync(start, TimeSpan.FromMinutes(3));
        return (code, output + error);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "arc-native.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("arc-native.sln not found above the test binaries");
    }
}

[CollectionDefinition("ceph")]
[LongRunning(30)]
public sealed class CephCollection : ICollectionFixture<CephFixture>;

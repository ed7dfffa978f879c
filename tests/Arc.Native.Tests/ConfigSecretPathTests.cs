using System.Collections;
using System.Diagnostics;
using Arc.Native.Configuration;

namespace Arc.Native.Tests;

/// <summary>
/// The server refuses to start when a secret file (token store, export store, their keys, the configuration file) lies
/// where SQL can read it: under storage.local_path or DuckDB's temp directory, compared with symlinks resolved.
/// </summary>
public sealed class ConfigSecretPathTests : IDisposable
{
    private readonly string _root;

    public ConfigSecretPathTests()
    {
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "arc-secrets-" + Guid.NewGuid().ToString("N")));
        _root = ArcConfig.ResolvePath(root.FullName); // the messages name resolved paths (the temp directory may be a symlink)
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void ATokenStoreInsideTheStorageRootStopsStartup()
    {
        var error = StartupError(Config(data: "data", auth: "data/arc.db"));

        Assert.Equal($"auth.db_path: the token store {_root}/data/arc.db is inside storage.local_path ({_root}/data), which SQL queries " +
                     "can read (a read token could fetch it with read_blob); set auth.db_path to a path outside storage.local_path", error);
        Assert.False(File.Exists(Path.Combine(_root, "data", "arc.db.key")), "nothing may be created before the check");
    }

    [Fact]
    public void AKeyFileSymlinkedIntoTheStorageRootStopsStartup()
    {
        Directory.CreateDirectory(Path.Combine(_root, "data"));
        Directory.CreateDirectory(Path.Combine(_root, "auth"));
        File.WriteAllBytes(Path.Combine(_root, "data", "kept.key"), new byte[32]);
        File.CreateSymbolicLink(Path.Combine(_root, "auth", "arc.db.key"), Path.Combine(_root, "data", "kept.key"));

        var error = StartupError(Config(data: "data", auth: "auth/arc.db"));

        Assert.StartsWith($"auth.db_path: the token store's key {_root}/data/kept.key is inside storage.local_path ({_root}/data)", error,
            StringComparison.Ordinal);
    }

    [Fact]
    public void AnExportStoreInsideTheStorageRootStopsStartup()
    {
        var error = StartupError(Config(data: "data", auth: "auth/arc.db", export: "data/meta/export.db"));

        Assert.StartsWith($"export.db_path: the export store {_root}/data/meta/export.db is inside storage.local_path ({_root}/data)", error,
            StringComparison.Ordinal);
        Assert.EndsWith("set export.db_path to a path outside storage.local_path", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ATokenStoreInsideDuckDbsTempDirectoryStopsStartup()
    {
        // DuckDB allows reads under its temp_directory as well as under allowed_directories.
        var error = StartupError(Config(data: "data", auth: "spill/arc.db", temp: "spill"));

        Assert.StartsWith($"auth.db_path: the token store {_root}/spill/arc.db is inside database.temp_directory ({_root}/spill)", error,
            StringComparison.Ordinal);
    }

    [Fact]
    public void SymlinksOnEitherSideAreResolved()
    {
        Directory.CreateDirectory(Path.Combine(_root, "real"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "link"), Path.Combine(_root, "real"));

        // The storage root is a symlink to the directory that holds the token store...
        var error = StartupError(Config(data: "link", auth: "real/arc.db"));
        Assert.StartsWith($"auth.db_path: the token store {_root}/real/arc.db is inside storage.local_path ({_root}/real)", error,
            StringComparison.Ordinal);

        // ...or the token store's path goes through a symlink into the storage root (its own directory does not exist yet).
        error = StartupError(Config(data: "real", auth: "link/auth/arc.db"));
        Assert.StartsWith($"auth.db_path: the token store {_root}/real/auth/arc.db is inside storage.local_path ({_root}/real)", error,
            StringComparison.Ordinal);
    }

    [Fact]
    public void TrailingSeparatorsAndDotSegmentsDoNotHideAPath()
    {
        var config = Config(data: "data/", auth: "other/../data//arc.db");

        Assert.StartsWith($"auth.db_path: the token store {_root}/data/arc.db is inside storage.local_path ({_root}/data)",
            StartupError(config), StringComparison.Ordinal);
    }

    [Fact]
    public void AConfigurationFileInsideTheStorageRootStopsStartup()
    {
        // It may hold auth.bootstrap_token or storage.s3_secret_key.
        Directory.CreateDirectory(Path.Combine(_root, "data"));
        var file = Path.Combine(_root, "data", "arc.toml");
        File.WriteAllText(file, $"""
            [storage]
            local_path = "{_root}/data"
            [auth]
            db_path = "{_root}/auth/arc.db"
            """);

        var error = StartupError(ArcConfig.Load(file, new Hashtable()));

        Assert.Equal($"the configuration file {file} is inside storage.local_path ({_root}/data), which SQL queries can read " +
                     "(a read token could fetch it with read_blob); keep it outside storage.local_path", error);
    }

    [Fact]
    public void TheDefaultsPassTheCheck()
    {
        // ./data/arc.db and ./data/export.db beside the storage root ./data/arc, not in it.
        new ArcConfig().CheckSecretsAreUnreadable();
    }

    [Theory]
    [InlineData("data/arc", "data/arc.db", null, null)]                              // the defaults' layout (and the Docker image's)
    [InlineData("data", "data-auth/arc.db", "data-meta/export.db", "data-spill")]   // "data" is a string prefix, not a parent
    [InlineData("Data", "data/arc.db", null, null)]                                  // Linux paths differ by case
    public async Task SecretsBesideTheReadableDirectoriesStart(string data, string auth, string? export, string? temp)
    {
        await using var server = await ArcServer.CreateAsync(Config(data, auth, export, temp));
        await server.StartAsync();
        Assert.True(File.Exists(Path.Combine(_root, auth + ".key")));
    }

    [Fact]
    public async Task TheServerProcessExitsWithTheMessage()
    {
        // Arc's layout with local_path = ./data: the default token store ./data/arc.db would be inside it.
        var start = new ProcessStartInfo(ServerProcess.Binary) { WorkingDirectory = _root };
        start.Environment["ARC_STORAGE_LOCAL_PATH"] = "./data";
        start.Environment["ARC_SERVER_HOST"] = "127.0.0.1";
        start.Environment["ARC_SERVER_PORT"] = "0";

        var (code, output, error) = await ChildProcess.RunAsync(start, TimeSpan.FromSeconds(30));

        Assert.True(code == 2, $"exit code {code}: {output}{error}");
        Assert.StartsWith($"arc-native: configuration error: auth.db_path: the token store {_root}/data/arc.db is inside storage.local_path " +
                          $"({_root}/data)", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_root, "data", "arc.db")));
    }

    private ArcConfig Config(string data, string auth, string? export = null, string? temp = null)
    {
        var config = new ArcConfig
        {
            Host = "127.0.0.1",
            Port = 0,
            LogLevel = "warn",
            AuthDbPath = Path.Combine(_root, auth),
            BootstrapToken = TestServer.AdminToken,
        };
        config.Engine = config.Engine with { DataPath = Path.Combine(_root, data), DuckDbTempDirectory = temp is null ? "" : Path.Combine(_root, temp) };
        if (export is not null)
        {
            config.Export = config.Export with { DbPath = Path.Combine(_root, export) };
        }

        return config;
    }

    /// <summary>The check runs before anything is started: the returned task has already failed.</summary>
    private static string StartupError(ArcConfig config) =>
        Assert.Throws<ConfigException>(() => ArcServer.CreateAsync(config).GetAwaiter().GetResult()).Message;
}

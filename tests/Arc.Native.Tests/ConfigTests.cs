using System.Collections;
using Arc.Native.Configuration;

namespace Arc.Native.Tests;

public sealed class ConfigTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-config-" + Guid.NewGuid().ToString("N"));

    public ConfigTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void DefaultsMatchArc()
    {
        var config = ArcConfig.Load(Write("empty.toml", ""), new Hashtable());
        Assert.Equal(8000, config.Port);
        Assert.Equal("./data/arc", config.Engine.DataPath);
        Assert.Equal(250_000, config.Engine.MaxBufferRows);
        Assert.Equal(TimeSpan.FromSeconds(5), config.Engine.MaxBufferAge);
        Assert.Equal(1L << 30, config.MaxPayloadBytes);
    }

    [Fact]
    public void AnArcTomlFileIsReadWithArcsKeyNames()
    {
        var path = Write("arc.toml", """
            [server]
            port = 8123
            host = "127.0.0.1"
            max_payload_size = "256MB"

            [storage]
            backend = "local"
            local_path = "/var/lib/arc"

            [ingest]
            max_buffer_size = 1000
            max_buffer_age_ms = 250
            compression = "snappy"

            [database]
            thread_count = 3
            memory_limit = "2GB"
            parquet_metadata_cache = false
            renew_after_files_removed = 50

            [wal]
            enabled = true
            sync_mode = "async"

            [delete]
            enabled = true
            confirmation_threshold = 5

            [mystery]
            key = 1
            """);
        var config = ArcConfig.Load(path, new Hashtable());
        Assert.Equal(8123, config.Port);
        Assert.Equal("127.0.0.1", config.Host);
        Assert.Equal(256L << 20, config.MaxPayloadBytes);
        Assert.Equal("/var/lib/arc", config.Engine.DataPath);
        Assert.Equal(1000, config.Engine.MaxBufferRows);
        Assert.Equal(TimeSpan.FromMilliseconds(250), config.Engine.MaxBufferAge);
        Assert.Equal("snappy", config.Engine.Compression);
        Assert.Equal(3, config.Engine.DuckDbThreads);
        Assert.Equal((2L << 30) + "B", config.Engine.DuckDbMemoryLimit);
        Assert.False(config.Engine.ParquetMetadataCache);
        Assert.True(ArcConfig.Load(null, new Hashtable()).Engine.ParquetMetadataCache);
        Assert.Equal(50, config.Engine.RenewAfterFilesRemoved);
        Assert.Equal(250, ArcConfig.Load(null, new Hashtable()).Engine.RenewAfterFilesRemoved);
        Assert.True(config.Engine.WalEnabled);
        Assert.Equal(Arc.Engine.Wal.WalSyncMode.Async, config.Engine.WalSyncMode);
        Assert.True(config.DeleteEnabled);
        Assert.Equal(5, config.DeleteConfirmationThreshold);
        Assert.Contains("mystery.key (unknown key)", config.Ignored);
    }

    [Fact]
    public void TheBufferPoolBoundIsReadFromTheFileAndTheEnvironment()
    {
        Assert.Equal(128L << 20, ArcConfig.Load(null, new Hashtable()).Engine.BufferPoolBytes);
        Assert.Equal(32L << 20, ArcConfig.Load(Write("pool.toml", "[ingest]\nbuffer_pool_size = \"32MB\"\n"), new Hashtable()).Engine.BufferPoolBytes);
        Assert.Equal(0, ArcConfig.Load(null, new Hashtable { ["ARC_INGEST_BUFFER_POOL_SIZE"] = "0" }).Engine.BufferPoolBytes);
    }

    [Fact]
    public void ImportLimitsAreReadFromTheFileAndTheEnvironment()
    {
        var defaults = ArcConfig.Load(null, new Hashtable());
        Assert.Equal(10L << 30, defaults.Engine.Writes.MaxImportBytes);
        Assert.Equal(1024, defaults.Engine.Writes.MaxImportColumns);
        var path = Write("arc.toml", "[import]\nmax_file_size = \"2GB\"\nmax_columns = 50\n");
        var config = ArcConfig.Load(path, new Hashtable { ["ARC_IMPORT_MAX_COLUMNS"] = "60" });
        Assert.Equal(2L << 30, config.Engine.Writes.MaxImportBytes);
        Assert.Equal(60, config.Engine.Writes.MaxImportColumns);
    }

    [Fact]
    public void EnvironmentOverridesTheFile()
    {
        var path = Write("arc.toml", "[server]\nport = 8123\n[ingest]\nmax_buffer_age_ms = 100\n");
        var environment = new Hashtable
        {
            ["ARC_SERVER_PORT"] = "9000",
            ["ARC_STORAGE_LOCAL_PATH"] = "/tmp/x",
            ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "200",
            ["ARC_INGEST_MAX_BUFFER_SIZE"] = "77",
            ["ARC_QUERY_TIMEOUT"] = "9",
        };
        var config = ArcConfig.Load(path, environment);
        Assert.Equal(9000, config.Port);
        Assert.Equal("/tmp/x", config.Engine.DataPath);
        Assert.Equal(TimeSpan.FromMilliseconds(200), config.Engine.MaxBufferAge);
        Assert.Equal(77, config.Engine.MaxBufferRows);
        Assert.Equal(TimeSpan.FromSeconds(9), config.Engine.QueryTimeout);
    }

    [Fact]
    public void LevelMergeSettingsAreReadFromTheFileAndTheEnvironment()
    {
        var defaults = ArcConfig.Load(null, new Hashtable()).Engine.Compaction;
        Assert.True(defaults.LevelEnabled);
        Assert.Equal(4, defaults.LevelMinFiles);
        Assert.Equal(256L << 20, defaults.LevelMaxFileBytes);
        var path = Write("level.toml", "[compaction]\nlevel_enabled = false\nlevel_min_files = 6\nlevel_max_file_size_mb = 32\n");
        var compaction = ArcConfig.Load(path, new Hashtable { ["ARC_COMPACTION_LEVEL_MIN_FILES"] = "8" }).Engine.Compaction;
        Assert.False(compaction.LevelEnabled);
        Assert.Equal(8, compaction.LevelMinFiles);
        Assert.Equal(32L << 20, compaction.LevelMaxFileBytes);
    }

    [Fact]
    public void LateWindowMaxAgeIsReadInHoursAndZeroTurnsRecomputingOff()
    {
        Assert.Equal(TimeSpan.FromHours(24), ArcConfig.Load(Write("late-default.toml", ""), new Hashtable()).ContinuousQuery.LateWindowMaxAge);
        Assert.Equal(TimeSpan.FromHours(72),
            ArcConfig.Load(Write("late.toml", "[continuous_query]\nlate_window_max_age_hours = 72\n"), new Hashtable()).ContinuousQuery.LateWindowMaxAge);
        Assert.Equal(TimeSpan.Zero, ArcConfig.Load(Write("late-env.toml", ""),
            new Hashtable { ["ARC_CONTINUOUS_QUERY_LATE_WINDOW_MAX_AGE_HOURS"] = "0" }).ContinuousQuery.LateWindowMaxAge);
    }

    [Theory]
    [InlineData("[server]\nport = \"eighty\"\n", "server.port")]
    [InlineData("[server]\nport = 70000\n", "server.port")]
    [InlineData("[ingest]\nmax_buffer_size = 0\n", "ingest.max_buffer_size")]
    [InlineData("[ingest]\ncompression = \"rar\"\n", "ingest.compression")]
    [InlineData("[storage]\nbackend = \"ftp\"\n", "storage.backend")]
    [InlineData("[server]\nmax_payload_size = \"lots\"\n", "server.max_payload_size")]
    [InlineData("[wal]\nsync_mode = \"sometimes\"\n", "wal.sync_mode")]
    [InlineData("[wal]\nenabled = \"maybe\"\n", "wal.enabled")]
    [InlineData("[ingest]\nsort_keys = [\"host,region\"]\n", "ingest.sort_keys")]
    [InlineData("[ingest]\nsort_keys = [\"cpu:\"]\n", "ingest.sort_keys")]
    [InlineData("[ingest]\nsort_keys = [\":host\"]\n", "ingest.sort_keys")]
    [InlineData("[ingest]\nsort_keys = [\"cpu:host\", \"CPU:region\"]\n", "ingest.sort_keys")]
    [InlineData("[delete]\nmax_rows_per_delete = 0\n", "delete.max_rows_per_delete")]
    [InlineData("[delete]\nconfirmation_threshold = -1\n", "delete.confirmation_threshold")]
    [InlineData("[retention]\nschedule = \"every hour\"\n", "retention.schedule")]
    [InlineData("[retention]\nenabled = \"sure\"\n", "retention.enabled")]
    [InlineData("[continuous_query]\nlate_window_max_age_hours = -1\n", "continuous_query.late_window_max_age_hours")]
    [InlineData("[import]\nmax_file_size = \"huge\"\n", "import.max_file_size")]
    [InlineData("[import]\nmax_columns = 1\n", "import.max_columns")]
    [InlineData("[compaction]\nlevel_min_files = 1\n", "compaction.level_min_files")]
    [InlineData("[compaction]\nlevel_max_file_size_mb = 0\n", "compaction.level_max_file_size_mb")]
    [InlineData("[compaction]\nlevel_enabled = \"often\"\n", "compaction.level_enabled")]
    [InlineData("[compaction]\nthreads = -1\n", "compaction.threads")]
    [InlineData("[compaction]\nnice = 20\n", "compaction.nice")]
    [InlineData("[compaction]\nnice = -5\n", "compaction.nice")]
    [InlineData("[ingest]\nbuffer_pool_size = \"some\"\n", "ingest.buffer_pool_size")]
    [InlineData("[ingest]\nbuffer_pool_size = -1\n", "ingest.buffer_pool_size")]
    public void BadValuesNameTheKey(string toml, string key)
    {
        var path = Write("bad.toml", toml);
        var error = Assert.Throws<ConfigException>(() => ArcConfig.Load(path, new Hashtable()));
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SortKeysAreReadInArcsFormFromTheFileAndTheEnvironment()
    {
        var path = Write("sort.toml", """
            [ingest]
            sort_keys = ["cpu:host, region", "mem:host"]
            default_sort_keys = "service"
            """);
        var compaction = ArcConfig.Load(path, new Hashtable()).Engine.Compaction;
        Assert.Equal(["host", "region"], compaction.SortKeys["cpu"]);
        Assert.Equal(["host"], compaction.SortKeys["MEM"]); // names are unique ignoring case, as measurements are
        Assert.Equal(["service"], compaction.DefaultSortKeys);

        compaction = ArcConfig.Load(path, new Hashtable { ["ARC_INGEST_SORT_KEYS"] = "hits:CounterID,EventDate,disk:device" }).Engine.Compaction;
        Assert.Equal(["CounterID", "EventDate"], compaction.SortKeys["hits"]);
        Assert.Equal(["device"], compaction.SortKeys["disk"]);
        Assert.False(compaction.SortKeys.ContainsKey("cpu"));
        Assert.Empty(ArcConfig.Load(Write("none.toml", ""), new Hashtable()).Engine.Compaction.DefaultSortKeys);
    }

    [Fact]
    public void CompactionThreadsDefaultToHalfTheCoresAndAreReadFromTheFileAndTheEnvironment()
    {
        Assert.Equal(Math.Max(1, Environment.ProcessorCount / 2), ArcConfig.Load(Write("threads-default.toml", ""), new Hashtable()).Engine.Compaction.DuckDbThreads);
        var path = Write("threads.toml", "[compaction]\nthreads = 3\n");
        Assert.Equal(3, ArcConfig.Load(path, new Hashtable()).Engine.Compaction.DuckDbThreads);
        Assert.Equal(5, ArcConfig.Load(path, new Hashtable { ["ARC_COMPACTION_THREADS"] = "5" }).Engine.Compaction.DuckDbThreads);
    }

    [Fact]
    public void CompactionNiceDefaultsToTenAndIsReadFromTheFileAndTheEnvironment()
    {
        Assert.Equal(10, ArcConfig.Load(Write("nice-default.toml", ""), new Hashtable()).Engine.Compaction.Nice);
        var path = Write("nice.toml", "[compaction]\nnice = 0\n");
        Assert.Equal(0, ArcConfig.Load(path, new Hashtable()).Engine.Compaction.Nice);
        Assert.Equal(19, ArcConfig.Load(path, new Hashtable { ["ARC_COMPACTION_NICE"] = "19" }).Engine.Compaction.Nice);
    }

    [Fact]
    public void BadEnvironmentValueNamesTheVariable()
    {
        var error = Assert.Throws<ConfigException>(() => ArcConfig.Load(Write("ok.toml", ""), new Hashtable { ["ARC_SERVER_PORT"] = "x" }));
        Assert.Contains("ARC_SERVER_PORT", error.Message, StringComparison.Ordinal);
        Assert.Contains("server.port", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidTomlAndMissingFilesAreReported()
    {
        Assert.Contains("invalid TOML", Assert.Throws<ConfigException>(() => ArcConfig.Load(Write("x.toml", "[server\nport="), new Hashtable())).Message,
            StringComparison.Ordinal);
        Assert.Contains("cannot read", Assert.Throws<ConfigException>(() => ArcConfig.Load(Path.Combine(_directory, "none.toml"), new Hashtable())).Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void EnvironmentNamesFollowArcsRule()
    {
        Assert.Equal("ARC_SERVER_PORT", ArcConfig.EnvironmentName("server.port"));
        Assert.Equal("ARC_STORAGE_S3_BUCKET", ArcConfig.EnvironmentName("storage.s3_bucket"));
        Assert.Equal("ARC_INGEST_MAX_BUFFER_AGE_MS", ArcConfig.EnvironmentName("ingest.max_buffer_age_ms"));
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}

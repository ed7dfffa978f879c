using System.Collections;
using System.Globalization;
using Arc.Engine;
using Arc.Engine.Compaction;
using Arc.Engine.ContinuousQueries;
using Arc.Engine.Export;
using Arc.Engine.Retention;
using Arc.Engine.Ingest;
using Arc.Engine.Wal;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Serialization;

namespace Arc.Native.Configuration;

/// <summary>
/// The server's configuration, read like Arc reads it: an <c>arc.toml</c> file (sections are the part of the key before the
/// dot), then every key overridable from the environment as <c>ARC_</c> + the key upper-cased with dots as underscores
/// (<c>server.port</c> → <c>ARC_SERVER_PORT</c>). A bad value stops startup with a message naming the key.
/// </summary>
public sealed partial class ArcConfig
{
    private static readonly Dictionary<string, Action<ArcConfig, string, string>> Keys = new(StringComparer.Ordinal)
    {
        ["server.host"] = static (c, k, v) => c.Host = v.Trim(),
        ["server.port"] = static (c, k, v) => c.Port = ConfigValues.Int(k, v, 0, 65535),
        ["server.max_payload_size"] = static (c, k, v) => c.Writes = c.Writes with { MaxBodyBytes = ConfigValues.Size(k, v, 1024) },
        ["server.shutdown_timeout"] = static (c, k, v) => c.ShutdownTimeout = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 1, 86_400)),
        ["server.read_timeout"] = static (c, k, v) => c.ReadTimeout = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 1, 86_400)),
        ["server.idle_timeout"] = static (c, k, v) => c.IdleTimeout = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 1, 86_400)),
        ["server.tls_enabled"] = static (c, k, v) => c.TlsEnabled = ConfigValues.Bool(k, v),
        ["server.tls_cert_file"] = static (c, k, v) => c.TlsCertFile = NonEmpty(k, v),
        ["server.tls_key_file"] = static (c, k, v) => c.TlsKeyFile = NonEmpty(k, v),
        ["storage.backend"] = static (c, k, v) => c.StorageBackend = ConfigValues.OneOf(k, v, "local", "s3", "minio", "ceph", "gcs"),
        ["storage.s3_bucket"] = static (c, k, v) => c.S3.Bucket = NonEmpty(k, v),
        ["storage.s3_prefix"] = static (c, k, v) => c.S3.Prefix = v.Trim().Trim('/'),
        ["storage.s3_region"] = static (c, k, v) => c.S3.Region = NonEmpty(k, v),
        ["storage.s3_endpoint"] = static (c, k, v) => c.S3.Endpoint = v.Trim(),
        ["storage.s3_use_ssl"] = static (c, k, v) => c.S3.UseSsl = ConfigValues.Bool(k, v),
        ["storage.s3_path_style"] = static (c, k, v) => c.S3.PathStyle = ConfigValues.Bool(k, v),
        ["storage.s3_access_key"] = static (c, k, v) => c.S3.AccessKey = v.Trim(),
        ["storage.s3_secret_key"] = static (c, k, v) => c.S3.SecretKey = v.Trim(),
        ["storage.s3_timeout_seconds"] = static (c, k, v) => c.S3.TimeoutSeconds = ConfigValues.Int(k, v, 1, 3600),
        ["storage.s3_concurrency"] = static (c, k, v) => c.S3.Concurrency = ConfigValues.Int(k, v, 1, 256),
        ["query.s3_cache_size"] = static (c, k, v) => c.S3.CacheBytes = ConfigValues.Size(k, v, 1L << 20),
        ["storage.local_path"] = static (c, k, v) => c.Engine = c.Engine with { DataPath = NonEmpty(k, v) },
        ["ingest.max_buffer_size"] = static (c, k, v) => c.Engine = c.Engine with { MaxBufferRows = ConfigValues.Int(k, v, 1, 100_000_000) },
        ["ingest.max_buffer_age_ms"] = static (c, k, v) =>
            c.Engine = c.Engine with { MaxBufferAge = TimeSpan.FromMilliseconds(ConfigValues.Int(k, v, 1, 86_400_000)) },
        ["ingest.compression"] = static (c, k, v) => c.Engine = c.Engine with
        {
            Compression = ConfigValues.OneOf(k, v, "zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed", "none") switch
            {
                "none" => "uncompressed",
                var codec => codec,
            },
        },
        ["ingest.flush_workers"] = static (c, k, v) => c.Engine = c.Engine with { FlushWorkers = ConfigValues.Int(k, v, 1, 256) },
        ["ingest.row_group_size"] = static (c, k, v) => c.Engine = c.Engine with { RowGroupSize = ConfigValues.Int(k, v, 1024, 10_000_000) },
        ["ingest.max_line_length"] = static (c, k, v) => c.Writes = c.Writes with { MaxLineLength = ConfigValues.Int(k, v, 64, 64 << 20) },
        ["ingest.max_tags_per_line"] = static (c, k, v) => c.Writes = c.Writes with { MaxTagsPerLine = ConfigValues.Int(k, v, 1, 65_536) },
        ["ingest.max_fields_per_line"] = static (c, k, v) => c.Writes = c.Writes with { MaxFieldsPerLine = ConfigValues.Int(k, v, 1, 65_536) },
        ["ingest.max_columns_per_measurement"] = static (c, k, v) =>
            c.Engine = c.Engine with { MaxColumnsPerMeasurement = ConfigValues.Int(k, v, 1, 100_000) },
        ["ingest.max_measurements_per_request"] = static (c, k, v) =>
            c.Engine = c.Engine with { MaxMeasurementsPerRequest = ConfigValues.Int(k, v, 1, 1_000_000) },
        ["ingest.max_decompressed_size"] = static (c, k, v) => c.Writes = c.Writes with { MaxDecompressedBytes = ConfigValues.Size(k, v, 1024) },
        ["import.max_file_size"] = static (c, k, v) => c.Writes = c.Writes with { MaxImportBytes = ConfigValues.Size(k, v, 1024) },
        ["import.max_columns"] = static (c, k, v) => c.Writes = c.Writes with { MaxImportColumns = ConfigValues.Int(k, v, 2, 100_000) },
        ["ingest.max_memory"] = static (c, k, v) => c.Engine = c.Engine with { MaxBufferMemory = ConfigValues.Size(k, v, 1L << 20) },
        ["ingest.buffer_pool_size"] = static (c, k, v) => c.Engine = c.Engine with { BufferPoolBytes = ConfigValues.Size(k, v, 0) },
        ["ingest.max_name_length"] = static (c, k, v) => c.Engine = c.Engine with { MaxNameBytes = ConfigValues.Int(k, v, 1, 65_535) },
        ["wal.enabled"] = static (c, k, v) => c.Engine = c.Engine with { WalEnabled = ConfigValues.Bool(k, v) },
        ["wal.directory"] = static (c, k, v) => c.Engine = c.Engine with { WalDirectory = NonEmpty(k, v) },
        ["wal.sync_mode"] = static (c, k, v) => c.Engine = c.Engine with
        {
            WalSyncMode = ConfigValues.OneOf(k, v, "fdatasync", "fsync", "async") switch
            {
                "fsync" => WalSyncMode.FSync,
                "async" => WalSyncMode.Async,
                _ => WalSyncMode.FDataSync,
            },
        },
        ["wal.max_size_mb"] = static (c, k, v) => c.Engine = c.Engine with { WalMaxSegmentBytes = ConfigValues.Int(k, v, 1, 1 << 20) * (1L << 20) },
        ["wal.max_age_seconds"] = static (c, k, v) => c.Engine = c.Engine with { WalMaxSegmentAge = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 1, 31_536_000)) },
        ["auth.enabled"] = static (c, k, v) => c.AuthEnabled = ConfigValues.Bool(k, v),
        ["auth.db_path"] = static (c, k, v) => c.AuthDbPath = NonEmpty(k, v),
        ["auth.cache_ttl"] = static (c, k, v) => c.AuthCacheTtl = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 0, 86_400)),
        ["auth.max_cache_size"] = static (c, k, v) => c.AuthMaxCacheSize = ConfigValues.Int(k, v, 1, 10_000_000),
        ["auth.bootstrap_token"] = static (c, k, v) => c.BootstrapToken = NonEmpty(k, v),
        ["compaction.enabled"] = static (c, k, v) => c.Compaction(o => o with { Enabled = ConfigValues.Bool(k, v) }),
        ["compaction.hourly_enabled"] = static (c, k, v) => c.Compaction(o => o with { HourlyEnabled = ConfigValues.Bool(k, v) }),
        ["compaction.daily_enabled"] = static (c, k, v) => c.Compaction(o => o with { DailyEnabled = ConfigValues.Bool(k, v) }),
        ["compaction.hourly_schedule"] = static (c, k, v) => c.Compaction(o => o with { HourlySchedule = Cron(k, v) }),
        ["compaction.daily_schedule"] = static (c, k, v) => c.Compaction(o => o with { DailySchedule = Cron(k, v) }),
        ["compaction.hourly_min_age_hours"] = static (c, k, v) => c.Compaction(o => o with { HourlyMinAge = TimeSpan.FromHours(ConfigValues.Int(k, v, 0, 87_600)) }),
        ["compaction.hourly_min_files"] = static (c, k, v) => c.Compaction(o => o with { HourlyMinFiles = ConfigValues.Int(k, v, 2, 1_000_000) }),
        ["compaction.daily_min_age_hours"] = static (c, k, v) => c.Compaction(o => o with { DailyMinAge = TimeSpan.FromHours(ConfigValues.Int(k, v, 0, 87_600)) }),
        ["compaction.daily_min_files"] = static (c, k, v) => c.Compaction(o => o with { DailyMinFiles = ConfigValues.Int(k, v, 2, 1_000_000) }),
        ["compaction.level_enabled"] = static (c, k, v) => c.Compaction(o => o with { LevelEnabled = ConfigValues.Bool(k, v) }),
        ["compaction.level_min_files"] = static (c, k, v) => c.Compaction(o => o with { LevelMinFiles = ConfigValues.Int(k, v, 2, 1000) }),
        ["compaction.level_max_rows"] = static (c, k, v) => c.Compaction(o => o with { LevelMaxRows = ConfigValues.Int(k, v, 1000, int.MaxValue) }),
        ["compaction.level_series_ranges"] = static (c, k, v) => c.Compaction(o => o with { LevelSeriesRanges = ConfigValues.Int(k, v, 1, 64) }),
        ["compaction.level_max_file_size_mb"] = static (c, k, v) => c.Compaction(o => o with { LevelMaxFileBytes = (long)ConfigValues.Int(k, v, 1, 1_048_576) << 20 }),
        ["compaction.max_concurrent"] = static (c, k, v) => c.Compaction(o => o with { MaxConcurrent = ConfigValues.Int(k, v, 1, 64) }),
        ["compaction.max_files_per_batch"] = static (c, k, v) => c.Compaction(o => o with { MaxFilesPerBatch = ConfigValues.Int(k, v, 2, 100_000) }),
        ["compaction.nice"] = static (c, k, v) => c.Compaction(o => o with { Nice = ConfigValues.Int(k, v, 0, 19) }),
        ["compaction.threads"] = static (c, k, v) => c.Compaction(o => o with { Threads = ConfigValues.Int(k, v, 0, 1024) }),
        ["compaction.memory_limit"] = static (c, k, v) => c.Compaction(o => o with { MemoryLimit = MemoryLimit(k, v) }),
        ["compaction.sort_order"] = static (c, k, v) => c.Compaction(o => o with
        {
            SortOrder = ConfigValues.OneOf(k, v, "tags_time", "time") == "time" ? CompactionSortOrder.Time : CompactionSortOrder.TagsThenTime,
        }),
        ["ingest.sort_keys"] = static (c, k, v) => c.Compaction(o => o with { SortKeys = SortKeys(k, v) }),
        ["ingest.default_sort_keys"] = static (c, k, v) => c.Compaction(o => o with { DefaultSortKeys = List(k, v, allowEmpty: true) }),
        ["database.thread_count"] = static (c, k, v) => c.Engine = c.Engine with { DuckDbThreads = ConfigValues.Int(k, v, 0, 1024) },
        ["database.memory_limit"] = static (c, k, v) => c.Engine = c.Engine with { DuckDbMemoryLimit = MemoryLimit(k, v) },
        ["database.parquet_metadata_cache"] = static (c, k, v) => c.Engine = c.Engine with { ParquetMetadataCache = ConfigValues.Bool(k, v) },
        ["database.renew_after_files_removed"] = static (c, k, v) => c.Engine = c.Engine with { RenewAfterFilesRemoved = ConfigValues.Int(k, v, 0, int.MaxValue) },
        ["database.max_temp_directory_size"] = static (c, k, v) => c.Engine = c.Engine with
        {
            DuckDbMaxTempDirectorySize = v.Trim().Length == 0 ? "" : ConfigValues.Size(k, v, 0).ToString(CultureInfo.InvariantCulture) + "B",
        },
        ["query.max_sql_length"] = static (c, k, v) => c.Engine = c.Engine with { MaxSqlLength = ConfigValues.Int(k, v, 1024, 64 << 20) },
        ["query.max_query_blocks"] = static (c, k, v) => c.Engine = c.Engine with { MaxQueryBlocks = ConfigValues.Int(k, v, 1, 100_000) },
        ["database.max_connections"] = static (c, k, v) => c.Engine = c.Engine with { QueryConnections = ConfigValues.Int(k, v, 1, 1024) },
        ["database.temp_directory"] = static (c, k, v) => c.Engine = c.Engine with { DuckDbTempDirectory = v.Trim() },
        ["query.timeout"] = static (c, k, v) => c.Engine = c.Engine with { QueryTimeout = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 1, 86_400)) },
        ["query.msgpack_spool_memory"] = static (c, k, v) => c.MsgPackSpoolMemoryBytes = ConfigValues.Size(k, v, 1024),
        ["query.msgpack_max_result_size"] = static (c, k, v) => c.MsgPackMaxResultBytes = ConfigValues.Size(k, v, 1024),
        ["export.enabled"] = static (c, k, v) => c.ExportEnabled = ConfigValues.Bool(k, v),
        ["delete.enabled"] = static (c, k, v) => c.DeleteEnabled = ConfigValues.Bool(k, v),
        ["delete.confirmation_threshold"] = static (c, k, v) => c.DeleteConfirmationThreshold = ConfigValues.Int(k, v, 0, int.MaxValue),
        ["delete.max_rows_per_delete"] = static (c, k, v) => c.DeleteMaxRows = ConfigValues.Int(k, v, 1, int.MaxValue),
        ["export.db_path"] = static (c, k, v) => c.Export = c.Export with { DbPath = NonEmpty(k, v) },
        ["export.max_concurrent"] = static (c, k, v) => c.Export = c.Export with { MaxConcurrent = ConfigValues.Int(k, v, 1, 64) },
        ["export.min_age_seconds"] = static (c, k, v) =>
            c.Export = c.Export with { DefaultMinAge = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 0, 31_536_000)) },
        ["export.http_timeout"] = static (c, k, v) => c.Export = c.Export with { RequestTimeout = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 1, 3600)) },
        ["export.max_retries"] = static (c, k, v) => c.Export = c.Export with { MaxRetries = ConfigValues.Int(k, v, 0, 100) },
        ["export.retry_backoff_ms"] = static (c, k, v) =>
            c.Export = c.Export with { RetryBackoff = TimeSpan.FromMilliseconds(ConfigValues.Int(k, v, 1, 600_000)) },
        ["retention.enabled"] = static (c, k, v) => c.RetentionEnabled = ConfigValues.Bool(k, v),
        ["retention.db_path"] = static (c, k, v) => c.Retention = c.Retention with { DbPath = NonEmpty(k, v) },
        ["retention.schedule"] = static (c, k, v) => c.Retention = c.Retention with { Schedule = v.Trim().Length == 0 ? "" : Cron(k, v) },

        ["continuous_query.enabled"] = static (c, k, v) => c.ContinuousQueryEnabled = ConfigValues.Bool(k, v),
        ["continuous_query.db_path"] = static (c, k, v) => c.ContinuousQuery = c.ContinuousQuery with { DbPath = NonEmpty(k, v) },
        ["continuous_query.grace_seconds"] = static (c, k, v) =>
            c.ContinuousQuery = c.ContinuousQuery with { Grace = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 0, 86_400)) },
        ["continuous_query.max_rows_per_run"] = static (c, k, v) =>
            c.ContinuousQuery = c.ContinuousQuery with { MaxRowsPerRun = ConfigValues.Int(k, v, 1, 100_000_000) },
        ["continuous_query.late_window_max_age_hours"] = static (c, k, v) =>
            c.ContinuousQuery = c.ContinuousQuery with { LateWindowMaxAge = TimeSpan.FromHours(ConfigValues.Int(k, v, 0, 87_840)) },
        ["log.level"] = static (c, k, v) => c.LogLevel = ConfigValues.OneOf(k, v, "trace", "debug", "info", "warn", "warning", "error"),
    };

    /// <summary>Arc's keys for features this build does not have yet: accepted, so an Arc file loads, and reported as ignored.</summary>
    private static readonly HashSet<string> ArcKeysNotImplemented = new(StringComparer.Ordinal)
    {
        "server.write_timeout",
        "server.storage_credentials_fail_ready", "database.enable_wal", "database.preserve_insertion_order",
        "ingest.use_dictionary", "ingest.numeric_dictionary", "ingest.write_statistics", "ingest.data_page_version",
        "ingest.flush_queue_size", "ingest.shard_count", "ingest.flush_timeout_seconds",
        "ingest.decimal_columns", "ingest.default_decimal_columns",
        "compaction.daily_skip_file_age_check_days", "compaction.temp_directory",
        "compaction.completion_watcher_interval_ms", "compaction.completion_dir", "compaction.completion_orphan_timeout_ms",
        "wal.recovery_interval_seconds", "wal.recovery_batch_size", "wal.buffer_size",
        "query.slow_query_threshold_ms", "query.enable_s3_cache", "query.s3_cache_ttl_seconds",
    };

    public string Host { get; set; } = "";

    public int Port { get; set; } = 8000;

    /// <summary><c>server.max_payload_size</c>: the largest request body (the engine bounds write bodies itself).</summary>
    public long MaxPayloadBytes => Engine.Writes.MaxBodyBytes;

    /// <summary>The write request limits in <see cref="Engine"/>.</summary>
    private WriteLimits Writes
    {
        get => Engine.Writes;
        set => Engine = Engine with { Writes = value };
    }

    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>HTTPS (and HTTP/2 over TLS) with <see cref="TlsCertFile"/> and <see cref="TlsKeyFile"/> (<c>server.tls_enabled</c>).</summary>
    public bool TlsEnabled { get; set; }

    /// <summary>The PEM certificate (chain) served over TLS (<c>server.tls_cert_file</c>); replaced files are picked up.</summary>
    public string? TlsCertFile { get; set; }

    /// <summary>The PEM private key of <see cref="TlsCertFile"/> (<c>server.tls_key_file</c>).</summary>
    public string? TlsKeyFile { get; set; }

    public string StorageBackend { get; set; } = "local";

    /// <summary>The <c>storage.s3_*</c> settings, turned into <see cref="EngineOptions.ObjectStore"/> after loading.</summary>
    public S3Settings S3 { get; } = new();

    public string LogLevel { get; set; } = "info";

    /// <summary>Token authentication on every route but the public allowlist (<c>auth.enabled</c>).</summary>
    public bool AuthEnabled { get; set; } = true;

    /// <summary>The token store file (<c>auth.db_path</c>); its key lives beside it.</summary>
    public string AuthDbPath { get; set; } = "./data/arc.db";

    public TimeSpan AuthCacheTtl { get; set; } = TimeSpan.FromSeconds(300);

    public int AuthMaxCacheSize { get; set; } = 1000;

    /// <summary>
    /// An admin token to install at startup instead of generating one (<c>ARC_AUTH_BOOTSTRAP_TOKEN</c>, for automation).
    /// </summary>
    public string? BootstrapToken { get; set; }

    /// <summary>Encoded msgpack result bytes kept in memory before spilling to a temporary file (<c>query.msgpack_spool_memory</c>).</summary>
    public long MsgPackSpoolMemoryBytes { get; set; } = 64L << 20;

    /// <summary>Largest msgpack result (<c>query.msgpack_max_result_size</c>); larger ones are refused with a 400.</summary>
    public long MsgPackMaxResultBytes { get; set; } = 4L << 30;

    public EngineOptions Engine { get; set; } = new() { DataPath = "./data/arc" };

    /// <summary>Dropping databases and measurements and deleting rows (<c>delete.enabled</c>, off by default as in Arc).</summary>
    public bool DeleteEnabled { get; set; }

    /// <summary>A dry-run row delete matching more rows than this needs <c>confirm</c> (<c>delete.confirmation_threshold</c>, Arc's default).</summary>
    public long DeleteConfirmationThreshold { get; set; } = 10_000;

    /// <summary>A row delete matching more rows than this is refused (<c>delete.max_rows_per_delete</c>, Arc's default).</summary>
    public long DeleteMaxRows { get; set; } = 1_000_000;

    /// <summary>Export jobs and storage connections (<c>export.enabled</c>).</summary>
    public bool ExportEnabled { get; set; } = true;

    /// <summary>
    /// The <c>export.*</c> settings. A <see cref="ExportOptions.DbPath"/> of null means <c>export.db</c> beside
    /// <see cref="AuthDbPath"/> (by default <c>./data/export.db</c>), outside the storage root.
    /// </summary>
    public ExportOptions Export { get; set; } = new() { DbPath = null! };

    internal ExportOptions ResolvedExport => Export.DbPath is null
        ? Export with { DbPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(AuthDbPath))!, "export.db") }
        : Export;

    /// <summary>Retention policies and their schedule (<c>retention.enabled</c>, on by default as in Arc).</summary>
    public bool RetentionEnabled { get; set; } = true;

    /// <summary>
    /// The <c>retention.*</c> settings. A <see cref="RetentionOptions.DbPath"/> of null means <c>retention.json</c> beside
    /// <see cref="AuthDbPath"/> (by default <c>./data/retention.json</c>), outside the storage root.
    /// </summary>
    public RetentionOptions Retention { get; set; } = new() { DbPath = null! };

    internal RetentionOptions ResolvedRetention => Retention.DbPath is null
        ? Retention with { DbPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(AuthDbPath))!, "retention.json") }
        : Retention;

    /// <summary>Continuous queries (<c>continuous_query.enabled</c>).</summary>
    public bool ContinuousQueryEnabled { get; set; } = true;

    /// <summary>
    /// The <c>continuous_query.*</c> settings. A <see cref="ContinuousQueryOptions.DbPath"/> of null means
    /// <c>continuous_queries.db</c> beside <see cref="AuthDbPath"/> (by default <c>./data/continuous_queries.db</c>).
    /// </summary>
    public ContinuousQueryOptions ContinuousQuery { get; set; } = new() { DbPath = null! };

    internal ContinuousQueryOptions ResolvedContinuousQuery => ContinuousQuery.DbPath is null
        ? ContinuousQuery with { DbPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(AuthDbPath))!, "continuous_queries.db") }
        : ContinuousQuery;

    /// <summary>Where the settings came from, for the startup log.</summary>
    public string? SourceFile { get; private set; }

    /// <summary>Keys that were set but are ignored (Arc features this build lacks, or unknown keys), for a startup warning.</summary>
    public List<string> Ignored { get; } = [];

    /// <summary>Every key this build applies, as written in arc.toml.</summary>
    public static IEnumerable<string> SupportedKeys => Keys.Keys.Order(StringComparer.Ordinal);

    /// <summary>The environment variable that overrides <paramref name="key"/>.</summary>
    public static string EnvironmentName(string key) => "ARC_" + key.ToUpperInvariant().Replace('.', '_');

    /// <summary>
    /// Loads <paramref name="path"/> (or <c>./arc.toml</c> when present and no path is given), then the environment.
    /// </summary>
    public static ArcConfig Load(string? path, IDictionary environment)
    {
        var config = new ArcConfig();
        if (path is null && File.Exists("arc.toml"))
        {
            path = "arc.toml";
        }

        if (path is not null)
        {
            config.SourceFile = Path.GetFullPath(path);
            foreach (var (key, value) in ReadToml(path))
            {
                config.Set(key, value, path);
            }
        }

        foreach (var key in Keys.Keys.Concat(ArcKeysNotImplemented))
        {
            if (environment[EnvironmentName(key)] is string value)
            {
                config.Set(key, value, EnvironmentName(key));
            }
        }

        config.Engine = config.Engine with { ObjectStore = config.S3.ToOptions(config.StorageBackend) };
        return config;
    }

    private void Set(string key, string value, string source)
    {
        if (Keys.TryGetValue(key, out var apply))
        {
            try
            {
                apply(this, key, value);
            }
            catch (ConfigException e)
            {
                throw new ConfigException($"{source}: {e.Message}");
            }
        }
        else
        {
            Ignored.Add(ArcKeysNotImplemented.Contains(key) ? $"{key} (not supported by this build yet)" : $"{key} (unknown key)");
        }
    }

    private static IEnumerable<(string Key, string Value)> ReadToml(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot read configuration file {path}: {e.Message}");
        }

        TomlTable table;
        try
        {
            table = TomlSerializer.Deserialize(text, ConfigTomlContext.Default.TomlTable)
                    ?? throw new ConfigException($"{path}: empty document");
        }
        catch (TomlException e)
        {
            throw new ConfigException($"{path}: invalid TOML: {e.Message}");
        }

        var values = new List<(string, string)>();
        Flatten(table, "", values);
        return values;
    }

    private static void Flatten(TomlTable table, string prefix, List<(string, string)> values)
    {
        foreach (var (name, value) in table)
        {
            var key = prefix + name;
            switch (value)
            {
                case TomlTable nested:
                    Flatten(nested, key + ".", values);
                    break;
                case TomlArray array:
                    values.Add((key, string.Join(",", array.Select(Scalar))));
                    break;
                default:
                    values.Add((key, Scalar(value)));
                    break;
            }
        }
    }

    private static string Scalar(object? value) => value switch
    {
        null => "",
        bool b => b ? "true" : "false",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private void Compaction(Func<CompactionOptions, CompactionOptions> change) =>
        Engine = Engine with { Compaction = change(Engine.Compaction) };

    /// <summary>
    /// Arc's <c>["measurement:col1,col2", ...]</c>. A TOML array arrives joined by commas (as the environment form is
    /// written), so an item with a colon starts the next measurement's entry and the items after it are its columns.
    /// </summary>
    private static Dictionary<string, IReadOnlyList<string>> SortKeys(string key, string value)
    {
        var keys = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        List<string>? columns = null;
        foreach (var item in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = item.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                (columns ?? throw new ConfigException(
                    $"{key}: expected entries such as \"cpu:host,region\" (measurement, colon, columns), got \"{item}\" first")).Add(item);
                continue;
            }

            var measurement = item[..colon].Trim();
            var first = item[(colon + 1)..].Trim();
            if (measurement.Length == 0 || first.Length == 0)
            {
                throw new ConfigException($"{key}: \"{item}\" needs a measurement before the colon and a column after it");
            }

            columns = [first];
            if (!keys.TryAdd(measurement, columns))
            {
                throw new ConfigException($"{key}: measurement \"{measurement}\" is listed twice");
            }
        }

        return keys;
    }

    private static string Cron(string key, string value)
    {
        try
        {
            CompactionManager.ValidateSchedule(value.Trim());
            return value.Trim();
        }
        catch (Cronos.CronFormatException e)
        {
            throw new ConfigException($"{key}: invalid cron expression \"{value}\": {e.Message}");
        }
    }

    private static string NonEmpty(string key, string value) =>
        string.IsNullOrWhiteSpace(value) ? throw new ConfigException($"{key}: must not be empty") : value.Trim();

    /// <summary>DuckDB memory limits: a size (<c>4GB</c>) or a percentage of RAM (<c>80%</c>).</summary>
    private static string MemoryLimit(string key, string value)
    {
        var text = value.Trim();
        if (text.Length == 0)
        {
            return "";
        }

        if (text.EndsWith('%'))
        {
            var percent = ConfigValues.Int(key, text[..^1], 1, 100);
            var total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            return (total / 100 * percent).ToString(CultureInfo.InvariantCulture) + "B";
        }

        return ConfigValues.Size(key, text, 16L << 20).ToString(CultureInfo.InvariantCulture) + "B";
    }
}

/// <summary>Source-generated TOML metadata (Tomlyn's reflection mode is not AOT-clean).</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class ConfigTomlContext : TomlSerializerContext;

/// <summary>
/// <c>storage.s3_*</c>. MinIO, Ceph and GCS are presets of the S3 backend: path-style addressing, and for GCS its
/// interoperability endpoint (HMAC keys). Credentials left empty come from the SDK's default chain (AWS_* variables, the
/// shared profile, an instance role).
/// </summary>
public sealed class S3Settings
{
    public string Bucket { get; set; } = "";

    public string Prefix { get; set; } = "";

    public string Region { get; set; } = "us-east-1";

    public string Endpoint { get; set; } = "";

    public bool UseSsl { get; set; } = true;

    public bool? PathStyle { get; set; }

    public string AccessKey { get; set; } = "";

    public string SecretKey { get; set; } = "";

    public int TimeoutSeconds { get; set; } = 30;

    public int Concurrency { get; set; } = 4;

    public long CacheBytes { get; set; } = 1L << 30;

    public Arc.Engine.Storage.Remote.ObjectStoreOptions? ToOptions(string backend)
    {
        if (backend == "local")
        {
            return null;
        }

        if (Bucket.Length == 0)
        {
            throw new ConfigException($"storage.s3_bucket: required when storage.backend is {backend}");
        }

        if (backend is "minio" or "ceph" && Endpoint.Length == 0)
        {
            throw new ConfigException($"storage.s3_endpoint: required when storage.backend is {backend}");
        }

        return new Arc.Engine.Storage.Remote.ObjectStoreOptions
        {
            Bucket = Bucket,
            Prefix = Prefix,
            Region = Region,
            Endpoint = Endpoint.Length > 0 ? Endpoint : backend == "gcs" ? "https://storage.googleapis.com" : "",
            UseSsl = UseSsl,
            PathStyle = PathStyle ?? backend is "minio" or "ceph" or "gcs",
            AccessKey = AccessKey,
            SecretKey = SecretKey,
            Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
            Concurrency = Concurrency,
            CacheBytes = CacheBytes,
        };
    }
}

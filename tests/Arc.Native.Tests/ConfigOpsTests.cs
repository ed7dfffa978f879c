using System.Collections;
using Arc.Native.Configuration;

namespace Arc.Native.Tests;

public sealed class ConfigOpsTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-config-ops-" + Guid.NewGuid().ToString("N"));

    public ConfigOpsTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void OperationsKeysAreReadFromTomlAndTheEnvironment()
    {
        var path = Path.Combine(_directory, "arc.toml");
        File.WriteAllText(path, """
            [query]
            timeout = 30
            queue_size = 12
            queue_timeout = 5
            result_buffer_size = "256KB"
            hot_data_size_mb = 64
            hot_data_warm = false
            hot_data_min_seconds = 30

            [cache]
            enabled = true
            max_size_mb = 64
            default_ttl = 30

            [metrics]
            public = true

            [rate_limit]
            enabled = true
            requests_per_second = 50
            burst = 100

            [cors]
            allowed_origins = ["https://grafana.example", "http://localhost:3000"]
            allow_credentials = true
            max_age = 60

            [log]
            format = "json"
            requests = true
            """);
        var config = ArcConfig.Load(path, new Hashtable { ["ARC_CACHE_DEFAULT_TTL"] = "7", ["ARC_DATABASE_MAX_CONNECTIONS"] = "3" });
        Assert.Empty(config.Ignored); // cache.* are no longer "not supported yet"
        Assert.Equal((12, TimeSpan.FromSeconds(5), 3), (config.Engine.QueryQueueSize, config.Engine.QueryQueueTimeout, config.Engine.QueryConnections));
        Assert.Equal(256L << 10, config.Engine.ResultBufferBytes);
        Assert.Equal(64L << 20, config.Engine.HotDataBytes);
        Assert.False(config.Engine.HotDataWarmup);
        Assert.Equal(TimeSpan.FromSeconds(30), config.Engine.HotDataMinAge);
        Assert.Equal(0, ArcConfig.Load(null, new Hashtable { ["ARC_QUERY_HOT_DATA_SIZE_MB"] = "0" }).Engine.HotDataBytes); // off
        Assert.Equal((true, 64L << 20, TimeSpan.FromSeconds(7)), (config.CacheEnabled, config.CacheMaxBytes, config.CacheTtl));
        Assert.True(config.MetricsPublic);
        Assert.Equal((true, 50, 100), (config.RateLimitEnabled, config.RateLimitPerSecond, config.RateLimitBurst));
        Assert.Equal(["https://grafana.example", "http://localhost:3000"], config.CorsAllowedOrigins);
        Assert.True(config.CorsAllowCredentials);
        Assert.Equal(("json", true), (config.LogFormat, config.LogRequests));
        config.ValidateOperations();
        Assert.Contains("rate_limit.burst", ArcConfig.SupportedKeys);

        var defaults = new ArcConfig();
        Assert.Equal(256L << 20, defaults.Engine.HotDataBytes); // on, 256 MB
        Assert.True(defaults.Engine.HotDataWarmup);
        Assert.Equal(TimeSpan.FromSeconds(60), defaults.Engine.HotDataMinAge);
        Assert.Equal((true, false, false, "text"), (defaults.CacheEnabled, defaults.RateLimitEnabled, defaults.MetricsPublic, defaults.LogFormat));
        Assert.Equal(["*"], defaults.CorsAllowedOrigins);
    }

    [Theory]
    [InlineData("ARC_LOG_FORMAT", "xml", "log.format")]
    [InlineData("ARC_CORS_ALLOWED_ORIGINS", "https://a.example/path", "cors.allowed_origins")]
    [InlineData("ARC_RATE_LIMIT_REQUESTS_PER_SECOND", "0", "rate_limit.requests_per_second")]
    [InlineData("ARC_QUERY_QUEUE_SIZE", "-1", "query.queue_size")]
    [InlineData("ARC_CACHE_MAX_SIZE_MB", "lots", "cache.max_size_mb")]
    [InlineData("ARC_QUERY_HOT_DATA_SIZE_MB", "-1", "query.hot_data_size_mb")]
    [InlineData("ARC_QUERY_HOT_DATA_MIN_SECONDS", "-5", "query.hot_data_min_seconds")]
    public void BadValuesNameTheirKey(string variable, string value, string key)
    {
        var error = Assert.Throws<ConfigException>(() => ArcConfig.Load(null, new Hashtable { [variable] = value }));
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CredentialsNeedExplicitOrigins()
    {
        var config = ArcConfig.Load(null, new Hashtable { ["ARC_CORS_ALLOW_CREDENTIALS"] = "true" });
        Assert.Contains("cors.allowed_origins", Assert.Throws<ConfigException>(config.ValidateOperations).Message, StringComparison.Ordinal);
    }
}

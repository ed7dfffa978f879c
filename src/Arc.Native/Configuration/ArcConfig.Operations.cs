namespace Arc.Native.Configuration;

/// <summary>Operations settings: query queue and result buffering, result cache, metrics, rate limiting, CORS, logs.</summary>
public sealed partial class ArcConfig
{
    private static readonly Dictionary<string, Action<ArcConfig, string, string>> OperationsKeys = new(StringComparer.Ordinal)
    {
        ["query.queue_size"] = static (c, k, v) => c.Engine = c.Engine with { QueryQueueSize = ConfigValues.Int(k, v, 0, 1_000_000) },
        ["query.queue_timeout"] = static (c, k, v) =>
            c.Engine = c.Engine with { QueryQueueTimeout = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 1, 86_400)) },
        ["query.result_buffer_size"] = static (c, k, v) => c.Engine = c.Engine with { ResultBufferBytes = ConfigValues.Size(k, v, 0) },
        ["query.hot_data_size_mb"] = static (c, k, v) => c.Engine = c.Engine with { HotDataBytes = ConfigValues.Int(k, v, 0, 1 << 20) * (1L << 20) },
        ["query.hot_data_min_seconds"] = static (c, k, v) =>
            c.Engine = c.Engine with { HotDataMinAge = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 0, 86_400)) },
        ["query.hot_data_warm"] = static (c, k, v) => c.Engine = c.Engine with { HotDataWarmup = ConfigValues.Bool(k, v) },
        ["cache.enabled"] = static (c, k, v) => c.CacheEnabled = ConfigValues.Bool(k, v),
        ["cache.max_size_mb"] = static (c, k, v) => c.CacheMaxBytes = ConfigValues.Int(k, v, 1, 1 << 20) * (1L << 20),
        ["cache.default_ttl"] = static (c, k, v) => c.CacheTtl = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 0, 86_400 * 30)),
        ["cache.max_entry_size"] = static (c, k, v) => c.CacheMaxEntryBytes = ConfigValues.Size(k, v, 1),
        ["metrics.public"] = static (c, k, v) => c.MetricsPublic = ConfigValues.Bool(k, v),
        ["rate_limit.enabled"] = static (c, k, v) => c.RateLimitEnabled = ConfigValues.Bool(k, v),
        ["rate_limit.requests_per_second"] = static (c, k, v) => c.RateLimitPerSecond = ConfigValues.Int(k, v, 1, 1_000_000),
        ["rate_limit.burst"] = static (c, k, v) => c.RateLimitBurst = ConfigValues.Int(k, v, 1, 10_000_000),
        ["cors.enabled"] = static (c, k, v) => c.CorsEnabled = ConfigValues.Bool(k, v),
        ["cors.allowed_origins"] = static (c, k, v) => c.CorsAllowedOrigins = Origins(k, v),
        ["cors.allowed_methods"] = static (c, k, v) => c.CorsAllowedMethods = List(k, v),
        ["cors.allowed_headers"] = static (c, k, v) => c.CorsAllowedHeaders = List(k, v),
        ["cors.exposed_headers"] = static (c, k, v) => c.CorsExposedHeaders = List(k, v, allowEmpty: true),
        ["cors.allow_credentials"] = static (c, k, v) => c.CorsAllowCredentials = ConfigValues.Bool(k, v),
        ["cors.max_age"] = static (c, k, v) => c.CorsMaxAge = TimeSpan.FromSeconds(ConfigValues.Int(k, v, 0, 86_400)),
        ["log.format"] = static (c, k, v) => c.LogFormat = ConfigValues.OneOf(k, v, "text", "json"),
        ["log.requests"] = static (c, k, v) => c.LogRequests = ConfigValues.Bool(k, v),
    };

    static ArcConfig()
    {
        foreach (var (key, apply) in OperationsKeys)
        {
            Keys.Add(key, apply);
        }
    }

    /// <summary>The query result cache (<c>cache.enabled</c>).</summary>
    public bool CacheEnabled { get; set; } = true;

    /// <summary>Total size of cached results (<c>cache.max_size_mb</c>; Arc's default is 1024).</summary>
    public long CacheMaxBytes { get; set; } = 256L << 20;

    /// <summary>Longest a result is served from the cache (<c>cache.default_ttl</c>, seconds).</summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>Largest single result the cache keeps (<c>cache.max_entry_size</c>).</summary>
    public long CacheMaxEntryBytes { get; set; } = 1L << 20;

    /// <summary>Serve <c>GET /metrics</c> and <c>/api/v1/metrics*</c> without a token (<c>metrics.public</c>); otherwise they need the read permission.</summary>
    public bool MetricsPublic { get; set; }

    /// <summary>Per-token (or per-client-IP without one) request rate limiting (<c>rate_limit.enabled</c>).</summary>
    public bool RateLimitEnabled { get; set; }

    /// <summary>Sustained requests per second per token or IP (<c>rate_limit.requests_per_second</c>).</summary>
    public int RateLimitPerSecond { get; set; } = 100;

    /// <summary>Requests a token or IP may make at once above the sustained rate (<c>rate_limit.burst</c>).</summary>
    public int RateLimitBurst { get; set; } = 200;

    public bool CorsEnabled { get; set; } = true;

    /// <summary>Origins allowed to call the API from a browser (<c>cors.allowed_origins</c>); <c>*</c> allows any.</summary>
    public IReadOnlyList<string> CorsAllowedOrigins { get; set; } = ["*"];

    public IReadOnlyList<string> CorsAllowedMethods { get; set; } = ["*"];

    public IReadOnlyList<string> CorsAllowedHeaders { get; set; } = ["*"];

    /// <summary>Response headers a browser script may read (<c>cors.exposed_headers</c>).</summary>
    public IReadOnlyList<string> CorsExposedHeaders { get; set; } = ["x-request-id", "x-arc-cache", "Retry-After", "Content-Encoding"];

    /// <summary>Allow cookies/Authorization from browsers (<c>cors.allow_credentials</c>); needs explicit origins.</summary>
    public bool CorsAllowCredentials { get; set; }

    /// <summary>How long browsers may cache a preflight answer (<c>cors.max_age</c>).</summary>
    public TimeSpan CorsMaxAge { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary><c>text</c> (one line per entry) or <c>json</c> (one JSON object per line, with scopes such as the request id).</summary>
    public string LogFormat { get; set; } = "text";

    /// <summary>Log one line per HTTP request (method, route, status, time, token id; never secrets or query strings).</summary>
    public bool LogRequests { get; set; }

    /// <summary>Checks that need several keys together; called once loading is done.</summary>
    internal void ValidateOperations()
    {
        if (CorsAllowCredentials && CorsAllowedOrigins.Contains("*"))
        {
            throw new ConfigException("cors.allow_credentials: browsers refuse credentials with cors.allowed_origins = \"*\"; list the origins");
        }
    }

    private static List<string> List(string key, string value, bool allowEmpty = false)
    {
        var items = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
        return items.Count > 0 || allowEmpty ? items : throw new ConfigException($"{key}: expected a list such as \"a, b\" or [\"a\", \"b\"], got \"{value}\"");
    }

    private static List<string> Origins(string key, string value)
    {
        var origins = List(key, value);
        foreach (var origin in origins)
        {
            if (origin != "*" && !(Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.PathAndQuery == "/"
                                   && !origin.EndsWith('/')))
            {
                throw new ConfigException($"{key}: \"{origin}\" is not an origin such as https://grafana.example.com (scheme, host, optional port; no path)");
            }
        }

        return origins;
    }
}

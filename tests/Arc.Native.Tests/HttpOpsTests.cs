using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Arc.Native.Tests;

/// <summary>Keeps every log entry (level, message, structured state, scopes, exception) a server writes.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<(string Category, LogLevel Level, string Text, List<string> Scopes)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = new StringBuilder(formatter(state, exception));
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (key, value) in values)
                {
                    text.Append(' ').Append(key).Append('=').Append(value);
                }
            }

            text.Append(' ').Append(exception);
            var scopes = new List<string>();
            provider._scopes.ForEachScope((scope, list) =>
            {
                var entry = new StringBuilder(scope?.ToString());
                if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
                {
                    foreach (var (key, value) in pairs)
                    {
                        entry.Append(' ').Append(key).Append('=').Append(value);
                    }
                }

                list.Add(entry.ToString());
            }, scopes);
            provider.Entries.Enqueue((category, logLevel, text.ToString(), scopes));
        }
    }
}

/// <summary>
/// A server with request logs at trace level captured, CORS limited to one origin and a public <c>/metrics</c>: request
/// ids, secrets kept out of logs, CORS, and a strict parse of the Prometheus text.
/// </summary>
public sealed class HttpOpsFixture : IAsyncLifetime
{
    public const string Origin = "https://grafana.example";

    public CapturingLoggerProvider Logs { get; } = new();

    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await TestServer.StartAsync(c =>
    {
        c.LogLevel = "trace";
        c.LogRequests = true;
        c.MetricsPublic = true;
        c.CorsAllowedOrigins = [Origin];
        c.AuthCacheTtl = TimeSpan.Zero;
    }, logging: b => b.AddProvider(Logs));

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class HttpOpsTests(HttpOpsFixture fixture) : IClassFixture<HttpOpsFixture>
{
    private readonly TestServer _server = fixture.Server;

    [Fact]
    public async Task RequestIdsAreTakenOrMadeEchoedAndInTheLogScope()
    {
        using (var given = await Get(_server.Client, "/health", ("x-request-id", "grafana-7f3a:42")))
        {
            Assert.Equal("grafana-7f3a:42", given.Headers.GetValues("x-request-id").Single());
        }

        foreach (var offered in new[] { null, "has space", new string('a', 129), "quote\"s" })
        {
            using var response = await Get(_server.Client, "/health", offered is null ? null : ("x-request-id", offered));
            var id = response.Headers.GetValues("x-request-id").Single();
            Assert.NotEqual(offered, id);
            Assert.Matches("^[0-9a-f]{32}$", id);
        }

        using (var query = await Post(_server.Client, "/api/v1/query", TestServer.SqlBody("SELECT 1"), ("x-request-id", "req-for-the-log")))
        {
            Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        }

        var entry = await WaitForLog(e => e.Text.Contains("/api/v1/query 200", StringComparison.Ordinal) && e.Scopes.Any(s => s.Contains("req-for-the-log", StringComparison.Ordinal)));
        Assert.Contains(entry.Scopes, s => s.Contains("RequestId=req-for-the-log", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SecretsNeverReachTheLogs()
    {
        using var created = await Post(_server.Client, "/api/v1/auth/tokens", "{\"name\":\"logged\",\"permissions\":[\"read\",\"write\"]}");
        var token = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        const string wrong = "arc_this-token-does-not-exist-0123456789abcdefghij";
        using var anonymous = _server.NewClient(null);

        // Every form a token travels in, valid and invalid, on successful and failing requests.
        (await anonymous.PostAsync($"/write?db=logs&u=me&p={token}", new StringContent("m v=1\n"))).Dispose();
        (await anonymous.PostAsync($"/write?db=logs&u=me&p={wrong}", new StringContent("m v=1\n"))).Dispose();
        (await anonymous.PostAsync($"/write?db=logs&p={token}", new StringContent("m v=\n"))).Dispose(); // 400
        (await Post(anonymous, "/api/v1/query", TestServer.SqlBody("SELECT nope"), ("x-api-key", token))).Dispose();
        (await Post(anonymous, "/api/v1/query", TestServer.SqlBody("SELECT 1"), ("x-api-key", wrong))).Dispose();
        (await Get(anonymous, "/api/v1/auth/verify", ("Authorization", $"Token {token}"))).Dispose();
        (await Get(anonymous, "/metrics", ("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"me:{token}"))))).Dispose();
        (await Get(anonymous, $"/api/v1/query/nope?p={token}")).Dispose();
        await WaitForLog(e => e.Text.Contains("/api/v1/query/nope", StringComparison.Ordinal));

        var everything = string.Join('\n', fixture.Logs.Entries.Select(e => $"{e.Category} {e.Text} {string.Join(' ', e.Scopes)}"));
        Assert.Contains("token=", everything, StringComparison.Ordinal); // request lines are there, with token ids
        foreach (var secret in new[] { token, wrong, TestServer.AdminToken, token[4..20] })
        {
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task CorsAllowsTheConfiguredOriginOnly()
    {
        using var anonymous = _server.NewClient(null);
        using (var preflight = await Send(anonymous, HttpMethod.Options, "/api/v1/query", null, ("Origin", HttpOpsFixture.Origin),
                   ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization,content-type")))
        {
            Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode); // answered before authentication: a preflight has no token
            Assert.Equal(HttpOpsFixture.Origin, preflight.Headers.GetValues("Access-Control-Allow-Origin").Single());
            Assert.Contains("POST", preflight.Headers.GetValues("Access-Control-Allow-Methods").Single(), StringComparison.Ordinal);
            Assert.Equal("600", preflight.Headers.GetValues("Access-Control-Max-Age").Single());
        }

        using (var actual = await Get(_server.Client, "/ready", ("Origin", HttpOpsFixture.Origin)))
        {
            Assert.Equal(HttpOpsFixture.Origin, actual.Headers.GetValues("Access-Control-Allow-Origin").Single());
            Assert.Contains("x-request-id", actual.Headers.GetValues("Access-Control-Expose-Headers").Single(), StringComparison.Ordinal);
        }

        using (var other = await Send(anonymous, HttpMethod.Options, "/api/v1/query", null, ("Origin", "https://evil.example"),
                   ("Access-Control-Request-Method", "POST")))
        {
            Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
        }

        using (var otherGet = await Get(_server.Client, "/ready", ("Origin", "https://evil.example")))
        {
            Assert.False(otherGet.Headers.Contains("Access-Control-Allow-Origin"));
        }
    }

    [Fact]
    public async Task MetricsAreStrictPrometheusTextWithEveryArea()
    {
        using (var write = await _server.WriteAsync("/write?db=prom", "cpu,host=a v=1 1700000000000000000\ncpu,host=b v= 1\ncpu,host=c v=3 1700000000000000001\n"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, write.StatusCode); // one line rejected, two stored
        }

        for (var i = 0; i < 2; i++)
        {
            Assert.Equal("2", (await _server.RowsAsync("SELECT count(*) FROM cpu", "prom"))[0][0]);
        }

        await _server.Server.Engine.FlushAsync();
        (await _server.NewClient(null).GetAsync("/api/v1/measurements")).Dispose(); // a 401
        (await _server.Client.GetAsync("/no/such/route")).Dispose();

        using var anonymous = _server.NewClient(null);
        using var response = await anonymous.GetAsync("/metrics"); // metrics.public = true here
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        var families = PrometheusOpsParser.Parse(await response.Content.ReadAsStringAsync());

        double Value(string family, string sample, params (string, string)[] labels) =>
            Assert.Single(families[family].Samples, s => s.Name == sample && labels.All(l => s.Labels.TryGetValue(l.Item1, out var v) && v == l.Item2)).Value;

        Assert.True(Value("arc_ingest_records_total", "arc_ingest_records_total", ("protocol", "line_protocol"), ("result", "accepted")) >= 2);
        Assert.True(Value("arc_ingest_records_total", "arc_ingest_records_total", ("protocol", "line_protocol"), ("result", "rejected")) >= 1);
        Assert.True(Value("arc_ingest_errors_total", "arc_ingest_errors_total", ("protocol", "line_protocol")) >= 1);
        Assert.True(Value("arc_ingest_bytes_total", "arc_ingest_bytes_total", ("protocol", "line_protocol")) > 0);
        Assert.True(Value("arc_flushes_total", "arc_flushes_total") >= 1);
        Assert.True(Value("arc_flush_duration_seconds", "arc_flush_duration_seconds_count") >= 1);
        Assert.Equal(0, Value("arc_query_database_renewals_total", "arc_query_database_renewals_total")); // nothing removed yet
        Assert.True(Value("arc_wal_entries_total", "arc_wal_entries_total") >= 1);
        Assert.True(Value("arc_wal_write_duration_seconds", "arc_wal_write_duration_seconds_count") >= 1);
        Assert.Equal(0, Value("arc_compaction_jobs_total", "arc_compaction_jobs_total", ("result", "failed")));
        Assert.Equal(_server.Config.Engine.QueryConnections, Value("arc_query_pool_size", "arc_query_pool_size"));
        Assert.Equal(4, families["arc_query_pool_queue_depth"].Samples.Count);
        Assert.True(Value("arc_query_execution_seconds", "arc_query_execution_seconds_count") >= 1);
        Assert.Equal("summary", families["arc_query_execution_window_seconds"].Type);
        Assert.True(Value("arc_query_cache_hits_total", "arc_query_cache_hits_total") >= 1);
        Assert.True(Value("arc_http_requests_total", "arc_http_requests_total", ("method", "POST"), ("route", "/api/v1/query"), ("status", "200")) >= 2);
        Assert.True(Value("arc_http_requests_total", "arc_http_requests_total", ("method", "GET"), ("route", "/api/v1/measurements"), ("status", "401")) >= 1);
        Assert.True(Value("arc_http_requests_total", "arc_http_requests_total", ("method", "GET"), ("route", "(unmatched)"), ("status", "404")) >= 1);
        Assert.True(Value("arc_http_request_duration_seconds", "arc_http_request_duration_seconds_count", ("method", "POST"), ("route", "/api/v1/query")) >= 2);
        Assert.Equal(1, Value("arc_build_info", "arc_build_info"));
        Assert.True(Value("process_resident_memory_bytes", "process_resident_memory_bytes") > 0);

        using var pool = await _server.Client.GetAsync("/metrics/query-pool");
        var json = JsonDocument.Parse(await pool.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(_server.Config.Engine.QueryConnections, json.GetProperty("size").GetInt32());
        Assert.True(json.GetProperty("execution").GetProperty("count").GetInt64() >= 1);
        Assert.True(json.GetProperty("execution").GetProperty("p95_ms").GetDouble() >= json.GetProperty("execution").GetProperty("p50_ms").GetDouble());
        Assert.Equal(["low", "normal", "high", "critical"], json.GetProperty("queue_depth_by_priority").EnumerateObject().Select(p => p.Name));
    }

    private async Task<(string Category, LogLevel Level, string Text, List<string> Scopes)> WaitForLog(
        Func<(string Category, LogLevel Level, string Text, List<string> Scopes), bool> match)
    {
        for (var i = 0; i < 200; i++)
        {
            foreach (var entry in fixture.Logs.Entries)
            {
                if (match(entry))
                {
                    return entry;
                }
            }

            await Task.Delay(10);
        }

        Assert.Fail("the expected log entry was not written");
        return default;
    }

    private static Task<HttpResponseMessage> Get(HttpClient client, string path, params (string, string)[] headers) =>
        Send(client, HttpMethod.Get, path, null, headers);

    private static Task<HttpResponseMessage> Get(HttpClient client, string path, (string, string)? header) =>
        Send(client, HttpMethod.Get, path, null, header is { } h ? [h] : []);

    private static Task<HttpResponseMessage> Post(HttpClient client, string path, string json, params (string, string)[] headers) =>
        Send(client, HttpMethod.Post, path, json, headers);

    internal static Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string path, string? json, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return client.SendAsync(request);
    }
}

/// <summary>Rate limiting (its own server: every request there counts against a bucket) and the default CORS policy.</summary>
public sealed class RateLimitOpsTests
{
    [Fact]
    public async Task EachTokenAndAnonymousIpHasABucketAnd429CarriesRetryAfterAndGuessingIsLimited()
    {
        await using var server = await TestServer.StartAsync(c =>
        {
            c.RateLimitEnabled = true;
            c.RateLimitPerSecond = 1;
            c.RateLimitBurst = 3;
        });

        // Until the first 429 (a slow machine may refill a token or two on the way): the burst first, then the refusal.
        var statuses = await SendUntilLimited(server.Client, "/api/v1/measurements", async response =>
        {
            var retryAfter = int.Parse(response.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture);
            Assert.InRange(retryAfter, 1, 2);
            Assert.Contains("rate limit", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString(),
                StringComparison.Ordinal);
        });
        Assert.All(statuses[..^1], status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.True(statuses.Count > 3, $"only {statuses.Count - 1} requests before the 429; the burst is 3");

        // Health probes are never limited; a request without a token is limited by its IP, apart from the admin's bucket.
        using var anonymous = server.NewClient(null);
        for (var i = 0; i < 8; i++)
        {
            using var health = await anonymous.GetAsync("/health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        using (var verify = await anonymous.GetAsync("/api/v1/auth/verify"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, verify.StatusCode);
        }

        // Failed authentications draw from a bucket per IP, checked before the token lookup: guessing gets 429s. The pause
        // lets the limiter's 100 ms refill land between guesses, so the bucket holds a fraction of a token: that is no
        // token (a zero-permit probe counted it as one, and a guesser on a busy machine was never refused).
        using var guessing = server.NewClient("arc_not-a-real-token-0123456789abcdefghijklmnop");
        using (var first = await guessing.GetAsync("/api/v1/measurements"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, first.StatusCode);
        }

        await Task.Delay(300);
        var guesses = await SendUntilLimited(guessing, "/api/v1/measurements", _ => Task.CompletedTask);
        Assert.All(guesses[..^1], status => Assert.Equal(HttpStatusCode.Unauthorized, status));
        // At most 3.3 tokens were left after the first guess and the pause (a slow machine adds a few tenths on the way).
        Assert.True(guesses.Count <= 5, $"{guesses.Count - 1} failed authentications after the pause before the 429: {string.Join(", ", guesses)}");

        await Task.Delay(1100);
        using (var refilled = await server.Client.GetAsync("/api/v1/measurements"))
        {
            Assert.Equal(HttpStatusCode.OK, refilled.StatusCode);
        }

        // Default CORS: any origin (dashboards).
        using var preflight = await HttpOpsTests.Send(anonymous, HttpMethod.Options, "/api/v1/query", null, ("Origin", "http://localhost:3000"),
            ("Access-Control-Request-Method", "POST"));
        Assert.Equal("*", preflight.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    /// <summary>GETs <paramref name="path"/> until a 429 (checked by <paramref name="check429"/>), at most 20 times.</summary>
    private static async Task<List<HttpStatusCode>> SendUntilLimited(HttpClient client, string path, Func<HttpResponseMessage, Task> check429)
    {
        var statuses = new List<HttpStatusCode>();
        while (statuses.Count < 20)
        {
            using var response = await client.GetAsync(path);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                await check429(response);
                return statuses;
            }
        }

        throw new Xunit.Sdk.XunitException($"20 requests to {path} without a 429: {string.Join(", ", statuses)}");
    }
}

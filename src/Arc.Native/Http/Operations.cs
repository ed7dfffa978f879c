using System.Globalization;
using System.Threading.RateLimiting;
using Arc.Native.Auth;
using Arc.Native.Configuration;
using Microsoft.AspNetCore.RateLimiting;

namespace Arc.Native.Http;

/// <summary>
/// Wiring of the operations features into the host: request ids, logs and metrics (<see cref="RequestMiddleware"/>),
/// CORS, the per-token/IP rate limiter, the query result cache, and the metrics and cache endpoints.
/// </summary>
internal static class Operations
{
    /// <summary>Registers the services; call before <c>Build()</c>.</summary>
    public static void AddOperations(this WebApplicationBuilder builder, ArcConfig config)
    {
        config.ValidateOperations();
        builder.Services.AddSingleton<HttpMetrics>();
        builder.Services.AddSingleton<MetricsTimeSeries>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsTimeSeries>());
        builder.Services.AddSingleton<AuthFailureBuckets>();
        if (config.CorsEnabled)
        {
            builder.Services.AddCors(o => o.AddDefaultPolicy(policy =>
            {
                if (config.CorsAllowedOrigins.Contains("*"))
                {
                    policy.AllowAnyOrigin();
                }
                else
                {
                    policy.WithOrigins([.. config.CorsAllowedOrigins]);
                }

                if (config.CorsAllowedMethods.Contains("*"))
                {
                    policy.AllowAnyMethod();
                }
                else
                {
                    policy.WithMethods([.. config.CorsAllowedMethods]);
                }

                if (config.CorsAllowedHeaders.Contains("*"))
                {
                    policy.AllowAnyHeader();
                }
                else
                {
                    policy.WithHeaders([.. config.CorsAllowedHeaders]);
                }

                policy.WithExposedHeaders([.. config.CorsExposedHeaders]).SetPreflightMaxAge(config.CorsMaxAge);
                if (config.CorsAllowCredentials)
                {
                    policy.AllowCredentials();
                }
            }));
        }
    }

    /// <summary>
    /// Rate limiting with the ASP.NET Core limiter: when <c>rate_limit.enabled</c>, a token bucket per token id (per client
    /// IP for requests without a valid token) holding <c>rate_limit.burst</c> requests and refilled with
    /// <c>rate_limit.requests_per_second</c>; <c>/health</c> and <c>/ready</c> are exempt (probes). Every refusal (this
    /// limiter or a route's own policy, such as token creation) is a 429 with <c>Retry-After</c> and Arc's error body.
    /// </summary>
    public static void ConfigureRateLimiter(RateLimiterOptions options, ArcConfig config)
    {
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.OnRejected = static async (rejected, cancellationToken) =>
        {
            var context = rejected.HttpContext;
            context.RequestServices.GetRequiredService<HttpMetrics>().RateLimited();
            var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 1;
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            await WriteEndpoints.Error(context, StatusCodes.Status429TooManyRequests,
                $"rate limit exceeded; retry in {seconds} s").ConfigureAwait(false);
        };
        if (!config.RateLimitEnabled)
        {
            return;
        }

        var perSecond = config.RateLimitPerSecond;
        var burst = Math.Max(config.RateLimitBurst, perSecond);
        options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
        {
            var path = context.Request.Path;
            if (path.Equals("/health", StringComparison.Ordinal) || path.Equals("/ready", StringComparison.Ordinal))
            {
                return RateLimitPartition.GetNoLimiter("probes");
            }

            var key = context.Token() is { } token ? "token:" + token.Id : "ip:" + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown");
            return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = burst,
                TokensPerPeriod = perSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
        });
    }

    /// <summary>The first middleware: request id, log scope, metrics, 503 for a full query queue.</summary>
    public static void UseRequestMiddleware(this WebApplication app) => app.UseMiddleware<RequestMiddleware>();

    /// <summary>
    /// With <c>rate_limit.enabled</c>, failed authentications (401) also draw from a bucket per client IP, checked before
    /// authentication: a client guessing tokens is refused with 429 before each guess costs a token lookup.
    /// </summary>
    public static void UseAuthFailureLimiter(this WebApplication app, ArcConfig config)
    {
        if (config.AuthEnabled && config.RateLimitEnabled)
        {
            app.UseMiddleware<AuthFailureLimiter>();
        }
    }

    /// <summary>CORS, after routing and before authentication (a preflight carries no token and is answered here).</summary>
    public static void UseConfiguredCors(this WebApplication app, ArcConfig config)
    {
        if (config.CorsEnabled)
        {
            app.UseCors();
        }
    }

    public static void MapOperations(this WebApplication app, ArcConfig config)
    {
        MetricsEndpoints.Map(app, config);
        JsonMetricsEndpoints.Map(app, config);
        CacheEndpoints.Map(app);
    }
}

/// <summary>The query result cache, or null when <c>cache.enabled = false</c> (a holder, since DI does not register nulls).</summary>

/// <summary>Per-client-IP token buckets drawn from by failed authentications (a service, so the host disposes its timer).</summary>
internal sealed class AuthFailureBuckets(ArcConfig config) : IDisposable
{
    public PartitionedRateLimiter<string> Limiter { get; } = PartitionedRateLimiter.Create<string, string>(ip =>
        RateLimitPartition.GetTokenBucketLimiter(ip, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(config.RateLimitBurst, config.RateLimitPerSecond),
            TokensPerPeriod = config.RateLimitPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    public void Dispose() => Limiter.Dispose();
}

/// <summary>Counts 401 answers per client IP and refuses that IP with 429 while its bucket is empty.</summary>
internal sealed class AuthFailureLimiter(RequestDelegate next, AuthFailureBuckets buckets, HttpMetrics metrics)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var ip = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        // Whole tokens only: the bucket refills continuously (a fraction every 100 ms), and a zero-permit probe
        // (AttemptAcquire(ip, 0)) succeeds on any fraction, so a guesser was never refused once a refill had landed
        // between its failures (a slow or busy machine). A failure costs one whole token, so it needs one here.
        if (buckets.Limiter.GetStatistics(ip)?.CurrentAvailablePermits < 1)
        {
            metrics.RateLimited();
            context.Response.Headers.RetryAfter = "1";
            await WriteEndpoints.Error(context, StatusCodes.Status429TooManyRequests,
                "too many failed authentications from this address; retry in 1 s").ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
        if (context.Response.StatusCode == StatusCodes.Status401Unauthorized)
        {
            buckets.Limiter.AttemptAcquire(ip).Dispose();
        }
    }
}

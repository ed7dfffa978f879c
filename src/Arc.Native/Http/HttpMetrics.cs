using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Arc.Engine.Metrics;

namespace Arc.Native.Http;

/// <summary>
/// Request counters and latency histograms per (method, route pattern, status), filled by <see cref="RequestMiddleware"/>.
/// Labels are bounded: the route is the endpoint's pattern (<c>/api/v1/query/{measurement}</c>, not the path), unknown
/// methods are <c>OTHER</c>, and a client that went away before the answer is counted with status 499. Requests their
/// client abandoned (the body never arrived whole, or the connection went away) are also counted by reason
/// (<see cref="Aborted"/>).
/// </summary>
internal sealed class HttpMetrics
{
    public const string Unmatched = "(unmatched)";

    private static readonly string[] KnownMethods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];

    private readonly ConcurrentDictionary<(string Method, string Route, int Status), StrongBox<long>> _requests = new();
    private readonly ConcurrentDictionary<(string Method, string Route), Histogram> _durations = new();
    private readonly long[] _aborted = new long[AbortReasons.Length];
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();
    private long _inFlight;
    private long _rateLimited;

    /// <summary>Time since the server started (since these counters exist).</summary>
    public TimeSpan Uptime => System.Diagnostics.Stopwatch.GetElapsedTime(_started);

    /// <summary>
    /// Why a request was abandoned by its client: <c>incomplete</c> (the body ended before its length, or its framing
    /// broke), <c>too_slow</c> (it arrived slower than Kestrel's minimum data rate), <c>client_closed</c> (the connection
    /// went away).
    /// </summary>
    public static readonly string[] AbortReasons = ["incomplete", "too_slow", "client_closed"];

    public void Started() => Interlocked.Increment(ref _inFlight);

    public void Finished(string method, string route, int status, TimeSpan elapsed)
    {
        Interlocked.Decrement(ref _inFlight);
        method = Array.IndexOf(KnownMethods, method) >= 0 ? method : "OTHER";
        Interlocked.Increment(ref _requests.GetOrAdd((method, route, status), static _ => new StrongBox<long>()).Value);
        _durations.GetOrAdd((method, route), static _ => new Histogram(Histogram.LatencyBuckets)).Observe(elapsed);
    }

    /// <summary>A request refused by the rate limiter (429).</summary>
    public void RateLimited() => Interlocked.Increment(ref _rateLimited);

    /// <summary>A request its client abandoned, for one of <see cref="AbortReasons"/>.</summary>
    public void Aborted(string reason) => Interlocked.Increment(ref _aborted[Array.IndexOf(AbortReasons, reason)]);

    /// <summary>
    /// The requests answered per (method, route pattern), with those answered 400 or above, and their latency, ordered by
    /// route and method (for <c>GET /api/v1/metrics/endpoints</c>).
    /// </summary>
    public IReadOnlyList<RouteTotals> Routes()
    {
        var counts = new Dictionary<(string Method, string Route), (long Requests, long Errors)>();
        foreach (var ((method, route, status), count) in _requests)
        {
            var n = Interlocked.Read(ref count.Value);
            counts.TryGetValue((method, route), out var seen);
            counts[(method, route)] = (seen.Requests + n, seen.Errors + (status >= 400 ? n : 0));
        }

        var routes = new List<RouteTotals>(counts.Count);
        foreach (var ((method, route), (requests, errors)) in counts)
        {
            var latency = _durations.TryGetValue((method, route), out var histogram) ? histogram.Sum : 0;
            routes.Add(new RouteTotals(method, route, requests, errors, latency));
        }

        routes.Sort(static (a, b) => string.CompareOrdinal(a.Route, b.Route) is var c and not 0 ? c : string.CompareOrdinal(a.Method, b.Method));
        return routes;
    }

    public void Write(PrometheusWriter writer)
    {
        writer.Gauge("arc_http_requests_in_flight", "HTTP requests being handled.", Interlocked.Read(ref _inFlight));
        writer.Family("arc_http_requests_total", "counter", "HTTP requests answered, by method, route pattern and status (499: the client went away).");
        foreach (var ((method, route, status), count) in _requests.OrderBy(r => r.Key.Route, StringComparer.Ordinal).ThenBy(r => r.Key.Method, StringComparer.Ordinal)
                     .ThenBy(r => r.Key.Status))
        {
            writer.Sample("arc_http_requests_total", Interlocked.Read(ref count.Value),
                ("method", method), ("route", route), ("status", status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        writer.Family("arc_http_request_duration_seconds", "histogram", "Time from the request reaching the server to the end of its response, by method and route pattern.");
        foreach (var ((method, route), histogram) in _durations.OrderBy(d => d.Key.Route, StringComparer.Ordinal).ThenBy(d => d.Key.Method, StringComparer.Ordinal))
        {
            writer.Histogram("arc_http_request_duration_seconds", histogram, ("method", method), ("route", route));
        }

        writer.Counter("arc_http_rate_limited_total", "Requests refused with 429 by the rate limiter (rate_limit.*, token creation).",
            Interlocked.Read(ref _rateLimited));
        writer.Family("arc_http_requests_aborted_total", "counter",
            "Requests their client abandoned, by reason: incomplete (the body ended early or its framing broke), " +
            "too_slow (the body came below the minimum data rate), client_closed (the connection went away before the answer).");
        for (var i = 0; i < AbortReasons.Length; i++)
        {
            writer.Sample("arc_http_requests_aborted_total", Interlocked.Read(ref _aborted[i]), ("reason", AbortReasons[i]));
        }
    }
}

/// <summary>One route's requests, those answered with 400 or above, and the seconds they took in all.</summary>
internal sealed record RouteTotals(string Method, string Route, long Requests, long Errors, double LatencySeconds);

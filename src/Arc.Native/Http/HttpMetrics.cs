using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Arc.Engine.Ingest;
using Arc.Engine.Metrics;

namespace Arc.Native.Http;

/// <summary>
/// Request counters and latency histograms per (method, route pattern, status), filled by <see cref="RequestMiddleware"/>.
/// Labels are bounded: the route is the endpoint's pattern (<c>/api/v1/query/{measurement}</c>, not the path), unknown
/// methods are <c>OTHER</c>, and a client that went away before the answer is counted with status 499.
/// </summary>
internal sealed class HttpMetrics
{
    public const string Unmatched = "(unmatched)";

    private static readonly string[] KnownMethods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];

    private readonly ConcurrentDictionary<(string Method, string Route, int Status), StrongBox<long>> _requests = new();
    private readonly ConcurrentDictionary<(string Method, string Route), Histogram> _durations = new();
    private long _inFlight;
    private long _rateLimited;

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
    }
}

/// <summary>
/// Ingest counters per input format: requests, body bytes (as declared by Content-Length, so compressed bodies count
/// compressed), requests answered with an error status, and records accepted and rejected by the parser. Requests are
/// classified by path in <see cref="RequestMiddleware"/>; records come from the engine's
/// <see cref="Engine.ArcEngine.BatchCompleted"/> hook, attributed through the request's flow (<see cref="Current"/>).
/// </summary>
internal sealed class IngestMetrics
{
    private static readonly string[] LineProtocolPaths = ["/write", "/api/v1/write", "/api/v2/write", "/api/v1/write/line-protocol"];
    private static readonly string[] MsgPackPaths = ["/api/v1/write/msgpack"];
    private static readonly AsyncLocal<ProtocolCounters?> CurrentProtocol = new();

    public ProtocolCounters LineProtocol { get; } = new("line_protocol");

    public ProtocolCounters MsgPack { get; } = new("msgpack");

    /// <summary>The counters of the write request running on this flow, if any.</summary>
    public static ProtocolCounters? Current
    {
        get => CurrentProtocol.Value;
        set => CurrentProtocol.Value = value;
    }

    public ProtocolCounters? Classify(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method) || request.Path.Value is not { } path)
        {
            return null;
        }

        path = path.TrimEnd('/');
        return Array.IndexOf(LineProtocolPaths, path) >= 0 ? LineProtocol : Array.IndexOf(MsgPackPaths, path) >= 0 ? MsgPack : null;
    }

    public static void OnBatchCompleted(WriteBatch batch) => Current?.Records(batch.Accepted, batch.Rejected);

    public void Write(PrometheusWriter writer)
    {
        ProtocolCounters[] all = [LineProtocol, MsgPack];
        writer.Family("arc_ingest_requests_total", "counter", "Write requests answered, by input format.");
        foreach (var counters in all)
        {
            writer.Sample("arc_ingest_requests_total", counters.Requests, ("protocol", counters.Name));
        }

        writer.Family("arc_ingest_errors_total", "counter", "Write requests answered with an error status (4xx/5xx), by input format.");
        foreach (var counters in all)
        {
            writer.Sample("arc_ingest_errors_total", counters.Errors, ("protocol", counters.Name));
        }

        writer.Family("arc_ingest_bytes_total", "counter", "Write request body bytes as declared by Content-Length (compressed when sent compressed), by input format.");
        foreach (var counters in all)
        {
            writer.Sample("arc_ingest_bytes_total", counters.Bytes, ("protocol", counters.Name));
        }

        writer.Family("arc_ingest_records_total", "counter", "Records (points, rows) the parser accepted or rejected, by input format.");
        foreach (var counters in all)
        {
            writer.Sample("arc_ingest_records_total", counters.Accepted, ("protocol", counters.Name), ("result", "accepted"));
            writer.Sample("arc_ingest_records_total", counters.Rejected, ("protocol", counters.Name), ("result", "rejected"));
        }
    }
}

/// <summary>The counters of one input format (thread-safe).</summary>
internal sealed class ProtocolCounters(string name)
{
    private long _requests, _errors, _bytes, _accepted, _rejected;

    public string Name { get; } = name;

    public long Requests => Interlocked.Read(ref _requests);

    public long Errors => Interlocked.Read(ref _errors);

    public long Bytes => Interlocked.Read(ref _bytes);

    public long Accepted => Interlocked.Read(ref _accepted);

    public long Rejected => Interlocked.Read(ref _rejected);

    public void Request(long bytes, bool failed)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _bytes, bytes);
        if (failed)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    public void Records(long accepted, long rejected)
    {
        Interlocked.Add(ref _accepted, accepted);
        Interlocked.Add(ref _rejected, rejected);
    }
}

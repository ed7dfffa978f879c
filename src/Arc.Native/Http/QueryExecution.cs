using System.Buffers;
using System.Globalization;
using Arc.Engine;
using Arc.Engine.Query;
using Arc.Native.Auth;
using Arc.Native.Configuration;

namespace Arc.Native.Http;

/// <summary>
/// Runs a query for the JSON and CSV outputs with the result cache and result buffering. The response is encoded into
/// memory first: a result that ends within <c>query.result_buffer_size</c> is complete before anything is sent, so its
/// connection goes back to the pool before the (possibly slow) client downloads it, a failure at any row is still a clean
/// 400, and the response carries a Content-Length. A larger result switches to streaming at that size (the first part is
/// sent and the rest follows chunk by chunk, as before). A buffered result of a cacheable query (see
/// <see cref="QueryResultCache"/>) is stored; a later identical request is answered from memory without a connection.
/// </summary>
internal static class QueryExecution
{
    public const string CacheHeader = "x-arc-cache";

    public static readonly QueryOutputFormat Json = new("json", "application/json", static (cursor, output, flush, start) =>
        JsonQueryOutput.WriteAsync(cursor, output, flush, start));

    public static readonly QueryOutputFormat Csv = new("csv", QueryOutputEndpoints.CsvContentType, static (cursor, output, flush, _) =>
        CsvQueryOutput.WriteAsync(cursor, output, flush));

    private static ReadOnlySpan<byte> TimeProperty => "\"execution_time_ms\":"u8;

    /// <summary>Reads the request body and runs it (the POST endpoints).</summary>
    public static async Task RunAsync(HttpContext context, ArcEngine engine, QueryOutputFormat format, long start)
    {
        if (await QueryRequests.ReadAsync(context).ConfigureAwait(false) is { } request)
        {
            await RunAsync(context, engine, request.Sql, request.Database, request.Priority, format, start).ConfigureAwait(false);
        }
    }

    public static async Task RunAsync(HttpContext context, ArcEngine engine, string sql, string database, QueryPriority priority,
        QueryOutputFormat format, long start)
    {
        var services = context.RequestServices;
        var config = services.GetRequiredService<ArcConfig>();
        var cache = engine.ResultCache;
        var cancellation = context.RequestAborted;
        string? key = null;
        if (cache is not null)
        {
            key = QueryResultCache.Key(format.Name, database, Scope(context.Token()), sql);
            if (NoCache(context.Request))
            {
                context.Response.Headers[CacheHeader] = "bypass";
            }
            else if (cache.TryGet(key, out var hit))
            {
                context.Response.Headers[CacheHeader] = "hit";
                await WriteHitAsync(context, hit, start).ConfigureAwait(false);
                return;
            }
            else
            {
                context.Response.Headers[CacheHeader] = "miss";
            }
        }

        using var cursor = await QueryRequests.OpenAsync(context, engine, sql, database, priority, trackDependencies: cache is not null)
            .ConfigureAwait(false);
        if (cursor is null)
        {
            return;
        }

        using var buffer = new ResultBuffer();
        ResponseBody? body = null;
        try
        {
            QueryOutputs.EnsureSupportedTypes(cursor); // a 400, before any response header is set
            await format.Write(cursor, buffer, async () =>
            {
                if (body is not null)
                {
                    await body.FlushAsync(cancellation).ConfigureAwait(false);
                }
                else if (buffer.Length > config.QueryResultBufferBytes)
                {
                    // Too large to hold: send what is encoded and stream the rest (the connection stays rented until the end).
                    body = Start(context, format);
                    buffer.StreamTo(body.Writer);
                    await body.FlushAsync(cancellation).ConfigureAwait(false);
                }
            }, start).ConfigureAwait(false);

            if (body is not null)
            {
                await body.CompleteAsync(cancellation).ConfigureAwait(false);
                return;
            }
        }
        catch (Exception e) when (ErrorResponses.IsReported(e, out _))
        {
            if (body is null && !context.Response.HasStarted)
            {
                await ErrorResponses.WriteAsync(context, e).ConfigureAwait(false);
            }
            else
            {
                QueryRequests.AbortStreaming(context, services.GetRequiredService<ILoggerFactory>(), e);
            }

            return;
        }

        // The whole result is in memory: return the connection before the client reads a byte.
        var dependencies = cursor.Dependencies;
        cursor.Dispose();
        if (key is not null && dependencies is not null && buffer.Length <= cache!.MaxEntryBytes)
        {
            var bytes = buffer.ToArray();
            var (offset, length) = ReferenceEquals(format, Json) ? TimeNumber(bytes) : (-1, 0);
            cache.Store(key, new CachedQueryResult(bytes, format.ContentType, offset, length), dependencies);
            await WriteCompleteAsync(context, format.ContentType, bytes, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty).ConfigureAwait(false);
            return;
        }

        body = Start(context, format);
        if (context.Response.Headers.ContentEncoding.Count == 0)
        {
            context.Response.ContentLength = buffer.Length;
        }

        buffer.CopyTo(body.Writer);
        await body.CompleteAsync(cancellation).ConfigureAwait(false);
    }

    /// <summary>The cache scope of a token: the databases it is limited to, or <c>*</c>.</summary>
    internal static string Scope(TokenIdentity? token) =>
        token?.Databases is { } databases ? string.Join(',', databases.Order(StringComparer.Ordinal)) : "*";

    private static bool NoCache(HttpRequest request)
    {
        foreach (var value in request.Headers.CacheControl)
        {
            if (value is not null && (value.Contains("no-cache", StringComparison.OrdinalIgnoreCase) || value.Contains("no-store", StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    private static ResponseBody Start(HttpContext context, QueryOutputFormat format)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = format.ContentType;
        return ResponseBody.Start(context);
    }

    /// <summary>A cached response; a JSON one reports this request's time in <c>execution_time_ms</c>.</summary>
    private static Task WriteHitAsync(HttpContext context, CachedQueryResult hit, long start)
    {
        if (hit.TimeOffset < 0)
        {
            return WriteCompleteAsync(context, hit.ContentType, hit.Body, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty);
        }

        var time = new byte[32];
        var ms = Math.Round(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds, 3);
        ms.TryFormat(time, out var written, "R", CultureInfo.InvariantCulture);
        return WriteCompleteAsync(context, hit.ContentType, hit.Body.AsMemory(0, hit.TimeOffset), time.AsMemory(0, written),
            hit.Body.AsMemory(hit.TimeOffset + hit.TimeLength));
    }

    private static async Task WriteCompleteAsync(HttpContext context, string contentType, ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second,
        ReadOnlyMemory<byte> third)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = contentType;
        var body = ResponseBody.Start(context);
        if (context.Response.Headers.ContentEncoding.Count == 0)
        {
            context.Response.ContentLength = first.Length + second.Length + third.Length;
        }

        body.Writer.Write(first.Span);
        body.Writer.Write(second.Span);
        body.Writer.Write(third.Span);
        await body.CompleteAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Where the final <c>execution_time_ms</c> value is in an encoded JSON response (the object's last member).</summary>
    private static (int Offset, int Length) TimeNumber(byte[] json)
    {
        var property = json.AsSpan().LastIndexOf(TimeProperty);
        if (property < 0 || json.Length == 0 || json[^1] != (byte)'}')
        {
            return (-1, 0);
        }

        var offset = property + TimeProperty.Length;
        return (offset, json.Length - 1 - offset);
    }
}

/// <summary>An output that can be buffered and cached: its name in cache keys, media type and writer.</summary>
internal sealed record QueryOutputFormat(
    string Name,
    string ContentType,
    Func<QueryCursor, IBufferWriter<byte>, Func<ValueTask>, long, ValueTask<long>> Write);

/// <summary>Query priorities on the wire: <c>x-arc-query-priority</c> or the body's <c>"priority"</c>.</summary>
internal static class Priorities
{
    public const string Header = "x-arc-query-priority";

    public static string Name(QueryPriority priority) => priority switch
    {
        QueryPriority.Low => "low",
        QueryPriority.High => "high",
        QueryPriority.Critical => "critical",
        _ => "normal",
    };

    public static bool TryParse(string text, out QueryPriority priority)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "low":
                priority = QueryPriority.Low;
                return true;
            case "" or "normal":
                priority = QueryPriority.Normal;
                return true;
            case "high":
                priority = QueryPriority.High;
                return true;
            case "critical":
                priority = QueryPriority.Critical;
                return true;
            default:
                priority = QueryPriority.Normal;
                return false;
        }
    }

    /// <summary>
    /// The request's priority: the header, else <paramref name="bodyValue"/>, else normal. Null after writing a 400 (unknown
    /// value) or a 403 (critical is reserved for admin tokens).
    /// </summary>
    public static async Task<QueryPriority?> ResolveAsync(HttpContext context, string? bodyValue = null)
    {
        var text = context.Request.Headers[Header].ToString();
        if (text.Length == 0)
        {
            text = bodyValue ?? "";
        }

        if (!TryParse(text, out var priority))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status400BadRequest,
                $"invalid query priority '{text}': use low, normal, high or critical").ConfigureAwait(false);
            return null;
        }

        if (priority == QueryPriority.Critical && context.Token() is { } token && !token.Has(Permission.Admin))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status403Forbidden,
                $"token '{token.Name}' may not use the critical query priority (admin only)").ConfigureAwait(false);
            return null;
        }

        return priority;
    }
}

/// <summary>
/// Pooled memory a response is encoded into until it is complete or <c>query.result_buffer_size</c> is passed; after
/// <see cref="StreamTo"/> it hands every write straight to the response.
/// </summary>
internal sealed class ResultBuffer : IBufferWriter<byte>, IDisposable
{
    private const int SegmentSize = 64 * 1024;
    private readonly List<Segment> _segments = [];
    private IBufferWriter<byte>? _target;

    /// <summary>Bytes held (before <see cref="StreamTo"/>).</summary>
    public long Length { get; private set; }

    public void Advance(int count)
    {
        if (_target is not null)
        {
            _target.Advance(count);
            return;
        }

        _segments[^1].Used += count;
        Length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        if (_target is not null)
        {
            return _target.GetMemory(sizeHint);
        }

        sizeHint = Math.Max(sizeHint, 1);
        if (_segments.Count == 0 || _segments[^1].Array.Length - _segments[^1].Used < sizeHint)
        {
            _segments.Add(new Segment(ArrayPool<byte>.Shared.Rent(Math.Max(SegmentSize, sizeHint))));
        }

        var last = _segments[^1];
        return last.Array.AsMemory(last.Used);
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    /// <summary>Copies what is held to <paramref name="target"/>, frees it, and passes every later write through.</summary>
    public void StreamTo(IBufferWriter<byte> target)
    {
        CopyTo(target);
        Dispose();
        _target = target;
    }

    public void CopyTo(IBufferWriter<byte> target)
    {
        foreach (var segment in _segments)
        {
            target.Write(segment.Array.AsSpan(0, segment.Used));
        }
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        var offset = 0;
        foreach (var segment in _segments)
        {
            segment.Array.AsSpan(0, segment.Used).CopyTo(bytes.AsSpan(offset));
            offset += segment.Used;
        }

        return bytes;
    }

    public void Dispose()
    {
        foreach (var segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment.Array);
        }

        _segments.Clear();
    }

    private sealed class Segment(byte[] array)
    {
        public byte[] Array { get; } = array;

        public int Used { get; set; }
    }
}

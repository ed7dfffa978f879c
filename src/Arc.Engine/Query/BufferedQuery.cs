using System.Buffers;
using System.Globalization;
using Arc.Engine.Errors;

namespace Arc.Engine.Query;

/// <summary>An output that can be buffered and cached: its name in cache keys, media type and writer.</summary>
public sealed record QueryOutputFormat(
    string Name,
    string ContentType,
    Func<QueryCursor, IBufferWriter<byte>, Func<ValueTask>, long, ValueTask<long>> Write)
{
    /// <summary>Arc's JSON (<see cref="JsonQueryOutput"/>).</summary>
    public static QueryOutputFormat Json { get; } = new("json", "application/json", static (cursor, output, flush, start) =>
        JsonQueryOutput.WriteAsync(cursor, output, flush, start));

    /// <summary>CSV with a header row (<see cref="CsvQueryOutput"/>).</summary>
    public static QueryOutputFormat Csv { get; } = new("csv", CsvQueryOutput.ContentType, static (cursor, output, flush, _) =>
        CsvQueryOutput.WriteAsync(cursor, output, flush));
}

/// <summary>What the result cache did for a request (the host may tell the client, e.g. in a header).</summary>
public enum CacheAnswer
{
    /// <summary>The cache is off.</summary>
    Off,

    /// <summary>Answered from the cache.</summary>
    Hit,

    /// <summary>Not in the cache: run (and stored if it is cacheable and small enough).</summary>
    Miss,

    /// <summary>The request asked not to use the cache.</summary>
    Bypass,
}

/// <summary>One query to run with the result cache and buffering.</summary>
/// <param name="Sql">The statement.</param>
/// <param name="Database">The database unqualified names resolve in.</param>
/// <param name="Priority">Its place in the query queue.</param>
/// <param name="Format">How the result is encoded.</param>
/// <param name="Access">What the caller's token may read.</param>
/// <param name="CacheScope">Requests share cached results only within one scope (the token's databases).</param>
/// <param name="BypassCache">The request asked for a fresh answer (Cache-Control: no-cache).</param>
/// <param name="StartTimestamp">When the request arrived (<see cref="System.Diagnostics.Stopwatch"/>), for <c>execution_time_ms</c>.</param>
public sealed record QueryRun(
    string Sql,
    string Database,
    QueryPriority Priority,
    QueryOutputFormat Format,
    QueryAccess Access,
    string CacheScope,
    bool BypassCache,
    long StartTimestamp);

/// <summary>Where a query's response goes (the host's HTTP response).</summary>
public interface IQueryResponse
{
    /// <summary>Called first, before the query is opened: what the cache did.</summary>
    void Cache(CacheAnswer answer);

    /// <summary>
    /// Starts a successful response of <paramref name="contentType"/>, of <paramref name="length"/> bytes when the whole
    /// result is known, and returns where its bytes go. Called at most once; a failure after it cannot change the status.
    /// </summary>
    IBufferWriter<byte> Start(string contentType, long? length);

    /// <summary>Sends what was written so far.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);

    /// <summary>Ends the response.</summary>
    ValueTask CompleteAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Runs a query for the JSON and CSV outputs with the result cache and result buffering. The response is encoded into
/// memory first: a result that ends within the result buffer (<c>query.result_buffer_size</c>) is complete before
/// anything is sent, so its connection goes back to the pool before the (possibly slow) client downloads it, a failure at
/// any row is still a clean error, and the response carries its length. A larger result switches to streaming at that size (the
/// first part is sent and the rest follows chunk by chunk). A buffered result of a cacheable query (see
/// <see cref="QueryResultCache"/>) is stored; a later identical request is answered from memory without a connection.
/// Errors are the engine's exceptions (<see cref="IHasErrorReason"/>): before <see cref="IQueryResponse.Start"/> the host
/// answers them, after it the response can only be cut.
/// </summary>
internal sealed class BufferedQuery(QueryEngine engine, QueryResultCache? cache, long bufferBytes)
{
    private static ReadOnlySpan<byte> TimeProperty => "\"execution_time_ms\":"u8;

    public async Task RunAsync(QueryRun run, IQueryResponse response, CancellationToken cancellationToken)
    {
        string? key = null;
        if (cache is not null)
        {
            key = QueryResultCache.Key(run.Format.Name, run.Database, run.CacheScope, run.Sql);
            if (run.BypassCache)
            {
                response.Cache(CacheAnswer.Bypass);
            }
            else if (cache.TryGet(key, out var hit))
            {
                response.Cache(CacheAnswer.Hit);
                await WriteHitAsync(response, hit, run.StartTimestamp, cancellationToken).ConfigureAwait(false);
                return;
            }
            else
            {
                response.Cache(CacheAnswer.Miss);
            }
        }
        else
        {
            response.Cache(CacheAnswer.Off);
        }

        using var cursor = await engine.OpenFetchedAsync(run.Sql, run.Database, cancellationToken, run.Access, run.Priority, trackDependencies: cache is not null)
            .ConfigureAwait(false);
        QueryOutputs.EnsureSupportedTypes(cursor); // an error before anything is sent
        using var buffer = new ResultBuffer();
        var streaming = false;
        await run.Format.Write(cursor, buffer, async () =>
        {
            if (streaming)
            {
                await response.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            else if (buffer.Length > bufferBytes)
            {
                // Too large to hold: send what is encoded and stream the rest (the connection stays rented until the end).
                streaming = true;
                buffer.StreamTo(response.Start(run.Format.ContentType, null));
                await response.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }, run.StartTimestamp).ConfigureAwait(false);

        if (streaming)
        {
            await response.CompleteAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        // The whole result is in memory: return the connection before the client reads a byte.
        var dependencies = cursor.Dependencies;
        cursor.Dispose();
        if (key is not null && dependencies is not null && buffer.Length <= cache!.MaxEntryBytes)
        {
            var bytes = buffer.ToArray();
            var (offset, length) = ReferenceEquals(run.Format, QueryOutputFormat.Json) ? TimeNumber(bytes) : (-1, 0);
            cache.Store(key, new CachedQueryResult(bytes, run.Format.ContentType, offset, length), dependencies);
            await WriteCompleteAsync(response, run.Format.ContentType, bytes, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty,
                cancellationToken).ConfigureAwait(false);
            return;
        }

        buffer.CopyTo(response.Start(run.Format.ContentType, buffer.Length));
        await response.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A cached response; a JSON one reports this request's time in <c>execution_time_ms</c>.</summary>
    private static Task WriteHitAsync(IQueryResponse response, CachedQueryResult hit, long start, CancellationToken cancellationToken)
    {
        if (hit.TimeOffset < 0)
        {
            return WriteCompleteAsync(response, hit.ContentType, hit.Body, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, cancellationToken);
        }

        var time = new byte[32];
        var ms = Math.Round(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds, 3);
        ms.TryFormat(time, out var written, "R", CultureInfo.InvariantCulture);
        return WriteCompleteAsync(response, hit.ContentType, hit.Body.AsMemory(0, hit.TimeOffset), time.AsMemory(0, written),
            hit.Body.AsMemory(hit.TimeOffset + hit.TimeLength), cancellationToken);
    }

    private static async Task WriteCompleteAsync(IQueryResponse response, string contentType, ReadOnlyMemory<byte> first,
        ReadOnlyMemory<byte> second, ReadOnlyMemory<byte> third, CancellationToken cancellationToken)
    {
        var body = response.Start(contentType, first.Length + second.Length + third.Length);
        body.Write(first.Span);
        body.Write(second.Span);
        body.Write(third.Span);
        await response.CompleteAsync(cancellationToken).ConfigureAwait(false);
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

/// <summary>
/// Pooled memory a response is encoded into until it is complete or the buffer size is passed; after
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

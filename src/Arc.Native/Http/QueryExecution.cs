using System.Buffers;
using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Engine.Query;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>
/// The JSON and CSV query routes' side of <see cref="ArcEngine.RunQueryAsync"/>: the engine runs the query with the result
/// cache and buffering; the host reads the request, says whether the client asked for a fresh answer, carries the
/// response (status, Content-Length, compression, the <c>x-arc-cache</c> header) and answers an error with its status,
/// or cuts a response that had started.
/// </summary>
internal static class QueryExecution
{
    public const string CacheHeader = "x-arc-cache";

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
        var response = new HttpQueryResponse(context);
        var run = new QueryRun(sql, database, priority, format, context.QueryAccess(), Scope(context.Token()), NoCache(context.Request), start);
        try
        {
            await engine.RunQueryAsync(run, response, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (ErrorResponses.IsReported(e, out _))
        {
            if (response.Started)
            {
                QueryRequests.AbortStreaming(context, context.RequestServices.GetRequiredService<ILoggerFactory>(), e);
            }
            else
            {
                await ErrorResponses.WriteAsync(context, e).ConfigureAwait(false);
            }
        }
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

    /// <summary>An HTTP response as the engine's <see cref="IQueryResponse"/> (compressed as the client accepts).</summary>
    private sealed class HttpQueryResponse(HttpContext context) : IQueryResponse
    {
        private ResponseBody? _body;

        public bool Started => _body is not null || context.Response.HasStarted;

        public void Cache(CacheAnswer answer)
        {
            if (answer != CacheAnswer.Off)
            {
                context.Response.Headers[CacheHeader] = answer switch
                {
                    CacheAnswer.Hit => "hit",
                    CacheAnswer.Bypass => "bypass",
                    _ => "miss",
                };
            }
        }

        public IBufferWriter<byte> Start(string contentType, long? length)
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = contentType;
            _body = ResponseBody.Start(context);
            if (length is not null && context.Response.Headers.ContentEncoding.Count == 0)
            {
                context.Response.ContentLength = length;
            }

            return _body.Writer;
        }

        public ValueTask FlushAsync(CancellationToken cancellationToken) => _body!.FlushAsync(cancellationToken);

        public ValueTask CompleteAsync(CancellationToken cancellationToken) => _body!.CompleteAsync(cancellationToken);
    }
}

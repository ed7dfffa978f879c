using System.Buffers;
using System.Collections;
using System.Diagnostics;
using Arc.Native.Auth;
using Arc.Native.Configuration;

namespace Arc.Native.Http;

/// <summary>
/// The first middleware of every request: gives it an id (the client's <c>x-request-id</c> when it is a sane token,
/// else a new one; echoed in the response and used as <see cref="HttpContext.TraceIdentifier"/>), opens a log scope
/// carrying it, counts the request and its latency, turns a full query queue into 503 with Retry-After, answers requests
/// their client abandoned quietly (<see cref="AbortReason"/>), and (with <c>log.requests</c>) logs one line per request.
/// The line has the method, path (without the query string, where InfluxDB 1.x clients put the token as <c>p=</c>),
/// status, time and token id; no header is ever logged.
/// </summary>
internal sealed partial class RequestMiddleware(RequestDelegate next, HttpMetrics metrics, ArcConfig config, ILogger<RequestMiddleware> logger)
{
    public const string RequestIdHeader = "x-request-id";
    private const int MaxRequestIdLength = 128;

    private static readonly SearchValues<char> RequestIdChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:");

    public async Task InvokeAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        var id = RequestId(context.Request.Headers[RequestIdHeader].ToString());
        context.TraceIdentifier = id;
        context.Response.Headers[RequestIdHeader] = id;
        metrics.Started();
        var status = 0;
        using var scope = logger.BeginScope(new RequestScope(id));
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception e) when (!context.Response.HasStarted && ErrorResponses.IsReported(e, out _))
        {
            // An engine error no endpoint answered (a full query queue on any route): the same table's status.
            await ErrorResponses.WriteAsync(context, e).ConfigureAwait(false);
        }
        catch (Exception e) when (AbortReason(e, context) is { } reason)
        {
            // The client's doing, not a bug: counted and logged at debug level, no stack trace, no 500.
            metrics.Aborted(reason);
            LogAborted(logger, context.Request.Method, context.Request.Path.Value ?? "", reason, e.Message);
            if (context.RequestAborted.IsCancellationRequested)
            {
                status = 499; // the connection is gone: nobody to answer
            }
            else if (context.Response.HasStarted)
            {
                status = 499;
                context.Abort(); // too late for a status, and a started response must not look complete
            }
            else
            {
                status = e is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status400BadRequest;
                var what = reason == "too_slow" ? "the request body arrived too slowly" : "the request body is incomplete";
                await WriteEndpoints.Error(context, status, $"{what}: {e.Message}").ConfigureAwait(false);
            }
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            // A bug, not bad input: logged with its stack (and the request id), answered with Arc's error body.
            status = StatusCodes.Status500InternalServerError;
            LogUnhandled(logger, e, context.Request.Method, context.Request.Path.Value ?? "");
            await WriteEndpoints.Error(context, status, $"internal error ({e.GetType().Name}); the server log has the details under request id {id}")
                .ConfigureAwait(false);
        }
        catch
        {
            status = StatusCodes.Status500InternalServerError;
            throw;
        }
        finally
        {
            if (status == 0)
            {
                status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode;
            }

            var elapsed = Stopwatch.GetElapsedTime(start);
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? HttpMetrics.Unmatched;
            metrics.Finished(context.Request.Method, route, status, elapsed);
            if (config.LogRequests)
            {
                LogRequest(logger, context.Request.Method, context.Request.Path.Value ?? "", status, Math.Round(elapsed.TotalMilliseconds, 3),
                    context.Token()?.Id ?? "-");
            }
        }
    }

    /// <summary>The client's id when it is 1 to 128 characters of letters, digits and <c>-_.:</c>; otherwise a new one.</summary>
    internal static string RequestId(string offered) =>
        offered.Length is > 0 and <= MaxRequestIdLength && !offered.AsSpan().ContainsAnyExcept(RequestIdChars)
            ? offered
            : Guid.NewGuid().ToString("N");

    /// <summary>
    /// Why the client abandoned the request, or null if <paramref name="e"/> is not that: Kestrel's verdicts on the body
    /// (400: it ended before its Content-Length or its chunked framing broke; 408: it came slower than
    /// <c>MinRequestBodyDataRate</c>), or the connection gone (a read or write cancelled or failed once the request was
    /// aborted).
    /// </summary>
    internal static string? AbortReason(Exception e, HttpContext context) => e switch
    {
        BadHttpRequestException { StatusCode: StatusCodes.Status408RequestTimeout } => "too_slow",
        BadHttpRequestException { StatusCode: StatusCodes.Status400BadRequest } => "incomplete",
        OperationCanceledException or IOException when context.RequestAborted.IsCancellationRequested => "client_closed",
        _ => null,
    };

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "{Method} {Path}: the client abandoned the request ({Reason}): {Detail}")]
    private static partial void LogAborted(ILogger logger, string method, string path, string reason, string detail);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Unhandled exception in {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Method} {Path} {Status} {ElapsedMs} ms token={TokenId}")]
    private static partial void LogRequest(ILogger logger, string method, string path, int status, double elapsedMs, string tokenId);

    /// <summary>The log scope of a request: <c>RequestId</c> as a structured value (JSON logs show it under Scopes).</summary>
    private sealed class RequestScope(string id) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 1;

        public KeyValuePair<string, object?> this[int index] =>
            index == 0 ? new KeyValuePair<string, object?>("RequestId", id) : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"RequestId:{id}";
    }
}

using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>A batch the receiver accepted, with the headers it came with.</summary>
public sealed record ReceivedBatch(JsonElement Body, string? Authorization, string? Tenant, string? IdempotencyKey);

/// <summary>
/// An HTTP endpoint on 127.0.0.1 for the HTTP JSON target: records accepted batches per path, can fail the next N
/// requests of a path with a status, or hold requests until released (to stop a job in the middle).
/// </summary>
public sealed class JsonReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ReceivedBatch>> _accepted = new();
    private readonly ConcurrentDictionary<string, int> _attempts = new();
    private readonly ConcurrentDictionary<string, (int Count, HttpStatusCode Status)> _failures = new();
    private readonly Task _loop;
    private volatile TaskCompletionSource? _hold;
    private int _holdAfter = int.MaxValue;

    public JsonReceiver()
    {
        var port = ExportTargetServers.FreePort();
        Url = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Url + "/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Url { get; }

    /// <summary>Fails the next <paramref name="count"/> requests to <paramref name="path"/> with <paramref name="status"/>.</summary>
    public void FailNext(string path, int count, HttpStatusCode status) => _failures[path] = (count, status);

    /// <summary>Accepts <paramref name="batches"/> more batches, then holds every request (unanswered) until <see cref="Release"/>.</summary>
    public void HoldAfter(int batches)
    {
        _hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _holdAfter = batches;
    }

    public void Release() => _hold?.TrySetResult();

    public int Attempts(string path) => _attempts.GetValueOrDefault(path);

    public List<ReceivedBatch> Accepted(string path) => _accepted.TryGetValue(path, out var queue) ? [.. queue] : [];

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var path = context.Request.Url!.AbsolutePath;
        _attempts.AddOrUpdate(path, 1, (_, n) => n + 1);
        try
        {
            if (_failures.TryGetValue(path, out var failure) && failure.Count > 0)
            {
                _failures[path] = (failure.Count - 1, failure.Status);
                context.Response.StatusCode = (int)failure.Status;
                await using (var writer = new StreamWriter(context.Response.OutputStream))
                {
                    await writer.WriteAsync("{\"error\":\"refused by the test receiver\"}");
                }

                return;
            }

            if (Interlocked.Decrement(ref _holdAfter) < 0 && _hold is { } hold)
            {
                await hold.Task; // never answered before the test releases it
            }

            Stream body = context.Request.InputStream;
            if (context.Request.Headers["Content-Encoding"] == "gzip")
            {
                body = new GZipStream(body, CompressionMode.Decompress);
            }

            var json = (await JsonDocument.ParseAsync(body)).RootElement.Clone();
            _accepted.GetOrAdd(path, _ => new ConcurrentQueue<ReceivedBatch>()).Enqueue(new ReceivedBatch(json, context.Request.Headers["Authorization"],
                context.Request.Headers["X-Tenant"], context.Request.Headers["Idempotency-Key"]));
            context.Response.StatusCode = 200;
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            return;
        }

        try
        {
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
        {
            // The client went away.
        }
    }

    public async ValueTask DisposeAsync()
    {
        Release();
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}

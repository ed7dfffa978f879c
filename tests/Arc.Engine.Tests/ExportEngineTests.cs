using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Arc.Engine.DuckDb;
using Arc.Engine.Export;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// Export jobs at engine level, with the targets that need no outside server: Parquet files into a local storage
/// connection, and HTTP JSON posted to a listener on 127.0.0.1. A fake clock drives the cron schedule and the backoff
/// between retries; each run sends exactly the rows after the high-water mark. The InfluxDB, VictoriaMetrics and
/// PostgreSQL targets are tested against real servers in <c>Arc.Native.Tests.Export*</c>.
/// </summary>
public sealed class ExportEngineTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-export-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2023, 11, 15, 0, 0, 0, TimeSpan.Zero));
    private ArcEngine _engine = null!;

    private ExportManager Exports => _engine.Exports!;

    public async Task InitializeAsync()
    {
        _engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = Path.Combine(_directory, "data"),
            MaxBufferAge = TimeSpan.FromHours(1),
            Time = _clock,
            Export = new ExportOptions { DbPath = Path.Combine(_directory, "export.db"), RetryBackoff = TimeSpan.FromSeconds(1), MaxRetries = 5 },
        });
        Exports.Start();
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task AScheduledJobSendsEachRowOnceAtItsTimes()
    {
        var files = Path.Combine(_directory, "files");
        Assert.NotNull(Exports.CreateConnection(new StorageConnectionSpec { Name = "files", Type = "local", Path = files }));
        await WriteAsync(0, 5);
        var job = await Exports.CreateAsync(Spec(new ExportTargetSpec { Type = "parquet", Connection = "files" }, "0 * * * *"), CancellationToken.None);
        Assert.Equal("scheduled", job.Status);
        Assert.Equal(new DateTime(2023, 11, 15, 1, 0, 0, DateTimeKind.Utc), job.NextRun);
        Assert.False(Directory.Exists(files));

        _clock.Advance(TimeSpan.FromHours(1)); // 01:00: the first run sends everything there is
        var first = await WaitForAsync(job.Id, v => v.RowsSent == 5 && !v.Running);
        Assert.Equal((5, 3), (first.LastRun!.Rows, first.LastRun.Batches)); // batches of two
        Assert.Equal(new DateTime(2023, 11, 15, 1, 0, 0, DateTimeKind.Utc), first.LastRun.Started);
        Assert.Equal("5 rows, 5 times, sum 15", Exported(files));

        await WriteAsync(5, 2);
        _clock.Advance(TimeSpan.FromHours(1)); // 02:00: only what came after the mark
        var second = await WaitForAsync(job.Id, v => v.RowsSent == 7 && !v.Running);
        Assert.Equal((2, 1), (second.LastRun!.Rows, second.LastRun.Batches));
        Assert.Equal("7 rows, 7 times, sum 28", Exported(files));
        Assert.Equal(T0 + (6 * 1_000_000_000L), second.HighWaterMark!.TimeNs);
        Assert.Equal(new DateTime(2023, 11, 15, 3, 0, 0, DateTimeKind.Utc), second.NextRun);
    }

    [Fact]
    public async Task ATransientTargetFailureIsRetriedWithGrowingBackoffOnTheEnginesClock()
    {
        await using var receiver = new Receiver(_clock);
        receiver.FailNext(2, HttpStatusCode.ServiceUnavailable);
        await WriteAsync(0, 5);
        var job = await Exports.CreateAsync(Spec(new ExportTargetSpec { Type = "http_json", Url = receiver.Url }, schedule: null, batchSize: 10),
            CancellationToken.None); // one-shot: runs at once

        // Time moves only when the test moves it: in small steps, until the third attempt gets through.
        for (var i = 0; i < 500 && receiver.Accepted.Count == 0; i++)
        {
            _clock.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(5);
        }

        var attempts = receiver.Attempts.ToList();
        Assert.Equal(3, attempts.Count);
        Assert.True(attempts[1].At - attempts[0].At >= TimeSpan.FromSeconds(1), $"first retry after {attempts[1].At - attempts[0].At}");
        Assert.True(attempts[2].At - attempts[1].At >= TimeSpan.FromSeconds(2), $"second retry after {attempts[2].At - attempts[1].At}");
        Assert.Single(attempts.Select(a => a.IdempotencyKey).Distinct()); // the same batch each time

        var body = Assert.Single(receiver.Accepted);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => T0 + (i * 1_000_000_000L)),
            body.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("time_ns").GetInt64()));
        Assert.Equal(15, body.GetProperty("rows").EnumerateArray().Sum(r => r.GetProperty("v").GetDouble()));

        var view = await WaitForAsync(job.Id, v => !v.Running);
        Assert.Equal(("completed", 5L), (view.Status, view.RowsSent));
        Assert.True(view.LastRun!.Started <= attempts[0].At, "the rows were sent by a later run"); // retried inside the one run
        Assert.Null(view.LastRun.Error);
        Assert.Contains("HTTP 503", view.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APermanentTargetFailureStopsTheJobUntilItIsResumed()
    {
        await using var receiver = new Receiver(_clock);
        receiver.FailNext(1, HttpStatusCode.BadRequest);
        await WriteAsync(0, 3);
        var job = await Exports.CreateAsync(Spec(new ExportTargetSpec { Type = "http_json", Url = receiver.Url }, schedule: null, batchSize: 10),
            CancellationToken.None);

        var failed = await WaitForAsync(job.Id, v => v.Status == "failed");
        Assert.True(failed.ErrorPermanent);
        Assert.Contains("HTTP 400", failed.LastError, StringComparison.Ordinal);
        Assert.Single(receiver.Attempts); // not retried
        Assert.Equal(0, failed.RowsSent);

        Exports.Resume(job.Id);
        var done = await WaitForAsync(job.Id, v => v.Status == "completed");
        Assert.Equal(3, done.RowsSent);
        Assert.Equal(3, Assert.Single(receiver.Accepted).GetProperty("rows").GetArrayLength());
    }

    /// <summary>Rows <paramref name="first"/>.. one second apart from <see cref="T0"/>, v = index + 1, flushed.</summary>
    private async Task WriteAsync(int first, int count)
    {
        await EngineData.WriteAsync(_engine, string.Concat(Enumerable.Range(first, count)
            .Select(i => $"cpu,host=h{i % 2} v={i + 1} {T0 + (i * 1_000_000_000L)}\n")));
        await _engine.FlushAsync();
    }

    private static ExportJobSpec Spec(ExportTargetSpec target, string? schedule, int batchSize = 2) => new()
    {
        Name = "cpu-out",
        Source = new ExportSourceSpec { Database = "db", Measurement = "cpu" },
        Target = target,
        Schedule = schedule,
        BatchSize = batchSize,
        MinAgeSeconds = 0,
    };

    /// <summary>Polls the job (runs start from the scheduler's loop) until <paramref name="condition"/> holds, for at most 10 s.</summary>
    private async Task<ExportJobView> WaitForAsync(string id, Func<ExportJobView, bool> condition)
    {
        var view = Exports.Get(id)!;
        for (var i = 0; i < 500 && !condition(view); i++)
        {
            await Task.Delay(20);
            view = Exports.Get(id)!;
        }

        Assert.True(condition(view), $"the job did not get there: {JsonSerializer.Serialize(view, ExportJsonContext.Default.ExportJobView)}");
        return view;
    }

    /// <summary>Rows, distinct times and the sum of v over the Parquet files the target wrote.</summary>
    private static string Exported(string files)
    {
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        var row = connection.QueryStrings(
            $"SELECT count(*), count(DISTINCT time), sum(v)::BIGINT FROM read_parquet('{Path.Combine(files, "db", "cpu", "*", "*", "*", "*", "*.parquet")}')")[0];
        return $"{row[0]} rows, {row[1]} times, sum {row[2]}";
    }

    /// <summary>
    /// An HTTP endpoint on 127.0.0.1 for the HTTP JSON target: records each attempt at the engine's (fake) time and each
    /// accepted body, and can refuse the next requests with a status.
    /// </summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly TimeProvider _clock;
        private readonly Task _loop;
        private int _failures;
        private HttpStatusCode _status;

        public Receiver(TimeProvider clock)
        {
            _clock = clock;
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/batches";
            _listener.Prefixes.Add($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Url { get; }

        public ConcurrentQueue<(DateTimeOffset At, string? IdempotencyKey)> Attempts { get; } = new();

        public ConcurrentQueue<JsonElement> Accepted { get; } = new();

        public void FailNext(int requests, HttpStatusCode status) => (_failures, _status) = (requests, status);

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

                using var response = context.Response;
                Attempts.Enqueue((_clock.GetUtcNow(), context.Request.Headers["Idempotency-Key"]));
                if (Interlocked.Decrement(ref _failures) >= 0)
                {
                    response.StatusCode = (int)_status;
                    continue;
                }

                Accepted.Enqueue((await JsonDocument.ParseAsync(context.Request.InputStream)).RootElement.Clone());
                response.StatusCode = 200;
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}

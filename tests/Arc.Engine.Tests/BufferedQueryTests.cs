using System.Diagnostics;
using Arc.Engine.Errors;
using Arc.Engine.Query;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// A JSON or CSV query through the engine's API (<see cref="ArcEngine.RunQueryAsync"/>), as the host runs it: a result within
/// the buffer size is complete before the response starts (its length known), a larger one streams; a cacheable result is
/// answered from the cache the second time and its entry ages by the engine's clock; an error is an exception before the
/// response starts.
/// </summary>
public sealed class BufferedQueryTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-buffered-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private ArcEngine _engine = null!;

    public async Task InitializeAsync()
    {
        _engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = _directory,
            MaxBufferAge = TimeSpan.FromHours(1),
            ResultBufferBytes = 64 << 10,
            ResultCache = new ResultCacheOptions(16 << 20, TimeSpan.FromMinutes(1), 1 << 20),
            Time = _clock,
        });
        await EngineData.WriteAsync(_engine, string.Concat(Enumerable.Range(0, 20_000).Select(i => $"m v={i} {1700000000000000000L + i}\n")));
        await _engine.FlushAsync();
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task ASmallResultIsCompleteBeforeTheResponseStartsAndIsServedFromTheCacheUntilItExpires()
    {
        var first = await RunAsync("SELECT count(*) AS n, sum(v) AS s FROM m");
        Assert.Equal(CacheAnswer.Miss, first.Cache);
        Assert.Equal(first.Body.Length, first.Length);
        Assert.Equal(0, first.Flushes);
        Assert.Contains("[[20000,199990000]]", first.Body, StringComparison.Ordinal);

        var second = await RunAsync("SELECT count(*) AS n, sum(v) AS s FROM m");
        Assert.Equal(CacheAnswer.Hit, second.Cache);
        Assert.Equal(Data(first.Body), Data(second.Body));

        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(CacheAnswer.Miss, (await RunAsync("SELECT count(*) AS n, sum(v) AS s FROM m")).Cache);
        Assert.Equal(CacheAnswer.Bypass, (await RunAsync("SELECT count(*) AS n, sum(v) AS s FROM m", bypass: true)).Cache);
    }

    [Fact]
    public async Task AResultOverTheBufferSizeStreamsWithoutALength()
    {
        var response = await RunAsync("SELECT v, time FROM m ORDER BY v", QueryOutputFormat.Csv);

        Assert.Null(response.Length);
        Assert.True(response.Flushes > 0);
        Assert.Equal(20_001, response.Body.Count(c => c == '\n'));
        Assert.Equal(CsvQueryOutput.ContentType, response.ContentType);
    }

    [Fact]
    public async Task AnErrorIsThrownBeforeTheResponseStarts()
    {
        var response = new RecordingQueryResponse();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => _engine.RunQueryAsync(Run("SELECT nope FROM m", QueryOutputFormat.Json, false),
            response, CancellationToken.None));

        Assert.Equal(ErrorReason.Invalid, Assert.IsAssignableFrom<IHasErrorReason>(error).Reason);
        Assert.False(response.Started);
    }

    private static string Data(string json) => json[..json.IndexOf("\"execution_time_ms\"", StringComparison.Ordinal)];

    private static QueryRun Run(string sql, QueryOutputFormat format, bool bypass) =>
        new(sql, "db", QueryPriority.Normal, format, QueryAccess.Full, "*", bypass, Stopwatch.GetTimestamp());

    private async Task<RecordingQueryResponse> RunAsync(string sql, QueryOutputFormat? format = null, bool bypass = false)
    {
        var response = new RecordingQueryResponse();
        await _engine.RunQueryAsync(Run(sql, format ?? QueryOutputFormat.Json, bypass), response, CancellationToken.None);
        Assert.True(response.Completed);
        return response;
    }
}

using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Native.Tests;

/// <summary>
/// A continuous query's schedule through the HTTP API on a fake clock (the SDK's request shapes): windows that receive
/// late writes after they ran are recomputed once the grace period passed, their earlier output replaced (equal cell by
/// cell to the aggregation of all their rows, never duplicated), and the history counts the recomputes; and
/// <c>retention_days</c> and <c>delete_source_after_days</c> remove the destination's and the source's old rows, the
/// source's only in windows the query completed.
/// </summary>
[LongRunning(18)]
public sealed class ContinuousQueryLateWindowTests : IAsyncLifetime
{
    private const string Path = "/api/v1/continuous_queries";

    /// <summary>2025-01-01T00:00:00Z in nanoseconds.</summary>
    private const long T0 = 1_735_689_600_000_000_000;

    private const long Minute = 60_000_000_000;

    private const string Aggregation =
        "SELECT time_bucket(INTERVAL '10 minutes', time) AS time, host, count(*) AS n, sum(v) AS total, max(v) AS peak " +
        "FROM cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2";

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(Configure);

    /// <summary>
    /// The fake clock, late windows recomputed up to a week back, and retention applied every minute. A step of days walks
    /// the fake clock through every timer's due time on the way, so a scheduler pass running meanwhile (a loaded machine)
    /// can apply retention at a time on the way, and the next is a cleanup period after that: with the hour's default, past
    /// the minutes of clock the waits below move.
    /// </summary>
    private void Configure(Arc.Native.Configuration.ArcConfig config)
    {
        config.Engine = config.Engine with { Time = _clock };
        config.ContinuousQuery = config.ContinuousQuery with { LateWindowMaxAge = TimeSpan.FromDays(7), CleanupPeriod = TimeSpan.FromMinutes(1) };
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task LateWritesIntoARunWindowAreRecomputedAndReplaceItsOutput()
    {
        // Three hours of a point a minute for three hosts.
        await WriteAsync(Enumerable.Range(0, 180).SelectMany(i => Enumerable.Range(0, 3).Select(h => $"cpu,host=h{h} v={(i * 7 % 13) + h}i {T0 + (i * Minute)}")));
        var id = await CreateAsync("cpu_10m", Aggregation, "1h", ["host"]);
        _clock.Advance(TimeSpan.FromHours(2) + TimeSpan.FromSeconds(10)); // 02:00:10: the windows 00-01 and 01-02 run
        await WaitAsync(id, q => q.GetProperty("last_processed_time").GetString() == "2025-01-01T02:00:00Z");
        Assert.Equal("36", (await _server.RowsAsync("SELECT count(*) FROM cpu_10m", "metrics"))[0][0]);

        // Late rows for 00:00-01:00 (a host it had and one it had not), in two writes: one late window, recomputed once.
        await WriteAsync([$"cpu,host=h0 v=100i {T0 + (5 * Minute) + 1}", $"cpu,host=h9 v=7i {T0 + (15 * Minute)}"]);
        await WriteAsync([$"cpu,host=h1 v=-50i {T0 + (59 * Minute) + 30_000_000_000L}"]);
        // A row for 02:00-03:00, which has not run yet, is not late.
        await WriteAsync([$"cpu,host=h2 v=1i {T0 + (150 * Minute)}"]);
        Assert.Equal(1, (await GetQueryAsync(id)).GetProperty("late_windows_pending").GetInt32());
        Assert.Equal("36", (await _server.RowsAsync("SELECT count(*) FROM cpu_10m", "metrics"))[0][0]); // not before the grace period

        _clock.Advance(TimeSpan.FromSeconds(10));
        await WaitAsync(id, q => q.GetProperty("late_windows_pending").GetInt32() == 0);

        // Every output cell equals the aggregation over all rows, late ones included; nothing twice.
        Assert.Equal(
            await _server.RowsAsync("SELECT epoch_ns(time_bucket(INTERVAL '10 minutes', time)) AS t, host, count(*), sum(v), max(v) FROM cpu " +
                                    "WHERE time < '2025-01-01T02:00:00Z' GROUP BY ALL ORDER BY t, host", "metrics"),
            await _server.RowsAsync("SELECT epoch_ns(time), host, n, total, peak FROM cpu_10m ORDER BY 1, 2", "metrics"));
        Assert.Equal("0", (await _server.RowsAsync("SELECT count(*) FROM (SELECT time, host FROM cpu_10m GROUP BY ALL HAVING count(*) > 1)", "metrics"))[0][0]);

        var executions = await ExecutionsAsync(id);
        var recompute = Assert.Single(executions, e => e.GetProperty("kind").GetString() == "recompute");
        Assert.Equal(("completed", "2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"),
            (recompute.GetProperty("status").GetString(), recompute.GetProperty("start_time").GetString(), recompute.GetProperty("end_time").GetString()));
        Assert.Equal(18, recompute.GetProperty("records_deleted").GetInt64()); // the window's six buckets of three hosts
        Assert.Equal(19, recompute.GetProperty("records_written").GetInt64()); // and h9's bucket
        Assert.Equal(2, executions.Count(e => e.GetProperty("kind").GetString() == "scheduled"));

        // The late mark is durable: a late write, a restart before the grace period passed, and the window is recomputed.
        await WriteAsync([$"cpu,host=h0 v=1000i {T0 + (70 * Minute)}"]);
        Assert.Equal(1, (await GetQueryAsync(id)).GetProperty("late_windows_pending").GetInt32());
        _server = await _server.RestartAsync(Configure);
        Assert.Equal(1, (await GetQueryAsync(id)).GetProperty("late_windows_pending").GetInt32());
        _clock.Advance(TimeSpan.FromSeconds(10));
        await WaitAsync(id, q => q.GetProperty("late_windows_pending").GetInt32() == 0);
        Assert.Equal(["1000"], (await _server.RowsAsync("SELECT peak FROM cpu_10m WHERE time = '2025-01-01T01:10:00Z' AND host = 'h0'", "metrics"))[0]);
        Assert.Equal(2, (await ExecutionsAsync(id)).Count(e => e.GetProperty("kind").GetString() == "recompute"));
    }

    [Fact]
    public async Task RetentionDaysAndDeleteSourceAfterDaysRemoveOldRowsOfCompletedWindowsOnly()
    {
        // Four days of a point every 10 minutes for two hosts.
        await WriteAsync(Enumerable.Range(0, 4 * 144).SelectMany(i => new[] { $"cpu,host=a v={i}i {T0 + (i * 10 * Minute)}", $"cpu,host=b v=1i {T0 + (i * 10 * Minute)}" }));
        var id = await CreateAsync("cpu_1h", "SELECT host, count(*) AS n, sum(v) AS total FROM cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY host",
            "1h", ["host"], retentionDays: 1, deleteSourceAfterDays: 2);

        // 3 days later: 72 windows ran (the mark is 2025-01-04T00:00); the output keeps one day, the source two days.
        _clock.Advance(TimeSpan.FromDays(3) + TimeSpan.FromSeconds(10));
        await WaitAsync(id, q => q.GetProperty("source_deleted_before").GetString() == "2025-01-02T00:00:00Z");
        await WaitForExecutionAsync(id, "retention");
        Assert.Equal("2025-01-04T00:00:00Z", (await GetQueryAsync(id)).GetProperty("last_processed_time").GetString());
        await WaitForExecutionAsync(id, "delete_source");

        // Output: the windows from 2025-01-03T01:00 (those before now − 1 day are gone), equal to the source's aggregation.
        Assert.Equal(["46", "2025-01-03T01:00:00Z"], (await _server.RowsAsync("SELECT count(*), strftime(min(time), '%Y-%m-%dT%H:%M:%SZ') FROM cpu_1h", "metrics"))[0]);
        Assert.Equal(
            await _server.RowsAsync("SELECT epoch_ns(time_bucket(INTERVAL 1 HOUR, time)) AS t, host, count(*), sum(v) FROM cpu " +
                                    "WHERE time >= '2025-01-03T01:00:00Z' AND time < '2025-01-04T00:00:00Z' GROUP BY ALL ORDER BY t, host", "metrics"),
            await _server.RowsAsync("SELECT epoch_ns(time), host, n, total FROM cpu_1h ORDER BY 1, 2", "metrics"));
        // Source: rows before 2025-01-02 (two days before now, all aggregated) are gone; every later row is there, also
        // those of the windows that have not run.
        Assert.Equal(["864", "2025-01-02T00:00:00Z"], (await _server.RowsAsync("SELECT count(*), strftime(min(time), '%Y-%m-%dT%H:%M:%SZ') FROM cpu", "metrics"))[0]);

        // A late write into a window whose source was removed is not recomputed (its output would lose the removed rows);
        // one into a window whose source is whole is.
        await WriteAsync([$"cpu,host=a v=5i {T0 + (30 * Minute)}"]);
        Assert.Equal(0, (await GetQueryAsync(id)).GetProperty("late_windows_pending").GetInt32());
        await WriteAsync([$"cpu,host=a v=5i {T0 + (((24 * 60) + 30) * Minute)}"]);
        Assert.Equal(1, (await GetQueryAsync(id)).GetProperty("late_windows_pending").GetInt32());

        // The same keys through the SDK's partial update: retention_days alone changes.
        using var response = await _server.Client.PutAsync($"{Path}/{id}", Json(w => w.WriteNumber("retention_days", 2)));
        var updated = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("query");
        Assert.Equal((2, 2), (updated.GetProperty("retention_days").GetInt32(), updated.GetProperty("delete_source_after_days").GetInt32()));
    }

    private async Task WriteAsync(IEnumerable<string> lines)
    {
        using var response = await _server.WriteAsync("/write?db=metrics", string.Join('\n', lines) + "\n");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private async Task<long> CreateAsync(string name, string query, string interval, string[] tags, int? retentionDays = null, int? deleteSourceAfterDays = null)
    {
        // The SDK's create: every property, the optional ones as null.
        var (status, body) = await ExportTestData.PostJsonAsync(_server.Client, Path, w =>
        {
            w.WriteString("name", name);
            w.WriteString("database", "metrics");
            w.WriteString("source_measurement", "cpu");
            w.WriteString("destination_measurement", name);
            w.WriteString("query", query);
            w.WriteString("interval", interval);
            w.WriteNull("description");
            WriteOptional(w, "retention_days", retentionDays);
            WriteOptional(w, "delete_source_after_days", deleteSourceAfterDays);
            w.WriteBoolean("is_active", true);
            w.WriteStartArray("tag_columns");
            foreach (var tag in tags)
            {
                w.WriteStringValue(tag);
            }

            w.WriteEndArray();
        });
        Assert.True(status == HttpStatusCode.Created, $"{status}: {body}");
        return body.GetProperty("query").GetProperty("id").GetInt64();

        static void WriteOptional(Utf8JsonWriter w, string name, int? value)
        {
            if (value is { } number)
            {
                w.WriteNumber(name, number);
            }
            else
            {
                w.WriteNull(name);
            }
        }
    }

    private async Task<JsonElement> GetQueryAsync(long id)
    {
        using var response = await _server.Client.GetAsync($"{Path}/{id}");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("query").Clone();
    }

    private async Task<List<JsonElement>> ExecutionsAsync(long id)
    {
        using var response = await _server.Client.GetAsync($"{Path}/{id}/executions?limit=1000");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("executions").EnumerateArray().Select(e => e.Clone()).ToList();
    }

    /// <summary>
    /// Waits for the scheduler to bring the query to the state <paramref name="done"/> checks.
    /// </summary>
    private async Task WaitAsync(long id, Func<JsonElement, bool> done)
    {
        JsonElement query = default;
        if (!await TickUntilAsync(async () => done(query = await GetQueryAsync(id))))
        {
            Assert.Fail("the scheduler did not get there: " + query.GetRawText());
        }
    }

    private async Task WaitForExecutionAsync(long id, string kind)
    {
        await TickUntilAsync(async () => (await ExecutionsAsync(id)).Any(e => e.GetProperty("kind").GetString() == kind));
        var execution = Assert.Single(await ExecutionsAsync(id), e => e.GetProperty("kind").GetString() == kind);
        Assert.Equal("completed", execution.GetProperty("status").GetString());
        Assert.True(execution.GetProperty("records_deleted").GetInt64() > 0);
    }

    /// <summary>
    /// Moves the clock a second (the scheduler's tick) at a time until <paramref name="done"/>: a pass still under way when
    /// the test moved the clock sleeps a tick before the next. 600 ticks 50 ms apart, then 900 more 100 ms apart for a
    /// loaded machine (about two minutes in all, 25 minutes of the fake clock: short of the next hourly window).
    /// </summary>
    private async Task<bool> TickUntilAsync(Func<Task<bool>> done)
    {
        for (var tick = 0; tick < 1500; tick++)
        {
            if (await done())
            {
                return true;
            }

            await Task.Delay(tick < 600 ? 50 : 100);
            _clock.Advance(TimeSpan.FromSeconds(1));
        }

        return await done();
    }

    private static ByteArrayContent Json(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        var content = new ByteArrayContent(stream.ToArray());
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        return content;
    }
}

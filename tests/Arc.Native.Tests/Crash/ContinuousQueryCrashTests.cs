using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests.Crash;

/// <summary>
/// Kills the server (SIGKILL) 12 times at random points while a continuous query with one-second windows runs on its
/// schedule under a steady stream of writes, some of them late (into windows that already ran, so those are recomputed:
/// their output deleted and written again). After the last restart the schedule catches up and the late windows are
/// recomputed, and then every window's output is in the destination exactly once and equals the aggregation of the source
/// run directly: no window was lost with its mark, none written twice because its mark was lost, no late row left out
/// and no replaced output left behind by a recompute cut short.
/// </summary>
[Trait("Category", "Crash")]
[LongRunning(44)]
public sealed class ContinuousQueryCrashTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const int Trials = 12;

    private const string Query =
        "SELECT time_bucket(INTERVAL '1 second', time) AS time, host, count(*) AS n, sum(v) AS total FROM src " +
        "WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2";

    private readonly CrashHarness _harness = new(new Dictionary<string, string>
    {
        ["ARC_INGEST_MAX_BUFFER_SIZE"] = "300", // output and source partly in files, partly buffered and only in the log
        ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "60000",
        ["ARC_CONTINUOUS_QUERY_GRACE_SECONDS"] = "3", // a write reaches the server well within it, even on a loaded machine
    });

    public void Dispose() => _harness.Dispose();

    [Fact]
    public async Task KillsDuringScheduledRunsLeaveEachWindowsOutputExactlyOnce()
    {
        var random = new Random(1616);
        long id = 0;
        long lastTime = 0;
        var sequence = 0;
        var late = 0;
        string? first = null;
        for (var trial = 0; trial < Trials; trial++)
        {
            await using var server = await _harness.StartAsync();
            if (trial == 0)
            {
                await WriteAsync(server.Client, $"src,host=h0 v=0i {Nanos(DateTime.UtcNow)}\n"); // the source exists: the query binds
                id = await CreateAsync(server.Client);
                first = (await GetQueryAsync(server.Client, id)).GetProperty("last_processed_time").GetString();
            }

            using var stop = new CancellationTokenSource();
            var writer = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var lines = new StringBuilder();
                    var now = Nanos(DateTime.UtcNow);
                    for (var i = 0; i < 10; i++, sequence++)
                    {
                        lines.Append(CultureInfo.InvariantCulture, $"src,host=h{sequence % 3} v={sequence % 97}i {now + i}\n");
                    }

                    if (sequence % 200 == 0)
                    {
                        // Late: 5 s old, past the grace period, so its window ran (or runs after a restart) before it came.
                        lines.Append(CultureInfo.InvariantCulture, $"src,host=h{sequence % 3} v={sequence % 89}i {now - 5_000_000_000L}\n");
                        late++;
                    }

                    Volatile.Write(ref lastTime, now + 9);
                    try
                    {
                        using var response = await server.Client.PostAsync("/write?db=cq", new StringContent(lines.ToString()));
                        if (response.StatusCode != HttpStatusCode.NoContent)
                        {
                            return;
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // killed
                    }

                    await Task.Delay(20);
                }
            });
            await Task.Delay(random.Next(300, 2500));
            server.Kill();
            await stop.CancelAsync();
            await writer;
        }

        await using var final = await _harness.StartAsync();
        // Caught up: the window of the last write ran.
        var target = Nanos(DateTime.UtcNow);
        Assert.True(target > lastTime);
        string mark = "";
        var pending = -1;
        for (var i = 0; i < 600; i++)
        {
            var query = await GetQueryAsync(final.Client, id);
            mark = query.GetProperty("last_processed_time").GetString()!;
            pending = query.GetProperty("late_windows_pending").GetInt32();
            if (Nanos(DateTime.Parse(mark, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal)) > target && pending == 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.True(Nanos(DateTime.Parse(mark, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal)) > target, $"the schedule stopped at {mark}");
        Assert.True(pending == 0, $"{pending} late windows were not recomputed");
        Assert.True(late >= 10, $"only {late} late writes");
        Assert.Equal("0", (await RowsAsync(final.Client, "SELECT count(*) FROM (SELECT time, host FROM cq.rollup GROUP BY ALL HAVING count(*) > 1)"))[0]);
        var written = await RowsAsync(final.Client, $"SELECT epoch_ns(time), host, n, total FROM cq.rollup WHERE time >= '{first}' AND time < '{mark}' ORDER BY 1, 2");
        var direct = await RowsAsync(final.Client,
            $"SELECT epoch_ns(time_bucket(INTERVAL '1 second', time)), host, count(*), CAST(sum(v) AS DOUBLE) FROM cq.src WHERE time >= '{first}' " +
            $"AND time < '{mark}' GROUP BY 1, 2 ORDER BY 1, 2");
        Assert.True(direct.Count > 20, $"only {direct.Count} windows had rows");
        Assert.Equal(direct, written);
        using (var response = await final.Client.GetAsync($"/api/v1/continuous_queries/{id}/executions?limit=1000"))
        {
            var executions = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("executions");
            Assert.Contains(executions.EnumerateArray(), e => e.GetProperty("kind").GetString() == "recompute" && e.GetProperty("status").GetString() == "completed");
            output.WriteLine($"{Trials} kills, {late} late writes, {executions.EnumerateArray().Count(e => e.GetProperty("kind").GetString() == "recompute")} " +
                             $"recomputes in the history, {direct.Count} output rows checked");
        }

        Assert.Equal(0, await final.StopAsync());
    }

    private static long Nanos(DateTime time) => (time.ToUniversalTime() - DateTime.UnixEpoch).Ticks * 100;

    private static async Task WriteAsync(HttpClient client, string lines)
    {
        using var response = await client.PostAsync("/write?db=cq", new StringContent(lines));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private static async Task<long> CreateAsync(HttpClient client)
    {
        var (status, body) = await ExportTestData.PostJsonAsync(client, "/api/v1/continuous_queries", w =>
        {
            w.WriteString("name", "rollup");
            w.WriteString("database", "cq");
            w.WriteString("source_measurement", "src");
            w.WriteString("destination_measurement", "rollup");
            w.WriteString("query", Query);
            w.WriteString("interval", "1s");
            w.WriteStartArray("tag_columns");
            w.WriteStringValue("host");
            w.WriteEndArray();
            w.WriteBoolean("is_active", true);
        });
        Assert.True(status == HttpStatusCode.Created, $"{status}: {body}");
        return body.GetProperty("query").GetProperty("id").GetInt64();
    }

    private static async Task<JsonElement> GetQueryAsync(HttpClient client, long id)
    {
        using var response = await client.GetAsync($"/api/v1/continuous_queries/{id}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("query").Clone();
    }

    /// <summary>Each row as its cells' JSON text joined by '|'.</summary>
    private static async Task<List<string>> RowsAsync(HttpClient client, string sql)
    {
        using var response = await client.PostAsync("/api/v1/query", new StringContent(TestServer.SqlBody(sql), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        return body.GetProperty("data").EnumerateArray().Select(row => string.Join('|', row.EnumerateArray().Select(v => v.GetRawText()))).ToList();
    }
}

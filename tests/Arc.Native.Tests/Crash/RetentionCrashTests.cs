using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests.Crash;

/// <summary>
/// Kills the server (SIGKILL) at random points during retention runs, 12 times, while recent rows of the same measurement
/// are written. Each run has a few hundred expired files to remove. After each restart the expired rows are all gone (the
/// run's marker was written: the start finished it) or all there (the kill came before it), never some of them back; every
/// acknowledged recent row is there exactly once; and the next run finishes the job.
/// </summary>
[Trait("Category", "Crash")]
[LongRunning(40)]
public sealed class RetentionCrashTests : IDisposable
{
    private const int Trials = 12;
    private const int OldRequests = 6;
    private const long Jan2020 = 1_577_836_800_000_000_000; // 2020-01-01T00:00Z: far past any cutoff
    private const long HourNanos = 3_600_000_000_000;

    private readonly CrashHarness _harness = new(new Dictionary<string, string>
    {
        ["ARC_INGEST_MAX_BUFFER_SIZE"] = "50", // every 100-row request is flushed whole: the expired rows are all in files
        ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "60000",
        ["ARC_RETENTION_SCHEDULE"] = "", // only the test's runs
    });

    public void Dispose() => _harness.Dispose();

    [Fact]
    public async Task KillsDuringRetentionRunsNeverBringExpiredRowsBackNorLoseKeptOnes()
    {
        var data = _harness.DataPath;
        var random = new Random(1616);
        // Recent rows of the same measurement, written while the runs are killed: every acknowledged one there exactly once.
        var kept = new AcknowledgedRows("victim", first =>
        {
            var now = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
            return string.Concat(Enumerable.Range((int)first, AcknowledgedRows.PerRequest)
                .Select(k => $"cpu,host=new seq={1_000_000_000 + k}i {now - HourNanos + k}\n"));
        }, "SELECT count({0}) FROM victim.cpu WHERE time >= '2021-01-01'");
        long old = 0;
        var acknowledged = 0;
        var interrupted = 0;
        long policy = 0;
        var seq = 0;
        for (var trial = 0; trial < Trials; trial++)
        {
            await using var server = await _harness.StartAsync();
            if (trial == 0)
            {
                policy = await CreatePolicyAsync(server.Client);
            }
            else
            {
                var left = await CountAsync(server.Client, "time < '2021-01-01'");
                Assert.True(left == 0 || left == old, $"trial {trial}: {left} expired rows after the restart (0 or {old} expected)");
                interrupted += left == 0 && old > 0 ? 1 : 0; // killed after the marker, before the answer
                await kept.AssertStoredOnceAsync(server.Client);

                // The next run finishes the job, and leaves no marker behind.
                var finished = await ExecuteAsync(server.Client, policy, dryRun: false);
                Assert.Equal(left, finished.GetProperty("deleted_count").GetInt64());
                Assert.Equal(0, await CountAsync(server.Client, "time < '2021-01-01'"));
                Assert.Empty(Directory.GetFiles(Path.Combine(data, ".retention")));
                await kept.AssertStoredOnceAsync(server.Client);
            }

            for (var request = 0; request < OldRequests; request++)
            {
                await WriteAsync(server.Client, string.Concat(Enumerable.Range(seq, 100).Select(i =>
                    $"cpu,host=old seq={i}i {Jan2020 + (i % 60 * HourNanos) + i}\n")));
                seq += 100;
            }

            old = OldRequests * 100;

            // Until every expired row is in a file the log no longer holds (the flushes run in the background).
            for (var attempt = 0; ; attempt++)
            {
                var dry = await ExecuteAsync(server.Client, policy, dryRun: true);
                if (dry.GetProperty("deleted_count").GetInt64() == old && dry.GetProperty("files_deferred").GetInt32() == 0)
                {
                    Assert.True(dry.GetProperty("files_deleted").GetInt32() >= 60);
                    break;
                }

                Assert.True(attempt < 200, $"the expired rows never all reached files: {dry}");
                await Task.Delay(50);
            }

            var writer = kept.WriteAsync(server.Client, requests: 20);
            var run = server.Client.PostAsync($"/api/v1/retention/{policy}/execute",
                new StringContent("""{"dry_run":false,"confirm":true}""", Encoding.UTF8, "application/json"));
            // Half the kills come early (during the buffer flush and the listing), half later (around the marker and the
            // deletions), so both sides of the commit point are hit whatever this machine's speed.
            // Every fourth kill instead strikes as soon as the run's marker is on disk, however long the run takes to get
            // there (a loaded machine: the test projects run at once in CI), so some kill lands after the commit point
            // however fast or slow this machine runs the removal.
            var delay = trial % 4 == 3 ? 10_000 : random.Next(0, trial % 2 == 0 ? 60 : 300);
            var markers = Path.Combine(data, ".retention");
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (waited.ElapsedMilliseconds < delay
                   && !(trial % 4 == 3 && (run.IsCompleted || (Directory.Exists(markers) && Directory.EnumerateFiles(markers, "*.json").Any()))))
            {
                await Task.Delay(1);
            }

            if (await CrashHarness.KillAndCheckAnsweredAsync(server, run))
            {
                acknowledged++;
                old = 0; // acknowledged: must be gone after the restart
            }

            await writer;
        }

        await using var final = await _harness.StartAsync();
        var remaining = await CountAsync(final.Client, "time < '2021-01-01'");
        Assert.True(remaining == 0 || remaining == old, $"{remaining} expired rows after the last restart");
        await kept.AssertStoredOnceAsync(final.Client);
        await ExecuteAsync(final.Client, policy, dryRun: false);
        Assert.Equal(0, await CountAsync(final.Client, "time < '2021-01-01'"));
        Assert.True(acknowledged < Trials, "no kill landed before a run finished");
        Assert.True(interrupted > 0, "no kill landed after a run's marker was written");
        Assert.Equal(0, await final.StopAsync());
    }

    private static async Task<long> CreatePolicyAsync(HttpClient client)
    {
        using var response = await client.PostAsync("/api/v1/retention", new StringContent(
            """{"name":"month","database":"victim","retention_days":30,"buffer_days":1,"is_active":true}""", Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetInt64();
    }

    private static async Task<JsonElement> ExecuteAsync(HttpClient client, long policy, bool dryRun)
    {
        using var response = await client.PostAsync($"/api/v1/retention/{policy}/execute", new StringContent(
            $"{{\"dry_run\":{(dryRun ? "true" : "false")},\"confirm\":true}}", Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task WriteAsync(HttpClient client, string lines)
    {
        using var response = await client.PostAsync("/write?db=victim", new StringContent(lines));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private static Task<long> CountAsync(HttpClient client, string filter) =>
        CrashHarness.ScalarAsync(client, $"SELECT count(*) FROM victim.cpu WHERE {filter}");
}

using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests.Crash;

/// <summary>
/// Kills the server (SIGKILL) while compaction jobs run, 22 times, and checks that after each restart every row exists
/// exactly once: manifests are rolled forward or back, never leaving inputs and output both, or neither.
/// </summary>
[Trait("Category", "Crash")]
[LongRunning(65)]
public sealed class CompactionCrashTests : IDisposable
{
    private const int Trials = 22;

    private readonly CrashHarness _harness = new(new Dictionary<string, string>
    {
        ["ARC_INGEST_MAX_BUFFER_SIZE"] = "20",
        ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "20",
        ["ARC_WAL_MAX_AGE_SECONDS"] = "1",
        ["ARC_COMPACTION_ENABLED"] = "false",
        ["ARC_COMPACTION_HOURLY_MIN_FILES"] = "2",
        ["ARC_COMPACTION_DAILY_MIN_FILES"] = "2",
        ["ARC_COMPACTION_DAILY_MIN_AGE_HOURS"] = "0",
        ["ARC_COMPACTION_MAX_FILES_PER_BATCH"] = "2", // many short jobs in a row, so kills land inside them
    });

    public void Dispose() => _harness.Dispose();

    [Fact]
    public async Task KillsDuringCompactionNeverLoseOrDoubleARow()
    {
        var random = new Random(5150);
        long written = 0;
        var killedDuringJobs = 0;
        for (var trial = 0; trial < Trials; trial++)
        {
            await using var server = await _harness.StartAsync();
            if (trial > 0)
            {
                // Rebuilt at startup after a kill during compaction: exactly the files on disk.
                await ManifestAssertions.MatchesDiskAsync(server.Client, _harness.DataPath, "cc", "c");
            }

            for (var request = 0; request < 12; request++)
            {
                var body = new StringBuilder();
                for (var i = 0; i < 40; i++)
                {
                    var hour = (trial + request) % 5;
                    body.Append(System.Globalization.CultureInfo.InvariantCulture,
                        $"c,host=h{i % 4} seq={written}i {1_700_000_000_000_000_000L - (hour * 3_600_000_000_000L) + written}\n");
                    written++;
                }

                using var response = await server.Client.PostAsync("/write?db=cc", new StringContent(body.ToString()));
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }

            await Task.Delay(1200); // the log rotates, so the new files may be compacted
            using (var trigger = await server.Client.PostAsync($"/api/v1/compaction/trigger?tier={(trial % 3 == 2 ? "daily" : "hourly")}", null))
            {
                Assert.Equal(HttpStatusCode.OK, trigger.StatusCode);
            }

            await Task.Delay(random.Next(20, 200));
            using (var jobs = await server.Client.GetAsync("/api/v1/compaction/jobs"))
            {
                killedDuringJobs += JsonDocument.Parse(await jobs.Content.ReadAsStringAsync()).RootElement.GetProperty("active_jobs").GetInt32() > 0 ? 1 : 0;
            }

            server.Kill();
        }

        await using var final = await _harness.StartAsync();
        using var result = await final.Client.PostAsync("/api/v1/query", new StringContent(
            "{\"sql\": \"SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM cc.c\"}", Encoding.UTF8, "application/json"));
        var text = await result.Content.ReadAsStringAsync();
        Assert.True(result.StatusCode == HttpStatusCode.OK, text);
        var row = JsonDocument.Parse(text).RootElement.GetProperty("data")[0];
        Assert.Equal(written, row[0].GetInt64());
        Assert.Equal(written, row[1].GetInt64());
        Assert.Equal(0, row[2].GetInt64());
        Assert.Equal(written - 1, row[3].GetInt64());
        Assert.True(killedDuringJobs >= 5, $"only {killedDuringJobs} of {Trials} kills hit a running compaction job");
        Assert.Equal(0, await final.StopAsync());
    }
}

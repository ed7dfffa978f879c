using System.Text.Json;

namespace Arc.Native.Tests.Crash;

/// <summary>
/// Kills the server (SIGKILL) while level merges run under concurrent writers, with a write-ahead log that never rotates
/// (every commit stays in it, so each restart's replay relies on the merged files' names), some requests spanning two
/// hours (two-part flushes, which must never be merged away), and checks after the last restart that every acknowledged
/// point is stored exactly once and nothing was invented.
/// </summary>
[Trait("Category", "Crash")]
[LongRunning(25)]
public sealed class LevelMergeCrashTests : IDisposable
{
    private const int Kills = 16;
    private const int PointsPerRequest = 30;

    private readonly CrashHarness _harness = new(new Dictionary<string, string>
    {
        ["ARC_INGEST_MAX_BUFFER_SIZE"] = "60",
        ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "20",
        ["ARC_WAL_MAX_AGE_SECONDS"] = "86400",
        ["ARC_WAL_MAX_SIZE_MB"] = "1024",
        ["ARC_COMPACTION_HOURLY_ENABLED"] = "false",
        ["ARC_COMPACTION_DAILY_ENABLED"] = "false",
        ["ARC_COMPACTION_LEVEL_MIN_FILES"] = "2", // a merge after nearly every flush, so kills land inside them
    });

    public void Dispose() => _harness.Dispose();

    [Fact]
    public async Task KillsDuringLevelMergesNeverLoseOrDoubleAnAcknowledgedPoint()
    {
        var points = new AcknowledgedPoints("lcrash", "p", writers: 3, PointsPerRequest, (w, seq) =>
        {
            var spansHours = seq / PointsPerRequest % 7 == 3; // now and then a buffer with rows of two hours
            var hour = spansHours && seq % 2 == 0 ? 3_600_000_000_000L : 0;
            return 1_700_000_000_000_000_000L - hour + (w * 100_000_000_000L) + (seq * 1_000_000L);
        });
        var random = new Random(20261204);
        var killedDuringMerges = 0;
        for (var kill = 0; kill < Kills; kill++)
        {
            await using var server = await _harness.StartAsync();
            using var stop = new CancellationTokenSource();
            var writers = points.Start(server, stop.Token);

            // Kill when a level merge is under way (or at the drawn time at the latest).
            var deadline = DateTime.UtcNow.AddMilliseconds(random.Next(300, 1500));
            while (DateTime.UtcNow < deadline)
            {
                try
                {
                    using var jobs = await server.Client.GetAsync("/api/v1/compaction/jobs");
                    var active = JsonDocument.Parse(await jobs.Content.ReadAsStringAsync()).RootElement.GetProperty("active_jobs").GetInt32();
                    if (active > 0 && random.Next(3) == 0)
                    {
                        killedDuringMerges++;
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                    break;
                }
            }

            server.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(writers);
        }

        await using var final = await _harness.StartAsync();
        await ManifestAssertions.MatchesDiskAsync(final.Client, _harness.DataPath, "lcrash", "p");
        await points.AssertStoredExactlyOnceAsync(final.Client, atLeast: Kills * PointsPerRequest);

        var files = Directory.GetFiles(Path.Combine(_harness.DataPath, "lcrash"), "*.parquet", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.Contains("_1of2_", StringComparison.Ordinal)); // two-part flushes were there, and kept
        Assert.True(killedDuringMerges >= 4, $"only {killedDuringMerges} of {Kills} kills hit a running level merge");
        Assert.Equal(0, await final.StopAsync());
    }
}

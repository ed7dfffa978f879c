using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>
/// Kills the server (SIGKILL) while level merges run under concurrent writers, with a write-ahead log that never rotates
/// (every commit stays in it, so each restart's replay relies on the merged files' names), some requests spanning two
/// hours (two-part flushes, which must never be merged away), and checks after the last restart that every acknowledged
/// point is stored exactly once and nothing was invented.
/// </summary>
[Trait("Category", "Crash")]
public sealed class LevelMergeCrashTests : IDisposable
{
    private const int Kills = 16;
    private const int Writers = 3;
    private const int PointsPerRequest = 30;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "arc-lcrash-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort cleanup.
        }
    }

    [Fact]
    public async Task KillsDuringLevelMergesNeverLoseOrDoubleAnAcknowledgedPoint()
    {
        var environment = new Dictionary<string, string>
        {
            ["ARC_STORAGE_LOCAL_PATH"] = Path.Combine(_root, "data"),
            ["ARC_INGEST_MAX_BUFFER_SIZE"] = "60",
            ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "20",
            ["ARC_WAL_MAX_AGE_SECONDS"] = "86400",
            ["ARC_WAL_MAX_SIZE_MB"] = "1024",
            ["ARC_COMPACTION_HOURLY_ENABLED"] = "false",
            ["ARC_COMPACTION_DAILY_ENABLED"] = "false",
            ["ARC_COMPACTION_LEVEL_MIN_FILES"] = "2", // a merge after nearly every flush, so kills land inside them
        };
        var acknowledged = new ConcurrentDictionary<(int Writer, long Seq), bool>();
        var attempted = new ConcurrentDictionary<(int Writer, long Seq), bool>();
        var nextSeq = new long[Writers];
        var random = new Random(20261204);
        var port = 0;
        var killedDuringMerges = 0;
        for (var kill = 0; kill < Kills; kill++)
        {
            await using var server = await ServerProcess.StartAsync(environment, port);
            port = server.Port;
            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var first = nextSeq[w];
                    nextSeq[w] += PointsPerRequest;
                    var spansHours = first / PointsPerRequest % 7 == 3; // now and then a buffer with rows of two hours
                    var body = new StringBuilder();
                    for (var seq = first; seq < first + PointsPerRequest; seq++)
                    {
                        attempted[(w, seq)] = true;
                        var hour = spansHours && seq % 2 == 0 ? 3_600_000_000_000L : 0;
                        var time = 1_700_000_000_000_000_000L - hour + (w * 100_000_000_000L) + (seq * 1_000_000L);
                        body.Append(System.Globalization.CultureInfo.InvariantCulture, $"p,writer=w{w} seq={seq}i {time}\n");
                    }

                    try
                    {
                        using var response = await server.Client.PostAsync("/write?db=lcrash", new StringContent(body.ToString()));
                        if (response.StatusCode == HttpStatusCode.NoContent)
                        {
                            for (var seq = first; seq < first + PointsPerRequest; seq++)
                            {
                                acknowledged[(w, seq)] = true;
                            }
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or System.Net.Sockets.SocketException)
                    {
                        // The kill cut the request: not acknowledged.
                    }
                }
            })).ToArray();

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

        await using var final = await ServerProcess.StartAsync(environment, port);
        await ManifestAssertions.MatchesDiskAsync(final.Client, environment["ARC_STORAGE_LOCAL_PATH"], "lcrash", "p");
        using var response = await final.Client.PostAsync("/api/v1/query", new StringContent(
            "{\"sql\": \"SELECT writer, seq, count(*) AS n FROM lcrash.p GROUP BY ALL\"}", Encoding.UTF8, "application/json"));
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        var stored = new Dictionary<(int, long), long>();
        foreach (var row in json.GetProperty("data").EnumerateArray())
        {
            stored[(int.Parse(row[0].GetString()![1..], System.Globalization.CultureInfo.InvariantCulture), row[1].GetInt64())] = row[2].GetInt64();
        }

        var lost = acknowledged.Keys.Where(k => !stored.ContainsKey(k)).ToList();
        var doubled = stored.Where(s => s.Value > 1).Select(s => s.Key).ToList();
        var invented = stored.Keys.Where(k => !attempted.ContainsKey(k)).ToList();
        Assert.True(acknowledged.Count > Kills * PointsPerRequest, $"too few acknowledged points to mean anything: {acknowledged.Count}");
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged points lost, e.g. {string.Join(", ", lost.Take(5))}");
        Assert.True(doubled.Count == 0, $"{doubled.Count} points stored twice, e.g. {string.Join(", ", doubled.Take(5))}");
        Assert.Empty(invented);

        var files = Directory.GetFiles(Path.Combine(_root, "data", "lcrash"), "*.parquet", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.Contains("_1of2_", StringComparison.Ordinal)); // two-part flushes were there, and kept
        Assert.True(killedDuringMerges >= 4, $"only {killedDuringMerges} of {Kills} kills hit a running level merge");
        Assert.Equal(0, await final.StopAsync());
    }
}

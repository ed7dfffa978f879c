using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Arc.Native.Tests;

/// <summary>
/// The durability promise, tested the hard way: a real server process with the WAL in fdatasync mode, concurrent writers
/// recording every acknowledged point, SIGKILL at random moments (many during flushes: buffers flush every 400 rows),
/// restarts, and at the end the stored data must be exactly the acknowledged points — none lost, none doubled — plus at
/// most one copy of any point whose request was cut off by a kill.
/// </summary>
[Trait("Category", "Crash")]
public sealed class CrashRecoveryTests : IDisposable
{
    private const int Kills = 24;
    private const int Writers = 4;
    private const int PointsPerRequest = 40;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "arc-crash-" + Guid.NewGuid().ToString("N"));

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
    public async Task KilledServerKeepsEveryAcknowledgedPointExactlyOnce()
    {
        var environment = new Dictionary<string, string>
        {
            ["ARC_STORAGE_LOCAL_PATH"] = Path.Combine(_root, "data"),
            ["ARC_WAL_ENABLED"] = "true",
            ["ARC_WAL_SYNC_MODE"] = "fdatasync",
            ["ARC_INGEST_MAX_BUFFER_SIZE"] = "400",
            ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "40",
            ["ARC_WAL_MAX_SIZE_MB"] = "1",
        };
        var acknowledged = new ConcurrentDictionary<(int Writer, long Seq), bool>();
        var attempted = new ConcurrentDictionary<(int Writer, long Seq), bool>();
        var nextSeq = new long[Writers];
        var random = new Random(20261126);
        var port = 0;

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
                    var body = new StringBuilder();
                    for (var seq = first; seq < first + PointsPerRequest; seq++)
                    {
                        attempted[(w, seq)] = true;
                        // Two hours apart by parity, so many flushes write two parts.
                        var time = 1_700_000_000_000_000_000L + (seq % 2 * 3_600_000_000_000L) + (w * 1_000_000_000_000L) + seq;
                        body.Append(System.Globalization.CultureInfo.InvariantCulture, $"p,writer=w{w} seq={seq}i {time}\n");
                    }

                    try
                    {
                        using var response = await server.Client.PostAsync("/write?db=crash", new StringContent(body.ToString()));
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
                        // Killed mid-request: not acknowledged. A kill right after the connect can surface as a bare
                        // SocketException ("Transport endpoint is not connected") rather than an HttpRequestException.
                    }
                }
            })).ToArray();

            await Task.Delay(random.Next(150, 700));
            server.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(writers);
        }

        await using var final = await ServerProcess.StartAsync(environment, port);
        await ManifestAssertions.MatchesDiskAsync(final.Client, environment["ARC_STORAGE_LOCAL_PATH"], "crash", "p");
        var response = await final.Client.PostAsync("/api/v1/query", new StringContent(
            "{\"sql\": \"SELECT writer, seq, count(*) AS n FROM crash.p GROUP BY ALL\"}", Encoding.UTF8, "application/json"));
        var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        var stored = new Dictionary<(int, long), long>();
        foreach (var row in json.GetProperty("data").EnumerateArray())
        {
            stored[(int.Parse(row[0].GetString()![1..], System.Globalization.CultureInfo.InvariantCulture), row[1].GetInt64())] = row[2].GetInt64();
        }

        Assert.True(acknowledged.Count > Kills * PointsPerRequest, $"too few acknowledged points to mean anything: {acknowledged.Count}");
        var lost = acknowledged.Keys.Where(k => !stored.ContainsKey(k)).ToList();
        var doubled = stored.Where(s => s.Value > 1).Select(s => s.Key).ToList();
        var invented = stored.Keys.Where(k => !attempted.ContainsKey(k)).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged points lost, e.g. {string.Join(", ", lost.Take(5))}");
        Assert.True(doubled.Count == 0, $"{doubled.Count} points stored twice, e.g. {string.Join(", ", doubled.Take(5))}");
        Assert.Empty(invented);
        Assert.Equal(0, await final.StopAsync());
    }
}

using System.Net;

namespace Arc.Native.Tests.Crash;

/// <summary>
/// Kills the server (SIGKILL) at random points during database drops, 12 times, while another database takes writes.
/// After each restart the dropped data never comes back (all of it is gone, or, when the kill came before the drop's
/// marker was written, all of it is there and the repeated drop removes it), the other database holds exactly the
/// acknowledged rows, and the name takes new rows at once.
/// </summary>
[Trait("Category", "Crash")]
[LongRunning(19)]
public sealed class DropCrashTests : IDisposable
{
    private const int Trials = 12;
    private const int VictimRows = 600;

    private readonly CrashHarness _harness = new(new Dictionary<string, string>
    {
        ["ARC_INGEST_MAX_BUFFER_SIZE"] = "50", // most victim rows in files, the last ones buffered and only in the log
        ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "60000",
        ["ARC_DELETE_ENABLED"] = "true",
    });

    public void Dispose() => _harness.Dispose();

    [Fact]
    public async Task KillsDuringDropsNeverBringDroppedRowsBackNorTouchOtherDatabases()
    {
        var data = _harness.DataPath;
        var random = new Random(1616);
        // The other database: every acknowledged row there exactly once, whatever the kills cut.
        var kept = new AcknowledgedRows("keep", first => Lines("k", (int)first, AcknowledgedRows.PerRequest), "SELECT count({0}) FROM keep.k");
        var acknowledgedDrops = 0;
        var victim = 0;
        for (var trial = 0; trial < Trials; trial++)
        {
            await using var server = await _harness.StartAsync();
            if (trial > 0)
            {
                var left = await CountAsync(server.Client, "victim.v");
                Assert.True(left == 0 || left == victim, $"trial {trial}: {left} dropped rows came back (0 or {victim} expected)");
                if (left > 0)
                {
                    await DropAsync(server.Client); // the kill came before the drop began: it is repeated and completes
                    Assert.Equal(0, await CountAsync(server.Client, "victim.v"));
                }

                await kept.AssertStoredOnceAsync(server.Client);
                Assert.Empty(Directory.GetDirectories(data, "victim"));
                Assert.All(Directory.Exists(Path.Combine(data, ".drops")) ? Directory.GetFiles(Path.Combine(data, ".drops")) : [],
                    f => Assert.Contains("\"done\":true", File.ReadAllText(f), StringComparison.Ordinal));
            }

            // The name is reused at once: only the new rows are there.
            for (var request = 0; request < VictimRows / 100; request++)
            {
                await WriteAsync(server.Client, "victim", Lines("v", request * 100, 100));
            }

            victim = VictimRows;
            Assert.Equal(victim, await CountAsync(server.Client, "victim.v"));

            var writer = kept.WriteAsync(server.Client, requests: 20);
            var drop = server.Client.DeleteAsync("/api/v1/databases/victim?confirm=true");
            await Task.Delay(random.Next(0, 40));
            if (await CrashHarness.KillAndCheckAnsweredAsync(server, drop))
            {
                acknowledgedDrops++;
                victim = 0; // acknowledged: must be gone after the restart
            }

            await writer;
        }

        await using var final = await _harness.StartAsync();
        var remaining = await CountAsync(final.Client, "victim.v");
        Assert.True(remaining == 0 || remaining == victim, $"{remaining} dropped rows came back");
        await kept.AssertStoredOnceAsync(final.Client);
        Assert.True(acknowledgedDrops < Trials, "no kill landed before a drop finished");
        Assert.Equal(0, await final.StopAsync());
    }

    private static string Lines(string measurement, int first, int count) =>
        string.Concat(Enumerable.Range(first, count).Select(i =>
            $"{measurement},host=h{i % 3} seq={i}i {1_700_000_000_000_000_000L + (i % 4 * 3_600_000_000_000L) + i}\n"));

    private static async Task WriteAsync(HttpClient client, string database, string lines)
    {
        using var response = await client.PostAsync($"/write?db={database}", new StringContent(lines));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private static async Task DropAsync(HttpClient client)
    {
        using var response = await client.DeleteAsync("/api/v1/databases/victim?confirm=true");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Rows of a measurement; 0 when it (or its database) does not exist.</summary>
    private static Task<long> CountAsync(HttpClient client, string table) => CrashHarness.ScalarAsync(client, $"SELECT count(*) FROM {table} AS t");
}

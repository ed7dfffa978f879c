using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>
/// Kills the server (SIGKILL) at random points during database drops, 12 times, while another database takes writes.
/// After each restart the dropped data never comes back (all of it is gone, or, when the kill came before the drop's
/// marker was written, all of it is there and the repeated drop removes it), the other database holds exactly the
/// acknowledged rows, and the name takes new rows at once.
/// </summary>
[Trait("Category", "Crash")]
public sealed class DropCrashTests : IDisposable
{
    private const int Trials = 12;
    private const int VictimRows = 600;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "arc-dcrash-" + Guid.NewGuid().ToString("N"));

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
    public async Task KillsDuringDropsNeverBringDroppedRowsBackNorTouchOtherDatabases()
    {
        var data = Path.Combine(_root, "data");
        var environment = new Dictionary<string, string>
        {
            ["ARC_STORAGE_LOCAL_PATH"] = data,
            ["ARC_INGEST_MAX_BUFFER_SIZE"] = "50", // most victim rows in files, the last ones buffered and only in the log
            ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "60000",
            ["ARC_DELETE_ENABLED"] = "true",
        };
        var random = new Random(1616);
        long kept = 0;
        var port = 0;
        var acknowledgedDrops = 0;
        var victim = 0;
        for (var trial = 0; trial < Trials; trial++)
        {
            await using var server = await ServerProcess.StartAsync(environment, port);
            port = server.Port;
            if (trial > 0)
            {
                var left = await CountAsync(server.Client, "victim.v");
                Assert.True(left == 0 || left == victim, $"trial {trial}: {left} dropped rows came back (0 or {victim} expected)");
                if (left > 0)
                {
                    await DropAsync(server.Client); // the kill came before the drop began: it is repeated and completes
                    Assert.Equal(0, await CountAsync(server.Client, "victim.v"));
                }

                kept = await CheckKeptAsync(server.Client, kept);
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

            var writer = Task.Run(async () =>
            {
                for (var i = 0; i < 20; i++)
                {
                    try
                    {
                        using var response = await server.Client.PostAsync("/write?db=keep", new StringContent(Lines("k", (int)kept, 10)));
                        if (response.StatusCode != HttpStatusCode.NoContent)
                        {
                            return;
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // killed: this write was not acknowledged
                    }

                    Interlocked.Add(ref kept, 10);
                }
            });
            var drop = server.Client.DeleteAsync("/api/v1/databases/victim?confirm=true");
            await Task.Delay(random.Next(0, 40));
            server.Kill();
            try
            {
                using var response = await drop;
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    acknowledgedDrops++;
                    victim = 0; // acknowledged: must be gone after the restart
                }
            }
            catch (HttpRequestException)
            {
                // Killed before the answer.
            }

            await writer;
        }

        await using var final = await ServerProcess.StartAsync(environment, port);
        var remaining = await CountAsync(final.Client, "victim.v");
        Assert.True(remaining == 0 || remaining == victim, $"{remaining} dropped rows came back");
        await CheckKeptAsync(final.Client, kept);
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

    /// <summary>
    /// The other database holds every acknowledged row once, plus at most the one request the kill cut off before its
    /// answer (stored or not); returns the rows it holds.
    /// </summary>
    private static async Task<long> CheckKeptAsync(HttpClient client, long acknowledged)
    {
        var rows = await CountAsync(client, "keep.k");
        Assert.InRange(rows, acknowledged, acknowledged + 10);
        Assert.Equal(rows, await CountAsync(client, "(SELECT DISTINCT seq FROM keep.k)"));
        return rows;
    }

    /// <summary>Rows of a measurement; 0 when it (or its database) does not exist.</summary>
    private static async Task<long> CountAsync(HttpClient client, string table)
    {
        using var result = await client.PostAsync("/api/v1/query", new StringContent(
            $"{{\"sql\": \"SELECT count(*) FROM {table} AS t\"}}", Encoding.UTF8, "application/json"));
        var text = await result.Content.ReadAsStringAsync();
        if (result.StatusCode != HttpStatusCode.OK && text.Contains("does not exist", StringComparison.Ordinal))
        {
            return 0;
        }

        Assert.True(result.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("data")[0][0].GetInt64();
    }
}

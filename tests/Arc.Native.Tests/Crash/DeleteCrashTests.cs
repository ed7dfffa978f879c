using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>
/// Kills the server (SIGKILL) at random points during row deletes, 12 times. Each trial writes rows (most flushed to
/// files, the last ones only buffered and in the write-ahead log) and deletes a third of them. After each restart the
/// trial's matching rows are all gone (the delete had written its marker: done, or finished by the start) or all there
/// (killed before: the repeated delete removes them), never some; every other row is there exactly once.
/// </summary>
[Trait("Category", "Crash")]
public sealed class DeleteCrashTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const int Trials = 12;
    private const int RowsPerTrial = 330;
    private const long T0 = 1_700_000_000_000_000_000;
    private const long Hour = 3_600_000_000_000;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "arc-delcrash-" + Guid.NewGuid().ToString("N"));

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
    public async Task KillsDuringDeletesLeaveEveryMatchingRowGoneOrTheJobFinishedAndEveryOtherRowOnce()
    {
        var data = Path.Combine(_root, "data");
        var environment = new Dictionary<string, string>
        {
            ["ARC_STORAGE_LOCAL_PATH"] = data,
            ["ARC_INGEST_MAX_BUFFER_SIZE"] = "50",
            ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "60000",
            ["ARC_DELETE_ENABLED"] = "true",
        };
        var random = new Random(1616);
        var port = 0;
        var acknowledged = 0;
        var redone = 0;
        var resumed = 0;
        for (var trial = 0; trial <= Trials; trial++)
        {
            await using var server = await ServerProcess.StartAsync(environment, port);
            port = server.Port;
            if (trial > 0)
            {
                resumed += server.Output.Count(l => l.Contains("Finished the interrupted delete", StringComparison.Ordinal));
                var previous = trial - 1;
                var left = await CountAsync(server.Client, $"trial = {previous} AND seq % 3 = 0");
                Assert.True(left == 0 || left == RowsPerTrial / 3, $"trial {previous}: {left} of {RowsPerTrial / 3} matching rows left (all or none expected)");
                if (left > 0)
                {
                    redone++;
                    await DeleteAsync(server.Client, previous); // killed before the delete's marker: repeated, it completes
                    Assert.Equal(0, await CountAsync(server.Client, $"trial = {previous} AND seq % 3 = 0"));
                }

                // Every row the deletes did not match is there exactly once.
                var kept = trial * RowsPerTrial * 2 / 3;
                Assert.Equal(kept, await CountAsync(server.Client, "true"));
                Assert.Equal(kept, await ScalarAsync(server.Client, "SELECT count(DISTINCT seq) FROM d.m"));
                Assert.Equal(0, await CountAsync(server.Client, "seq % 3 = 0"));
                Assert.Empty(Directory.Exists(Path.Combine(data, ".deletes")) ? Directory.GetFiles(Path.Combine(data, ".deletes")) : []);
            }

            if (trial == Trials)
            {
                Assert.Equal(0, await server.StopAsync());
                break;
            }

            for (var first = 0; first < RowsPerTrial; first += 110)
            {
                await WriteAsync(server.Client, trial, first, 110);
            }

            var delete = server.Client.PostAsync("/api/v1/delete", Body(trial));
            await Task.Delay(random.Next(0, 100));
            server.Kill();
            try
            {
                using var response = await delete;
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    acknowledged++;
                }
            }
            catch (HttpRequestException)
            {
                // Killed before the answer.
            }
        }

        output.WriteLine($"{Trials} kills: {acknowledged} deletes answered, {resumed} finished by the next start, {redone} repeated");
        Assert.True(acknowledged < Trials, "no kill landed before a delete finished");
        Assert.True(acknowledged + redone <= Trials);
    }

    private static async Task WriteAsync(HttpClient client, int trial, int first, int count)
    {
        var lines = string.Concat(Enumerable.Range(first, count).Select(i =>
        {
            var seq = (trial * RowsPerTrial) + i;
            return $"m,host=h{i % 5} trial={trial}i,seq={seq}i {(T0 + (i % 3 * Hour) + seq).ToString(CultureInfo.InvariantCulture)}\n";
        }));
        using var response = await client.PostAsync("/write?db=d", new StringContent(lines));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private static StringContent Body(int trial) => new(
        $"{{\"database\":\"d\",\"measurement\":\"m\",\"where\":\"trial = {trial} AND seq % 3 = 0\",\"dry_run\":false,\"confirm\":true}}",
        Encoding.UTF8, "application/json");

    private static async Task DeleteAsync(HttpClient client, int trial)
    {
        using var response = await client.PostAsync("/api/v1/delete", Body(trial));
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    private static Task<long> CountAsync(HttpClient client, string where) => ScalarAsync(client, $"SELECT count(*) FROM d.m WHERE {where}");

    private static async Task<long> ScalarAsync(HttpClient client, string sql)
    {
        using var result = await client.PostAsync("/api/v1/query", new StringContent(
            JsonSerializer.Serialize(new Dictionary<string, object> { ["sql"] = sql }, DeleteTestJson.Default.DictionaryStringObject),
            Encoding.UTF8, "application/json"));
        var text = await result.Content.ReadAsStringAsync();
        Assert.True(result.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("data")[0][0].GetInt64();
    }
}

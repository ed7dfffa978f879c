using System.Globalization;
using System.Net;
using System.Text;

namespace Arc.Native.Tests.Crash;

/// <summary>
/// Kills the server (SIGKILL) at random points during row deletes, 12 times. Each trial writes rows (most flushed to
/// files, the last ones only buffered and in the write-ahead log) and deletes a third of them. After each restart the
/// trial's matching rows are all gone (the delete had written its marker: done, or finished by the start) or all there
/// (killed before: the repeated delete removes them), never some; every other row is there exactly once.
/// </summary>
[Trait("Category", "Crash")]
[LongRunning(25)]
public sealed class DeleteCrashTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const int Trials = 12;
    private const int RowsPerTrial = 330;
    private const long T0 = 1_700_000_000_000_000_000;
    private const long Hour = 3_600_000_000_000;

    private readonly CrashHarness _harness = new(new Dictionary<string, string>
    {
        ["ARC_INGEST_MAX_BUFFER_SIZE"] = "50",
        ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "60000",
        ["ARC_DELETE_ENABLED"] = "true",
    });

    public void Dispose() => _harness.Dispose();

    [Fact]
    public async Task KillsDuringDeletesLeaveEveryMatchingRowGoneOrTheJobFinishedAndEveryOtherRowOnce()
    {
        var data = _harness.DataPath;
        var random = new Random(1616);
        var acknowledged = 0;
        var redone = 0;
        var resumed = 0;
        for (var trial = 0; trial <= Trials; trial++)
        {
            await using var server = await _harness.StartAsync();
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
                Assert.Equal(kept, await CrashHarness.ScalarAsync(server.Client, "SELECT count(DISTINCT seq) FROM d.m"));
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
            if (await CrashHarness.KillAndCheckAnsweredAsync(server, delete))
            {
                acknowledged++;
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

    private static Task<long> CountAsync(HttpClient client, string where) => CrashHarness.ScalarAsync(client, $"SELECT count(*) FROM d.m WHERE {where}");
}
